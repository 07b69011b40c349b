"""Train a small convolutional network on scikit-learn's 8x8 handwritten digits, pruned during training
with torch.nn.utils.prune.

A compact take on the classic MNIST convnet recipe: two convolutions, max pooling,
dropout and a linear classifier, trained with Adadelta and a step learning-rate schedule.
Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import logging
import os

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, TensorDataset

log = logging.getLogger("mnist_convnet")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(torch.flatten(x, 1))
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def prunable(model):
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def prune_to(model, target, current):
    """Global L1 pruning from `current` to `target` sparsity; masks compose with earlier ones."""
    if target <= current:
        return current
    amount = 1.0 - (1.0 - target) / (1.0 - current)  # share of the weights still alive
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured, amount=amount)
    return target


def load_data(batch_size, test_batch_size):
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.long)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    if SMOKE:
        x_train, y_train = x_train[:512], y_train[:512]
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)
    test = DataLoader(TensorDataset(x_test, y_test), batch_size=test_batch_size)
    return train, test


def train(model, loader, optimizer, epoch):
    model.train()
    total = 0.0
    for batch_idx, (data, target) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(data)
        if batch_idx % 10 == 0:
            log.info("epoch %d [%d/%d] loss %.4f", epoch, batch_idx * len(data), len(loader.dataset), loss.item())
    return total / len(loader.dataset)


def evaluate(model, loader):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            output = model(data)
            loss += F.nll_loss(output, target, reduction="sum").item()
            correct += (output.argmax(dim=1) == target).sum().item()
    n = len(loader.dataset)
    return loss / n, correct / n


def main():
    parser = argparse.ArgumentParser(description="8x8 digits convnet")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2 if SMOKE else 14)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save-path", default="model.pt")
    parser.add_argument("--sparsity", type=float, default=0.5, help="final share of pruned weights")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)

    train_loader, test_loader = load_data(args.batch_size, args.test_batch_size)
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=args.gamma)
    sparsity = 0.0
    for epoch in range(1, args.epochs + 1):
        # ramp the sparsity up over the first epochs; the masks stay on while the optimizer trains
        sparsity = prune_to(model, args.sparsity * min(1.0, epoch / 2), sparsity)
        log.info("epoch %d: target sparsity %.2f", epoch, sparsity)
        train_loss = train(model, train_loader, optimizer, epoch)
        test_loss, accuracy = evaluate(model, test_loader)
        log.info("epoch %d: train loss %.4f, test loss %.4f, accuracy %.3f", epoch, train_loss, test_loss, accuracy)
        scheduler.step()

    for module, name in prunable(model):
        prune.remove(module, name)  # make the zeros permanent: a plain state_dict
    torch.save(model.state_dict(), args.save_path)
    log.info("saved the model to %s", args.save_path)


if __name__ == "__main__":
    main()
