"""Train the signal classifier defined in net.py.

    python train.py --epochs 10 --lr 0.003

EPOCHS in the environment changes the default number of epochs (handy on CI).
"""
import argparse
import os

import torch
import wandb
from net import SignalClassifier, evaluate, make_loaders
from torch import nn


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("EPOCHS", 8)))
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="model.pt")
    return parser.parse_args()


def train_one_epoch(model, loader, optimizer, loss_fn):
    model.train()
    running = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        running += loss.item() * len(y)
    return running / len(loader.dataset)


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    train_loader, test_loader = make_loaders(args.batch_size, args.seed)
    model = SignalClassifier(hidden=args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    run = wandb.init(project="signal-classifier", config=vars(args))
    for epoch in range(1, args.epochs + 1):
        train_loss = train_one_epoch(model, train_loader, optimizer, loss_fn)
        test_loss, test_acc = evaluate(model, test_loader, loss_fn)
        print(f"epoch {epoch}: train loss {train_loss:.4f}  test loss {test_loss:.4f}  test acc {test_acc:.3f}")
        run.log({"epoch": epoch, "train_loss": train_loss, "test_loss": test_loss, "test_acc": test_acc})
    run.summary["final_test_acc"] = test_acc
    torch.save(model.state_dict(), args.out)
    run.finish()


if __name__ == "__main__":
    main()
