"""Denoising hand-written digits with kernel PCA, compared with linear PCA; gamma and alpha tuned by Optuna.

Both models learn a low-dimensional basis from clean training digits (the 8x8 digits bundled with
scikit-learn). Gaussian noise is then added to the test digits, which are projected onto each basis and
mapped back to pixel space: the reconstruction is the denoised image. The mean squared error against the
clean test digits tells which model removes more noise. The kernel PCA model and the denoised test
digits are saved. Set ADAPTBENCH_SMOKE=1 for a quick run on fewer digits.
"""

import os
import pickle

import numpy as np
import optuna
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, KernelPCA
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

# Hyperparameters
N_TRAIN = 300 if SMOKE else 1000
N_TEST = 100 if SMOKE else 400
NOISE_STD = 0.25
PCA_COMPONENTS = 32
KPCA_COMPONENTS = 100 if SMOKE else 300
KPCA_GAMMA = 1e-2
KPCA_ALPHA = 1e-2
VAL_SIZE = 0.25
N_TRIALS = 5 if SMOKE else 20
SEED = 0


def load_data(seed=SEED):
    """Clean train digits, clean test digits and a noisy copy of the test digits, scaled to [0, 1]."""
    X, _ = load_digits(return_X_y=True)
    X = MinMaxScaler().fit_transform(X)
    X_train, X_test = train_test_split(X, train_size=N_TRAIN, test_size=N_TEST, random_state=seed)
    rng = np.random.RandomState(seed)
    X_test_noisy = X_test + NOISE_STD * rng.normal(size=X_test.shape)
    return X_train, X_test, X_test_noisy


def fit_models(X_train, gamma=KPCA_GAMMA, alpha=KPCA_ALPHA, seed=SEED):
    pca = PCA(n_components=PCA_COMPONENTS, random_state=seed)
    kernel_pca = KernelPCA(n_components=KPCA_COMPONENTS, kernel="rbf", gamma=gamma,
                           alpha=alpha, fit_inverse_transform=True, random_state=seed)
    pca.fit(X_train)
    kernel_pca.fit(X_train)
    return pca, kernel_pca


def denoise(model, X_noisy):
    """Project onto the learned basis and map back to pixel space."""
    return model.inverse_transform(model.transform(X_noisy))


def make_objective(X_train):
    """Validation: noisy copies of held-out training digits, scored by the reconstruction error."""
    X_fit, X_val = train_test_split(X_train, test_size=VAL_SIZE, random_state=SEED)
    X_val_noisy = X_val + NOISE_STD * np.random.RandomState(SEED + 1).normal(size=X_val.shape)

    def objective(trial):
        gamma = trial.suggest_float("gamma", 5e-3, 5e-2, log=True)
        alpha = trial.suggest_float("alpha", 1e-3, 1e-1, log=True)
        model = KernelPCA(n_components=min(KPCA_COMPONENTS, len(X_fit)), kernel="rbf", gamma=gamma, alpha=alpha,
                          fit_inverse_transform=True, random_state=SEED).fit(X_fit)
        return float(np.mean((X_val - denoise(model, X_val_noisy)) ** 2))

    return objective


def main():
    X_train, X_test, X_test_noisy = load_data()
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(make_objective(X_train), n_trials=N_TRIALS)
    print(f"best params: {study.best_params}  validation MSE: {study.best_value:.4f}")

    pca, kernel_pca = fit_models(X_train, gamma=study.best_params["gamma"], alpha=study.best_params["alpha"])

    noisy_mse = np.mean((X_test - X_test_noisy) ** 2)
    pca_denoised = denoise(pca, X_test_noisy)
    kpca_denoised = denoise(kernel_pca, X_test_noisy)
    pca_mse = np.mean((X_test - pca_denoised) ** 2)
    kpca_mse = np.mean((X_test - kpca_denoised) ** 2)
    print(f"MSE noisy input: {noisy_mse:.4f}")
    print(f"MSE after PCA: {pca_mse:.4f}  after kernel PCA: {kpca_mse:.4f}")

    with open("kernel_pca.pkl", "wb") as f:
        pickle.dump(kernel_pca, f)
    np.save("denoised_digits.npy", kpca_denoised)


if __name__ == "__main__":
    main()
