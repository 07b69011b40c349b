"""An MLPClassifier trained epoch by epoch (partial_fit) on the digits bundled with scikit-learn, tracked with MLflow.

Parameters and tags describe the run; the training loss and the validation accuracy of every epoch are logged as
metrics at that step; the final classification report is logged as a JSON artifact and the model file as an
artifact. Set ADAPTBENCH_SMOKE=1 for a quick run with fewer epochs.
"""

import os
import pickle

import mlflow
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
EPOCHS = 4 if SMOKE else 40
HIDDEN = (64,)
LEARNING_RATE = 1e-3
BATCH_SIZE = 64
SEED = 0


def main():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)
    model = MLPClassifier(hidden_layer_sizes=HIDDEN, learning_rate_init=LEARNING_RATE, batch_size=BATCH_SIZE,
                          random_state=SEED)
    classes = np.unique(y)

    mlflow.set_experiment("digits-mlp-sklearn")
    with mlflow.start_run(run_name="partial-fit"):
        mlflow.set_tags({"framework": "scikit-learn", "training": "partial_fit"})
        mlflow.log_params({"hidden_layer_sizes": HIDDEN, "learning_rate_init": LEARNING_RATE,
                           "batch_size": BATCH_SIZE, "epochs": EPOCHS, "seed": SEED})
        for epoch in range(1, EPOCHS + 1):
            model.partial_fit(X_train, y_train, classes=classes)
            accuracy = model.score(X_test, y_test)
            mlflow.log_metric("train_loss", model.loss_, step=epoch)
            mlflow.log_metric("val_accuracy", accuracy, step=epoch)
            print(f"epoch {epoch}: loss {model.loss_:.4f}, accuracy {accuracy:.3f}")
        report = classification_report(y_test, model.predict(X_test), output_dict=True)
        mlflow.log_dict(report, "classification_report.json")
        with open("mlp_model.pkl", "wb") as f:
            pickle.dump(model, f)
        mlflow.log_artifact("mlp_model.pkl")


if __name__ == "__main__":
    main()
