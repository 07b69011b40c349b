"""Image classification with PyTorch Lightning, tracked with MLflow.

A small convolutional LightningModule trained on the 8x8 digits bundled with
scikit-learn (nothing is downloaded). Set ADAPTBENCH_SMOKE=1 for a quick run on
fewer samples and epochs.
"""

import argparse
import os

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import MLFlowLogger
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"


class LitClassifier(L.LightningModule):
    def __init__(self, hidden_dim: int = 64, learning_rate: float = 1e-3, num_classes: int = 10):
        super().__init__()
        self.save_hyperparameters()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 4 * 4, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, num_classes),
        )

    def forward(self, x):
        return self.head(self.features(x))

    def _shared_step(self, batch):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=1) == y).float().mean()
        return loss, acc

    def training_step(self, batch, batch_idx):
        loss, acc = self._shared_step(batch)
        self.log("train_loss", loss)
        self.log("train_acc", acc)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, acc = self._shared_step(batch)
        self.log("val_loss", loss)
        self.log("val_acc", acc)

    def test_step(self, batch, batch_idx):
        loss, acc = self._shared_step(batch)
        self.log("test_loss", loss)
        self.log("test_acc", acc)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


def make_loaders(batch_size: int, seed: int):
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.long)
    if SMOKE:
        x, y = x[:600], y[:600]
    x_tmp, x_test, y_tmp, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_tmp, y_tmp, test_size=0.2, random_state=seed, stratify=y_tmp)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=batch_size)
    test = DataLoader(TensorDataset(x_test, y_test), batch_size=batch_size)
    return train, val, test


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-epochs", type=int, default=3 if SMOKE else 20)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args()


def main(args):
    L.seed_everything(args.seed)
    train_loader, val_loader, test_loader = make_loaders(args.batch_size, args.seed)
    model = LitClassifier(hidden_dim=args.hidden_dim, learning_rate=args.learning_rate)

    # MLFlowLogger reads MLFLOW_TRACKING_URI; it logs the hyperparameters saved by the module
    # (save_hyperparameters) and every metric passed to self.log
    mlf_logger = MLFlowLogger(experiment_name="image-classifier", tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"))
    mlf_logger.log_hyperparams({"batch_size": args.batch_size, "max_epochs": args.max_epochs, "seed": args.seed})
    trainer = L.Trainer(
        max_epochs=args.max_epochs,
        accelerator="cpu",
        logger=mlf_logger,
        log_every_n_steps=5,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train_loader, val_loader)
    results = trainer.test(model, test_loader, verbose=False)
    print(f"test accuracy: {results[0]['test_acc']:.4f}")

    torch.save(model.state_dict(), "image_classifier.pt")
    return results


if __name__ == "__main__":
    main(parse_args())
