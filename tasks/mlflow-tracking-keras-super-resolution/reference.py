"""Image super-resolution with an efficient sub-pixel convolutional network (ESPCN), Keras 3, tracked with MLflow.

The network sees a low-resolution image and predicts UPSCALE_FACTOR**2 channels per pixel, which a
depth-to-space ("pixel shuffle") step rearranges into an image UPSCALE_FACTOR times larger. The images
are generated (smooth blobs, stripes and edges, like luminance crops of photos), so nothing is
downloaded. Quality is reported as PSNR against the ground truth, next to a bicubic baseline.
Runs on any Keras backend (set KERAS_BACKEND, e.g. torch). Set ADAPTBENCH_SMOKE=1 for a quick run.
"""

import os

import keras
import mlflow
import numpy as np
from keras import layers, ops

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

# Hyperparameters
UPSCALE_FACTOR = 3
HR_SIZE = 24
LR_SIZE = HR_SIZE // UPSCALE_FACTOR
CHANNELS = 1
N_TRAIN = 200 if SMOKE else 4000
N_TEST = 64 if SMOKE else 400
BATCH_SIZE = 16
EPOCHS = 2 if SMOKE else 50
LEARNING_RATE = 1e-3
FILTERS = 64
SEED = 0


# ---------------------------------------------------------------- synthetic images


def synthetic_image(rng):
    """A 'natural-looking' luminance image in [0, 1]: Gaussian blobs, a stripe pattern and a step edge."""
    yy, xx = np.mgrid[0:HR_SIZE, 0:HR_SIZE] / HR_SIZE
    img = np.zeros((HR_SIZE, HR_SIZE))
    for _ in range(rng.integers(2, 5)):
        cy, cx = rng.random(2)
        sigma = rng.uniform(0.05, 0.25)
        img += rng.uniform(-1, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    angle, freq = rng.uniform(0, np.pi), rng.uniform(2, 8)
    img += 0.3 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
    edge_angle = rng.uniform(0, np.pi)
    img += 0.5 * ((xx - 0.5) * np.cos(edge_angle) + (yy - 0.5) * np.sin(edge_angle) > rng.uniform(-0.3, 0.3))
    img = (img - img.min()) / (img.max() - img.min() + 1e-8)
    return img.astype("float32")[..., np.newaxis]


def downscale(images):
    """Area downsampling by UPSCALE_FACTOR (average of each block), like resizing a photo."""
    n = images.shape[0]
    blocks = images.reshape(n, LR_SIZE, UPSCALE_FACTOR, LR_SIZE, UPSCALE_FACTOR, CHANNELS)
    return blocks.mean(axis=(2, 4))


def load_data():
    rng = np.random.default_rng(SEED)
    hr = np.stack([synthetic_image(rng) for _ in range(N_TRAIN + N_TEST)])
    lr = downscale(hr)
    return (lr[:N_TRAIN], hr[:N_TRAIN]), (lr[N_TRAIN:], hr[N_TRAIN:])


# ---------------------------------------------------------------- model


def build_model(upscale_factor=UPSCALE_FACTOR, channels=CHANNELS, filters=FILTERS):
    conv_args = {"activation": "relu", "kernel_initializer": "orthogonal", "padding": "same"}
    inputs = keras.Input(shape=(None, None, channels))
    x = layers.Conv2D(filters, 5, **conv_args)(inputs)
    x = layers.Conv2D(filters, 3, **conv_args)(x)
    x = layers.Conv2D(filters // 2, 3, **conv_args)(x)
    x = layers.Conv2D(channels * (upscale_factor**2), 3, padding="same", kernel_initializer="orthogonal")(x)
    outputs = ops.depth_to_space(x, upscale_factor)  # sub-pixel convolution
    return keras.Model(inputs, outputs, name="espcn")


def psnr(y_true, y_pred):
    mse = np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2, axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-10))))


def bicubic_upscale(lr_images):
    size = (LR_SIZE * UPSCALE_FACTOR, LR_SIZE * UPSCALE_FACTOR)
    return ops.convert_to_numpy(ops.image.resize(lr_images, size, interpolation="bicubic"))


class PSNRCallback(keras.callbacks.Callback):
    """Reports the validation PSNR at the end of each epoch."""

    def __init__(self, lr_images, hr_images):
        super().__init__()
        self.lr_images, self.hr_images = lr_images, hr_images

    def on_epoch_end(self, epoch, logs=None):
        prediction = np.clip(self.model.predict(self.lr_images, verbose=0), 0.0, 1.0)
        print(f"epoch {epoch + 1}: validation PSNR {psnr(self.hr_images, prediction):.2f} dB")


def main():
    keras.utils.set_random_seed(SEED)
    (x_train, y_train), (x_test, y_test) = load_data()
    n_val = len(x_train) // 10
    x_val, y_val, x_train, y_train = x_train[:n_val], y_train[:n_val], x_train[n_val:], y_train[n_val:]

    model = build_model()
    model.summary()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), loss="mean_squared_error")
    mlflow.set_experiment("super-resolution")
    with mlflow.start_run():
        mlflow.log_params({"upscale_factor": UPSCALE_FACTOR, "batch_size": BATCH_SIZE, "epochs": EPOCHS,
                           "learning_rate": LEARNING_RATE, "filters": FILTERS, "n_train": N_TRAIN, "seed": SEED})
        # MlflowCallback logs loss and val_loss once per epoch
        model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS, validation_data=(x_val, y_val),
                  callbacks=[PSNRCallback(x_val, y_val), mlflow.keras.MlflowCallback()], verbose=2)

        prediction = np.clip(model.predict(x_test, verbose=0), 0.0, 1.0)
        test_psnr = psnr(y_test, prediction)
        baseline_psnr = psnr(y_test, np.clip(bicubic_upscale(x_test), 0.0, 1.0))
        print(f"Test PSNR: {test_psnr:.2f} dB (bicubic baseline {baseline_psnr:.2f} dB)")
        mlflow.log_metrics({"test_psnr": test_psnr, "bicubic_psnr": baseline_psnr})

        model.save("super_resolution.keras")


if __name__ == "__main__":
    main()
