"""Gradient-boosting regression on the diabetes data bundled with scikit-learn, tracked with Weights & Biases.

The hyperparameters go into the run's config; the train and test error after every few boosting stages are
logged as history, the best stage goes into the run summary, the feature importances are logged as a table and
the fitted model is saved and logged as a model artifact. Set ADAPTBENCH_SMOKE=1 for a quick run.
"""

import os
import pickle

import numpy as np
import wandb
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
CONFIG = {"n_estimators": 50 if SMOKE else 500, "learning_rate": 0.05, "max_depth": 3, "subsample": 0.8,
          "test_size": 0.25, "seed": 0}
LOG_EVERY = 5


def main():
    run = wandb.init(project="diabetes-gbr", job_type="train", config=CONFIG)
    config = run.config
    data = load_diabetes()
    X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, test_size=config.test_size,
                                                        random_state=config.seed)
    model = GradientBoostingRegressor(n_estimators=config.n_estimators, learning_rate=config.learning_rate,
                                      max_depth=config.max_depth, subsample=config.subsample,
                                      random_state=config.seed)
    model.fit(X_train, y_train)

    test_errors = []
    stages = zip(model.staged_predict(X_train), model.staged_predict(X_test))
    for stage, (train_pred, test_pred) in enumerate(stages, start=1):
        test_errors.append(mean_squared_error(y_test, test_pred))
        if stage % LOG_EVERY == 0:
            run.log({"train_mse": mean_squared_error(y_train, train_pred), "test_mse": test_errors[-1]}, step=stage)
    best_stage = int(np.argmin(test_errors)) + 1
    run.summary["best_stage"] = best_stage
    run.summary["best_test_mse"] = test_errors[best_stage - 1]
    print(f"best stage {best_stage}: test MSE {test_errors[best_stage - 1]:.1f} (final {test_errors[-1]:.1f})")

    importances = sorted(zip(data.feature_names, model.feature_importances_), key=lambda fi: -fi[1])
    run.log({"feature_importance": wandb.Table(columns=["feature", "importance"], data=importances)})

    with open("gbr_model.pkl", "wb") as f:
        pickle.dump(model, f)
    artifact = wandb.Artifact("diabetes-gbr", type="model", metadata={"best_stage": best_stage})
    artifact.add_file("gbr_model.pkl")
    run.log_artifact(artifact)
    run.finish()


if __name__ == "__main__":
    main()
