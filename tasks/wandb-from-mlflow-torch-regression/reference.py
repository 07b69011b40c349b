"""A small PyTorch regression network on the diabetes data bundled with scikit-learn, tracked with Weights & Biases.

The hyperparameters go into the run's config, the training and validation error of every epoch into the history at
that step, the final test error into the summary and the trained weights into a model artifact. Set
ADAPTBENCH_SMOKE=1 for a quick run with fewer epochs.
"""

import os

import torch
import wandb
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
PARAMS = {"epochs": 5 if SMOKE else 200, "lr": 1e-2, "hidden": 32, "weight_decay": 1e-4, "seed": 0}


def load_data(seed):
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=seed)
    X_train, X_val, y_train, y_val = train_test_split(X_train, y_train, test_size=0.2, random_state=seed)
    scaler = StandardScaler().fit(X_train)
    mean, std = y_train.mean(), y_train.std()

    def tensors(X, y):
        return (torch.tensor(scaler.transform(X), dtype=torch.float32),
                torch.tensor((y - mean) / std, dtype=torch.float32).unsqueeze(1))

    return tensors(X_train, y_train), tensors(X_val, y_val), tensors(X_test, y_test), std


def main():
    torch.manual_seed(PARAMS["seed"])
    (X_train, y_train), (X_val, y_val), (X_test, y_test), y_std = load_data(PARAMS["seed"])
    model = nn.Sequential(nn.Linear(X_train.shape[1], PARAMS["hidden"]), nn.ReLU(), nn.Linear(PARAMS["hidden"], 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=PARAMS["lr"], weight_decay=PARAMS["weight_decay"])
    loss_fn = nn.MSELoss()

    # WANDB_MODE / WANDB_DIR from the environment decide where the run goes
    with wandb.init(project="diabetes-regression", name="mlp-baseline", tags=["mlp"], config=PARAMS) as run:
        for epoch in range(1, PARAMS["epochs"] + 1):
            model.train()
            optimizer.zero_grad()
            loss = loss_fn(model(X_train), y_train)
            loss.backward()
            optimizer.step()
            model.eval()
            with torch.no_grad():
                val_loss = loss_fn(model(X_val), y_val).item()
            run.log({"train_mse": loss.item(), "val_mse": val_loss}, step=epoch)
        with torch.no_grad():
            test_rmse = (loss_fn(model(X_test), y_test).item() ** 0.5) * y_std
        run.summary["test_rmse"] = test_rmse
        print(f"test RMSE: {test_rmse:.1f}")
        torch.save(model.state_dict(), "regressor.pt")
        artifact = wandb.Artifact("diabetes-regressor", type="model")
        artifact.add_file("regressor.pt")
        run.log_artifact(artifact)


if __name__ == "__main__":
    main()
