"""Image classification with PyTorch Lightning, with hyperparameters tuned by Optuna.

A small convolutional LightningModule trained on the 8x8 digits bundled with scikit-learn (nothing is
downloaded). An Optuna study tunes the hidden layer size and the learning rate on the validation
split; the final model is then trained with the best parameters, tested and saved.
Set ADAPTBENCH_SMOKE=1 for a quick run on fewer samples, epochs and trials.
"""

import argparse
import os

import lightning as L
import optuna
import torch
import torch.nn.functional as F
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
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-epochs", type=int, default=3 if SMOKE else 20)
    parser.add_argument("--trial-epochs", type=int, default=1 if SMOKE else 5)
    parser.add_argument("--n-trials", type=int, default=2 if SMOKE else 3)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args()


def make_trainer(max_epochs):
    return L.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def make_objective(args, train_loader, val_loader):
    def objective(trial):
        L.seed_everything(args.seed)
        model = LitClassifier(hidden_dim=trial.suggest_int("hidden_dim", 16, 128, log=True),
                              learning_rate=trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True))
        trainer = make_trainer(args.trial_epochs)
        trainer.fit(model, train_loader, val_loader)
        return trainer.callback_metrics["val_acc"].item()

    return objective


def main(args):
    L.seed_everything(args.seed)
    train_loader, val_loader, test_loader = make_loaders(args.batch_size, args.seed)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed))
    study.optimize(make_objective(args, train_loader, val_loader), n_trials=args.n_trials)
    print(f"best params: {study.best_params}  validation accuracy: {study.best_value:.4f}")

    L.seed_everything(args.seed)
    model = LitClassifier(**study.best_params)
    trainer = make_trainer(args.max_epochs)
    trainer.fit(model, train_loader, val_loader)
    results = trainer.test(model, test_loader, verbose=False)
    print(f"test accuracy: {results[0]['test_acc']:.4f}")

    torch.save(model.state_dict(), "image_classifier.pt")
    return results


if __name__ == "__main__":
    main(parse_args())
