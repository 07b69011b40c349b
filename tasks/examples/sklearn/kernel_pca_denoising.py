"""Denoising hand-written digits with kernel PCA, compared with linear PCA.

Both models learn a low-dimensional basis from clean training digits (the 8x8 digits bundled with
scikit-learn). Gaussian noise is then added to the test digits, which are projected onto each basis and
mapped back to pixel space: the reconstruction is the denoised image. The mean squared error against the
clean test digits tells which model removes more noise. The kernel PCA model and the denoised test
digits are saved. Set ADAPTBENCH_SMOKE=1 for a quick run on fewer digits.
"""

import os
import pickle

import numpy as np
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
SEED = 0


def load_data(seed=SEED):
    """Clean train digits, clean test digits and a noisy copy of the test digits, scaled to [0, 1]."""
    X, _ = load_digits(return_X_y=True)
    X = MinMaxScaler().fit_transform(X)
    X_train, X_test = train_test_split(X, train_size=N_TRAIN, test_size=N_TEST, random_state=seed)
    rng = np.random.RandomState(seed)
    X_test_noisy = X_test + NOISE_STD * rng.normal(size=X_test.shape)
    return X_train, X_test, X_test_noisy


def fit_models(X_train, seed=SEED):
    pca = PCA(n_components=PCA_COMPONENTS, random_state=seed)
    kernel_pca = KernelPCA(n_components=KPCA_COMPONENTS, kernel="rbf", gamma=KPCA_GAMMA,
                           alpha=KPCA_ALPHA, fit_inverse_transform=True, random_state=seed)
    pca.fit(X_train)
    kernel_pca.fit(X_train)
    return pca, kernel_pca


def denoise(model, X_noisy):
    """Project onto the learned basis and map back to pixel space."""
    return model.inverse_transform(model.transform(X_noisy))


def main():
    X_train, X_test, X_test_noisy = load_data()
    pca, kernel_pca = fit_models(X_train)

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
