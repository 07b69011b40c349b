"""Decision-tree regression on a noisy sine curve, with its hyperparameters tuned by Optuna.

An Optuna study searches max_depth and min_samples_leaf on a validation split of the training data;
the final tree is then trained on the whole training set with the best parameters, evaluated on the
held-out test set and saved with its predictions. Set ADAPTBENCH_SMOKE=1 for a quick run.
"""

import os
import pickle

import numpy as np
import optuna
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeRegressor

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

# Hyperparameters
N_SAMPLES = 200 if SMOKE else 2000
NOISE = 0.1
TEST_SIZE = 0.25
VAL_SIZE = 0.25
N_TRIALS = 5 if SMOKE else 10
SEED = 0


def make_data(n_samples=N_SAMPLES, noise=NOISE, seed=SEED):
    rng = np.random.RandomState(seed)
    X = np.sort(5 * rng.rand(n_samples, 1), axis=0)
    y = np.sin(X).ravel() + noise * rng.randn(n_samples)
    return X, y


def train(X_train, y_train, max_depth, min_samples_leaf, seed=SEED):
    model = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed)
    model.fit(X_train, y_train)
    return model


def make_objective(X_train, y_train):
    X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=VAL_SIZE, random_state=SEED)

    def objective(trial):
        max_depth = trial.suggest_int("max_depth", 1, 10)
        min_samples_leaf = trial.suggest_int("min_samples_leaf", 1, 20)
        model = train(X_fit, y_fit, max_depth, min_samples_leaf)
        return mean_squared_error(y_val, model.predict(X_val))

    return objective


def main():
    X, y = make_data()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED)

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(make_objective(X_train, y_train), n_trials=N_TRIALS)
    print(f"best params: {study.best_params}  validation MSE: {study.best_value:.4f}")

    model = train(X_train, y_train, **study.best_params)
    y_pred = model.predict(X_test)
    mse = mean_squared_error(y_test, y_pred)
    r2 = r2_score(y_test, y_pred)
    print(f"test MSE: {mse:.4f}  R2: {r2:.4f}")

    with open("model.pkl", "wb") as f:
        pickle.dump(model, f)
    np.savetxt("predictions.csv", np.column_stack([X_test.ravel(), y_test, y_pred]),
               delimiter=",", header="x,y_true,y_pred", comments="")


if __name__ == "__main__":
    main()
