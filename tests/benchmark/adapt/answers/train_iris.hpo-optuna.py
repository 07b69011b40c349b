"""Train a logistic-regression classifier on the iris flowers and save it (C tuned with Optuna)."""
import argparse

import joblib
import optuna
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength (before tuning)")
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n-trials", type=int, default=8)
    args = parser.parse_args()

    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=args.test_size, random_state=args.seed)
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.25, random_state=args.seed)

    def objective(trial):
        C = trial.suggest_float("C", 1e-3, 1e2, log=True)
        candidate = LogisticRegression(C=C, max_iter=args.max_iter)
        candidate.fit(X_fit, y_fit)
        return accuracy_score(y_val, candidate.predict(X_val))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed))
    study.optimize(objective, n_trials=args.n_trials)
    print(f"best params: {study.best_params}  validation accuracy: {study.best_value:.3f}")

    clf = LogisticRegression(C=study.best_params["C"], max_iter=args.max_iter)
    clf.fit(X_train, y_train)
    accuracy = accuracy_score(y_test, clf.predict(X_test))
    print(f"test accuracy: {accuracy:.3f}")
    joblib.dump(clf, "model.joblib")


if __name__ == "__main__":
    main()
