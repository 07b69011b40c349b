"""Gradient-boosting regression on the diabetes data bundled with scikit-learn, tracked with MLflow.

The hyperparameters are logged as run parameters; the train and test error after every few boosting stages are
logged as metrics at that step, the best stage as final metrics, the feature importances as a table artifact and
the fitted model file as an artifact. Set ADAPTBENCH_SMOKE=1 for a quick run.
"""

import os
import pickle

import mlflow
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
CONFIG = {"n_estimators": 50 if SMOKE else 500, "learning_rate": 0.05, "max_depth": 3, "subsample": 0.8,
          "test_size": 0.25, "seed": 0}
LOG_EVERY = 5


def main():
    # MLFLOW_TRACKING_URI from the environment selects the store (default: sqlite:///mlflow.db)
    mlflow.set_experiment("diabetes-gbr")
    mlflow.start_run(tags={"job_type": "train"})
    mlflow.log_params(CONFIG)
    data = load_diabetes()
    X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, test_size=CONFIG["test_size"],
                                                        random_state=CONFIG["seed"])
    model = GradientBoostingRegressor(n_estimators=CONFIG["n_estimators"], learning_rate=CONFIG["learning_rate"],
                                      max_depth=CONFIG["max_depth"], subsample=CONFIG["subsample"],
                                      random_state=CONFIG["seed"])
    model.fit(X_train, y_train)

    test_errors = []
    stages = zip(model.staged_predict(X_train), model.staged_predict(X_test))
    for stage, (train_pred, test_pred) in enumerate(stages, start=1):
        test_errors.append(mean_squared_error(y_test, test_pred))
        if stage % LOG_EVERY == 0:
            mlflow.log_metrics({"train_mse": mean_squared_error(y_train, train_pred), "test_mse": test_errors[-1]},
                               step=stage)
    best_stage = int(np.argmin(test_errors)) + 1
    mlflow.log_metrics({"best_stage": best_stage, "best_test_mse": test_errors[best_stage - 1]})
    print(f"best stage {best_stage}: test MSE {test_errors[best_stage - 1]:.1f} (final {test_errors[-1]:.1f})")

    importances = sorted(zip(data.feature_names, model.feature_importances_), key=lambda fi: -fi[1])
    mlflow.log_table({"feature": [f for f, _ in importances], "importance": [float(i) for _, i in importances]},
                     artifact_file="feature_importance.json")

    with open("gbr_model.pkl", "wb") as f:
        pickle.dump(model, f)
    mlflow.log_artifact("gbr_model.pkl", artifact_path="model")
    mlflow.end_run()


if __name__ == "__main__":
    main()
