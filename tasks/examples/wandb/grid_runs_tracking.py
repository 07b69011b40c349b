"""A grid search over the regularisation of a logistic regression, one Weights & Biases run per setting.

Each value of C gets its own run in the group 'c-grid' (config: the hyperparameters) that logs the accuracy of
every cross-validation fold and puts the mean into its summary. The best C is refitted on the whole training set,
evaluated on the test set and saved. Set ADAPTBENCH_SMOKE=1 for a quick run on a smaller grid.
"""

import os
import pickle

import numpy as np
import wandb
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
C_GRID = [0.1, 1.0] if SMOKE else [0.01, 0.1, 1.0, 10.0]
N_FOLDS = 3 if SMOKE else 5
MAX_ITER = 500
SEED = 0


def make_model(C):
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=MAX_ITER))


def cross_validate(C, X, y):
    run = wandb.init(project="cancer-logreg", group="c-grid", name=f"C={C}", job_type="cv",
                     config={"C": C, "n_folds": N_FOLDS, "max_iter": MAX_ITER, "seed": SEED})
    scores = []
    folds = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=SEED)
    for fold, (fit_idx, val_idx) in enumerate(folds.split(X, y)):
        model = make_model(C).fit(X[fit_idx], y[fit_idx])
        scores.append(model.score(X[val_idx], y[val_idx]))
        run.log({"fold_accuracy": scores[-1]}, step=fold)
    run.summary["mean_accuracy"] = float(np.mean(scores))
    run.summary["std_accuracy"] = float(np.std(scores))
    run.finish()
    return float(np.mean(scores))


def main():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)
    results = {C: cross_validate(C, X_train, y_train) for C in C_GRID}
    best_C = max(results, key=results.get)
    model = make_model(best_C).fit(X_train, y_train)
    print(f"cv accuracy per C: {results}; best C={best_C}, test accuracy {model.score(X_test, y_test):.3f}")
    with open("logreg_model.pkl", "wb") as f:
        pickle.dump(model, f)


if __name__ == "__main__":
    main()
