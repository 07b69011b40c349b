"""Train a logistic-regression classifier on the iris flowers and save it."""
import argparse

import joblib
import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    mlflow.set_experiment("train-iris")
    with mlflow.start_run():
        mlflow.log_params(vars(args))
        X, y = load_iris(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=args.test_size, random_state=args.seed)
        clf = LogisticRegression(C=args.C, max_iter=args.max_iter)
        clf.fit(X_train, y_train)
        accuracy = accuracy_score(y_test, clf.predict(X_test))
        mlflow.log_metric("test_accuracy", accuracy)
        print(f"test accuracy: {accuracy:.3f}")
        joblib.dump(clf, "model.joblib")
        mlflow.log_artifact("model.joblib")


if __name__ == "__main__":
    main()
