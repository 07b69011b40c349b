"""Binary classification with PyTorch Lightning, configured by config.yaml.

    python train.py                 # uses config.yaml next to the script
    python train.py other.yaml
"""
import sys

import lightning as L
import optuna
import torch
import yaml
from sklearn.datasets import make_classification
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split


class TabularClassifier(L.LightningModule):
    def __init__(self, n_features, hidden_units, learning_rate):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(n_features, hidden_units), nn.ReLU(), nn.Linear(hidden_units, 1))
        self.loss = nn.BCEWithLogitsLoss()

    def forward(self, x):
        return self.net(x).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss(self(x), y)
        self.log("train_loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", self.loss(logits, y))
        self.log("val_acc", ((logits > 0).float() == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)


def load_config(path="config.yaml"):
    with open(path) as handle:
        return yaml.safe_load(handle)


def make_loaders(cfg):
    X, y = make_classification(n_samples=cfg["data"]["n_samples"], n_features=cfg["data"]["n_features"],
                               n_informative=6, random_state=cfg["seed"])
    dataset = TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    n_val = len(dataset) // 5
    train, val = random_split(dataset, [len(dataset) - n_val, n_val], generator=torch.Generator().manual_seed(cfg["seed"]))
    batch_size = cfg["data"]["batch_size"]
    return DataLoader(train, batch_size=batch_size, shuffle=True), DataLoader(val, batch_size=batch_size)


def make_trainer(cfg):
    return L.Trainer(max_epochs=cfg["trainer"]["max_epochs"], log_every_n_steps=5, accelerator="auto")


def make_objective(cfg, train_loader, val_loader):
    def objective(trial):
        L.seed_everything(cfg["seed"])
        model = TabularClassifier(cfg["data"]["n_features"],
                                  hidden_units=trial.suggest_int("hidden_units", 8, 64, log=True),
                                  learning_rate=trial.suggest_float("learning_rate", 1e-3, 3e-2, log=True))
        trainer = make_trainer(cfg)
        trainer.fit(model, train_loader, val_loader)
        return trainer.callback_metrics["val_acc"].item()

    return objective


def main(config_path):
    cfg = load_config(config_path)
    L.seed_everything(cfg["seed"])
    train_loader, val_loader = make_loaders(cfg)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=cfg["seed"]))
    study.optimize(make_objective(cfg, train_loader, val_loader), n_trials=3)
    print(f"best params: {study.best_params}  validation accuracy: {study.best_value:.4f}")
    L.seed_everything(cfg["seed"])
    model = TabularClassifier(cfg["data"]["n_features"], **study.best_params)
    trainer = make_trainer(cfg)
    trainer.fit(model, train_loader, val_loader)
    print({k: round(v.item(), 4) for k, v in trainer.callback_metrics.items()})
    torch.save(model.state_dict(), cfg["output"])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "config.yaml")
