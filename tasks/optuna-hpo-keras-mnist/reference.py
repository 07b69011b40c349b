"""A small convnet that classifies handwritten digits (Keras 3), with hyperparameters tuned by Optuna.

Each Optuna trial builds and trains the convnet with suggested learning rate, dropout and filter
count and reports its validation accuracy; the final model is then trained with the best
parameters, evaluated on the test set and saved. Set ADAPTBENCH_SMOKE=1 for a quick run.
"""

import os

import keras
import numpy as np
import optuna
from keras import layers
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

# Hyperparameters
NUM_CLASSES = 10
INPUT_SHAPE = (8, 8, 1)
BATCH_SIZE = 64
EPOCHS = 3 if SMOKE else 15
TRIAL_EPOCHS = 1 if SMOKE else 5
N_TRIALS = 2 if SMOKE else 3
SEED = 0


def load_data():
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., np.newaxis]
    y = digits.target
    if SMOKE:
        x, y = x[:600], y[:600]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)
    return (x_train, keras.utils.to_categorical(y_train, NUM_CLASSES)), (x_test, keras.utils.to_categorical(y_test, NUM_CLASSES))


def build_model(filters, dropout, learning_rate):
    model = keras.Sequential(
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
    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  metrics=["accuracy"])
    return model


def make_objective(x_train, y_train):
    def objective(trial):
        keras.utils.set_random_seed(SEED)
        model = build_model(filters=trial.suggest_categorical("filters", [8, 16, 32]),
                            dropout=trial.suggest_float("dropout", 0.1, 0.5),
                            learning_rate=trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True))
        history = model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=TRIAL_EPOCHS,
                            validation_split=0.1, verbose=0)
        return history.history["val_accuracy"][-1]

    return objective


def main():
    keras.utils.set_random_seed(SEED)
    (x_train, y_train), (x_test, y_test) = load_data()

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(make_objective(x_train, y_train), n_trials=N_TRIALS)
    print(f"best params: {study.best_params}  validation accuracy: {study.best_value:.4f}")

    keras.utils.set_random_seed(SEED)
    model = build_model(**study.best_params)
    model.summary()
    model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS, validation_split=0.1, verbose=2)

    score = model.evaluate(x_test, y_test, verbose=0)
    print(f"Test loss: {score[0]:.4f}")
    print(f"Test accuracy: {score[1]:.4f}")

    model.save("mnist_convnet.keras")


if __name__ == "__main__":
    main()
