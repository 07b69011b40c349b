"""The input script the edit answers below are written against: a small scikit-learn training script whose
`return model` line occurs twice (in train and in main), so that ambiguous matches can be tested."""

SCRIPT = '''"""Ridge regression on a synthetic dataset, with a small grid over alpha."""

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split


def load_data(n_samples=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + rng.normal(scale=0.1, size=n_samples)
    return train_test_split(X, y, test_size=0.25, random_state=seed)


def train(X_train, y_train, alpha):
    model = Ridge(alpha=alpha)
    model.fit(X_train, y_train)
    return model


def evaluate(model, X_test, y_test):
    predictions = model.predict(X_test)
    return mean_squared_error(y_test, predictions)


def main():
    X_train, X_test, y_train, y_test = load_data()
    for alpha in (0.1, 1.0, 10.0):
        model = train(X_train, y_train, alpha)
        mse = evaluate(model, X_test, y_test)
        print(f"alpha={alpha}: mse={mse:.4f}")
    return model


if __name__ == "__main__":
    main()
'''


def line_of(code: str, text: str) -> int:
    """1-based number of the first line of `code` equal to `text`."""
    return code.splitlines().index(text) + 1
