"""Decision-tree regression on a noisy sine curve, tracked and registered with MLflow.

Fits a depth-limited regression tree to a synthetic 1-D signal, reports the
error on held-out points and saves the fitted model and its predictions.
Set ADAPTBENCH_SMOKE=1 for a quick run on fewer samples.
"""

import os
import pickle

import mlflow
import mlflow.sklearn
import numpy as np
import sklearn
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeRegressor

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

# Hyperparameters
N_SAMPLES = 200 if SMOKE else 2000
NOISE = 0.1
MAX_DEPTH = 5
MIN_SAMPLES_LEAF = 2
TEST_SIZE = 0.25
SEED = 0


def make_data(n_samples=N_SAMPLES, noise=NOISE, seed=SEED):
    rng = np.random.RandomState(seed)
    X = np.sort(5 * rng.rand(n_samples, 1), axis=0)
    y = np.sin(X).ravel() + noise * rng.randn(n_samples)
    return X, y


def train(X_train, y_train, max_depth=MAX_DEPTH, min_samples_leaf=MIN_SAMPLES_LEAF, seed=SEED):
    model = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed)
    model.fit(X_train, y_train)
    return model


def main():
    # MLFLOW_TRACKING_URI from the environment selects the store (default: sqlite:///mlflow.db)
    mlflow.set_experiment("tree-regression")
    with mlflow.start_run():
        mlflow.log_params({"n_samples": N_SAMPLES, "noise": NOISE, "max_depth": MAX_DEPTH,
                           "min_samples_leaf": MIN_SAMPLES_LEAF, "test_size": TEST_SIZE, "seed": SEED})
        X, y = make_data()
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED)
        model = train(X_train, y_train)

        y_pred = model.predict(X_test)
        mse = mean_squared_error(y_test, y_pred)
        r2 = r2_score(y_test, y_pred)
        print(f"test MSE: {mse:.4f}  R2: {r2:.4f}")
        mlflow.log_metrics({"test_mse": mse, "test_r2": r2})

        with open("model.pkl", "wb") as f:
            pickle.dump(model, f)
        np.savetxt("predictions.csv", np.column_stack([X_test.ravel(), y_test, y_pred]),
                   delimiter=",", header="x,y_true,y_pred", comments="")
        mlflow.log_artifact("predictions.csv")
        # skops (the default format) refuses sklearn.tree._tree.Tree as untrusted: use cloudpickle
        mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            input_example=X_test[:5],
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", "cloudpickle"],
            registered_model_name="tree-regressor",
        )


if __name__ == "__main__":
    main()
