"""Train the signal classifier defined in net.py.

    python train.py --epochs 10 --lr 0.003

EPOCHS in the environment changes the default number of epochs (handy on CI).
"""
import argparse
import os

import torch
from net import SignalClassifier, evaluate, make_loaders
from torch import nn
from torch.nn.utils import prune


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("EPOCHS", 8)))
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="model.pt")
    return parser.parse_args()


def prunable(model):
    return [(module, "weight") for module in model.modules() if isinstance(module, nn.Linear)]


def prune_to(model, target, current):
    """Raise the global L1 sparsity from `current` to `target` (new masks compose with the old ones)."""
    if target <= current:
        return current
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured,
                              amount=1.0 - (1.0 - target) / (1.0 - current))
    return target


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
    sparsity = 0.0
    for epoch in range(1, args.epochs + 1):
        sparsity = prune_to(model, 0.5 * min(1.0, epoch / 2), sparsity)
        train_loss = train_one_epoch(model, train_loader, optimizer, loss_fn)
        test_loss, test_acc = evaluate(model, test_loader, loss_fn)
        print(f"epoch {epoch}: train loss {train_loss:.4f}  test loss {test_loss:.4f}  test acc {test_acc:.3f}")
    for module, name in prunable(model):
        prune.remove(module, name)
    torch.save(model.state_dict(), args.out)


if __name__ == "__main__":
    main()
