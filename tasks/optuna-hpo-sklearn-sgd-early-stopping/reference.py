"""SGDClassifier with and without early stopping on the digits bundled with scikit-learn; alpha and the
early-stopping patience are tuned with Optuna on a validation split of the training digits.

Set ADAPTBENCH_SMOKE=1 for a quick run on fewer digits and epochs.
"""

import os
import pickle
import time

import optuna
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
MAX_ITER = 20 if SMOKE else 100
N_TRIALS = 5 if SMOKE else 20
VALIDATION_FRACTION = 0.2

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.25, random_state=0)


def objective(trial):
    model = SGDClassifier(alpha=trial.suggest_float("alpha", 1e-6, 1e-2, log=True), max_iter=MAX_ITER, tol=1e-4,
                          early_stopping=True, n_iter_no_change=trial.suggest_int("n_iter_no_change", 2, 10),
                          validation_fraction=VALIDATION_FRACTION, random_state=0)
    model.fit(X_fit, y_fit)
    return model.score(X_val, y_val)


study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(objective, n_trials=N_TRIALS)
print(f"best params: {study.best_params}  validation accuracy: {study.best_value:.3f}")
ALPHA, N_ITER_NO_CHANGE = study.best_params["alpha"], study.best_params["n_iter_no_change"]

for early_stopping in (False, True):
    model = SGDClassifier(alpha=ALPHA, max_iter=MAX_ITER, tol=1e-4, early_stopping=early_stopping,
                          n_iter_no_change=N_ITER_NO_CHANGE, validation_fraction=VALIDATION_FRACTION, random_state=0)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    print(f"early_stopping={early_stopping}: {model.n_iter_} epochs, {seconds:.2f} s, "
          f"train accuracy {model.score(X_train, y_train):.3f}, test accuracy {model.score(X_test, y_test):.3f}")

with open("sgd_model.pkl", "wb") as f:
    pickle.dump(model, f)
