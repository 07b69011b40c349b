"""A small convnet that classifies handwritten digits (Keras 3), tracked and registered with MLflow.

Uses the 8x8 digits bundled with scikit-learn, so nothing is downloaded.
Runs on any Keras backend (set KERAS_BACKEND, e.g. torch). Set
ADAPTBENCH_SMOKE=1 for a quick run on fewer samples and epochs.
"""

import os

import keras
import mlflow
import numpy as np
from keras import layers
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

# Hyperparameters
NUM_CLASSES = 10
INPUT_SHAPE = (8, 8, 1)
BATCH_SIZE = 64
EPOCHS = 3 if SMOKE else 15
LEARNING_RATE = 1e-3
DROPOUT = 0.3
FILTERS = 16
SEED = 0


def load_data():
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., np.newaxis]
    y = digits.target
    if SMOKE:
        x, y = x[:600], y[:600]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)
    return (x_train, keras.utils.to_categorical(y_train, NUM_CLASSES)), (x_test, keras.utils.to_categorical(y_test, NUM_CLASSES))


def build_model(filters=FILTERS, dropout=DROPOUT):
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(filters, kernel_size=(3, 3), activation="relu", padding="same"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(filters * 2, kernel_size=(3, 3), activation="relu", padding="same"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(dropout),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )


def main():
    keras.utils.set_random_seed(SEED)
    (x_train, y_train), (x_test, y_test) = load_data()
    model = build_model()
    model.summary()

    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
                  metrics=["accuracy"])
    mlflow.set_experiment("mnist-convnet")
    with mlflow.start_run():
        mlflow.log_params({"batch_size": BATCH_SIZE, "epochs": EPOCHS, "learning_rate": LEARNING_RATE,
                           "dropout": DROPOUT, "filters": FILTERS, "seed": SEED})
        # logs loss/accuracy/val_* once per epoch
        model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS, validation_split=0.1, verbose=2,
                  callbacks=[mlflow.keras.MlflowCallback()])

        score = model.evaluate(x_test, y_test, verbose=0)
        print(f"Test loss: {score[0]:.4f}")
        print(f"Test accuracy: {score[1]:.4f}")
        mlflow.log_metrics({"test_loss": score[0], "test_accuracy": score[1]})

        model.save("mnist_convnet.keras")
        # mlflow.keras.log_model(input_example=...) fails in MLflow 3.17 (it writes the example before
        # creating the model folder): pass a signature instead
        signature = mlflow.models.infer_signature(x_test[:2], model.predict(x_test[:2], verbose=0))
        mlflow.keras.log_model(
            model,
            name="model",
            signature=signature,
            pip_requirements=[f"keras=={keras.__version__}", "torch"],
            registered_model_name="digits-convnet",
        )


if __name__ == "__main__":
    main()
