"""SGDClassifier with and without early stopping on the digits bundled with scikit-learn; the early-stopped
model is registered in the MLflow model registry.

Set ADAPTBENCH_SMOKE=1 for a quick run on fewer digits and epochs.
"""

import os
import pickle
import time

import mlflow
import mlflow.sklearn
import sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
MAX_ITER = 20 if SMOKE else 100
ALPHA = 1e-4
N_ITER_NO_CHANGE = 3
VALIDATION_FRACTION = 0.2

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

mlflow.set_experiment("sgd-early-stopping")
for early_stopping in (False, True):
    with mlflow.start_run(run_name=f"early_stopping={early_stopping}"):
        mlflow.log_params({"alpha": ALPHA, "max_iter": MAX_ITER, "early_stopping": early_stopping,
                           "n_iter_no_change": N_ITER_NO_CHANGE, "validation_fraction": VALIDATION_FRACTION})
        model = SGDClassifier(alpha=ALPHA, max_iter=MAX_ITER, tol=1e-4, early_stopping=early_stopping,
                              n_iter_no_change=N_ITER_NO_CHANGE, validation_fraction=VALIDATION_FRACTION,
                              random_state=0)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        test_accuracy = model.score(X_test, y_test)
        print(f"early_stopping={early_stopping}: {model.n_iter_} epochs, {seconds:.2f} s, "
              f"train accuracy {model.score(X_train, y_train):.3f}, test accuracy {test_accuracy:.3f}")
        mlflow.log_metrics({"n_epochs": model.n_iter_, "test_accuracy": test_accuracy})
        if early_stopping:  # the model the script keeps
            mlflow.sklearn.log_model(model, name="model", input_example=X_test[:5],
                                     pip_requirements=[f"scikit-learn=={sklearn.__version__}", "skops"],
                                     registered_model_name="digits-sgd")

with open("sgd_model.pkl", "wb") as f:
    pickle.dump(model, f)
