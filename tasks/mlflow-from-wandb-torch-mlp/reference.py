"""A small PyTorch MLP classifying the 8x8 digits bundled with scikit-learn, tracked with MLflow.

The hyperparameters are logged as run parameters; every epoch logs the training loss and the validation loss
and accuracy at that step; the test accuracy is a final metric; the trained weights are saved and logged as an
artifact. Set ADAPTBENCH_SMOKE=1 for a quick run with fewer epochs.
"""

import os
from types import SimpleNamespace

import mlflow
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
CONFIG = {"epochs": 3 if SMOKE else 30, "batch_size": 64, "lr": 1e-3, "hidden": 64, "dropout": 0.1, "seed": 0}


def make_loaders(batch_size, seed):
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, random_state=seed, stratify=y_rest)
    train = DataLoader(TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True)
    return train, DataLoader(TensorDataset(X_val, y_val), batch_size=256), DataLoader(TensorDataset(X_test, y_test), batch_size=256)


def evaluate(model, loader, loss_fn):
    model.eval()
    loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            logits = model(x)
            loss += loss_fn(logits, y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
    return loss / count, correct / count


def main():
    # MLFLOW_TRACKING_URI from the environment selects the store (default: sqlite:///mlflow.db)
    mlflow.set_experiment("digits-mlp")
    mlflow.start_run()
    mlflow.log_params(CONFIG)
    config = SimpleNamespace(**CONFIG)  # attribute access, as wandb's run.config gave
    torch.manual_seed(config.seed)
    train_loader, val_loader, test_loader = make_loaders(config.batch_size, config.seed)
    model = nn.Sequential(nn.Linear(64, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
                          nn.Linear(config.hidden, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(1, config.epochs + 1):
        model.train()
        total = 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
        val_loss, val_accuracy = evaluate(model, val_loader, loss_fn)
        mlflow.log_metrics({"epoch": epoch, "train_loss": total / len(train_loader.dataset), "val_loss": val_loss,
                            "val_accuracy": val_accuracy}, step=epoch)
        print(f"epoch {epoch}: val loss {val_loss:.4f}, val accuracy {val_accuracy:.3f}")

    _, test_accuracy = evaluate(model, test_loader, loss_fn)
    mlflow.log_metric("test_accuracy", test_accuracy)
    print(f"test accuracy {test_accuracy:.3f}")
    torch.save(model.state_dict(), "digits_mlp.pt")
    mlflow.log_artifact("digits_mlp.pt", artifact_path="model")
    mlflow.end_run()


if __name__ == "__main__":
    main()
