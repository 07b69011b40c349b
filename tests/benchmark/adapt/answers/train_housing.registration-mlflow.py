"""House price regression from a CSV export, logged and registered with MLflow.

Reads data/housing.csv (one row per sale), fits a gradient-boosting regressor and writes the test metrics
and the predictions next to the script. Settings live in CONFIG below.
"""
import json
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

CONFIG = {
    "data_path": "data/housing.csv",
    "target": "price_k",
    "test_size": 0.2,
    "random_state": 0,
    "model": {"n_estimators": 60, "learning_rate": 0.1, "max_depth": 3, "subsample": 0.9},
}


def load_data(cfg):
    frame = pd.read_csv(cfg["data_path"])
    features = frame.drop(columns=[cfg["target"]])
    return train_test_split(features, frame[cfg["target"]], test_size=cfg["test_size"],
                            random_state=cfg["random_state"])


def train(cfg, X_train, y_train):
    model = GradientBoostingRegressor(random_state=cfg["random_state"], **cfg["model"])
    model.fit(X_train, y_train)
    return model


def evaluate(model, X_test, y_test):
    predictions = model.predict(X_test)
    return predictions, {"mae": mean_absolute_error(y_test, predictions), "r2": r2_score(y_test, predictions)}


if __name__ == "__main__":
    mlflow.set_experiment("train-housing")
    with mlflow.start_run():
        mlflow.log_params({"test_size": CONFIG["test_size"], **CONFIG["model"]})
        X_train, X_test, y_train, y_test = load_data(CONFIG)
        model = train(CONFIG, X_train, y_train)
        predictions, metrics = evaluate(model, X_test, y_test)
        mlflow.log_metrics(metrics)
        print(f"MAE {metrics['mae']:.2f} k, R2 {metrics['r2']:.3f}")
        Path("metrics.json").write_text(json.dumps(metrics, indent=2))
        X_test.assign(predicted_price_k=predictions).to_csv("predictions.csv", index=False)
        # gradient boosting holds trees, which MLflow's default (skops) format refuses: use cloudpickle
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X_train, model.predict(X_train)),
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn", "pandas"],
            registered_model_name="train-housing",
        )
