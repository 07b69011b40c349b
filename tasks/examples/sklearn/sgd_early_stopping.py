"""SGDClassifier with and without early stopping on the digits bundled with scikit-learn.

Set ADAPTBENCH_SMOKE=1 for a quick run on fewer digits and epochs.
"""

import os
import pickle
import time

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
