"""A Siamese network that decides whether two handwritten digits show the same number, pruned during
training with torch.nn.utils.prune.

Pairs are drawn from scikit-learn's 8x8 digits: half of them share a class (target 1), half do not (target 0).
Both images go through the same convolutional tower; the two embeddings are concatenated and a small head
outputs the probability that they match, trained with binary cross entropy, Adadelta and a step schedule.
Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import logging
import os
import random

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, Dataset

log = logging.getLogger("siamese_network")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
PRUNABLE = (nn.Conv2d, nn.Linear)


def prunable(model):
    return [(m, "weight") for m in model.modules() if isinstance(m, PRUNABLE)]


def prune_to(model, target, current):
    """Global L1 pruning from `current` to `target` sparsity; masks compose with earlier ones."""
    if target <= current:
        return current
    amount = 1.0 - (1.0 - target) / (1.0 - current)  # share of the weights still alive
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured, amount=amount)
    return target


class SiameseNetwork(nn.Module):
    def __init__(self, embedding_dim=64):
        super().__init__()
        self.tower = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, embedding_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            nn.Linear(embedding_dim * 2, 128),
            nn.ReLU(inplace=True),
            nn.Linear(128, 1),
        )
        self.sigmoid = nn.Sigmoid()

    def forward_once(self, x):
        return self.tower(x)

    def forward(self, input1, input2):
        features = torch.cat([self.forward_once(input1), self.forward_once(input2)], dim=1)
        return self.sigmoid(self.head(features))


class DigitPairs(Dataset):
    """Each item: (image, image, 1.0 if same class else 0.0); even indices are positive pairs."""

    def __init__(self, images, labels, size, seed):
        self.images, self.labels = images, labels
        self.by_class = {int(c): torch.nonzero(labels == c).flatten().tolist() for c in labels.unique()}
        rng = random.Random(seed)
        classes = sorted(self.by_class)
        self.pairs = []
        for i in range(size):
            c1 = rng.choice(classes)
            c2 = c1 if i % 2 == 0 else rng.choice([c for c in classes if c != c1])
            self.pairs.append((rng.choice(self.by_class[c1]), rng.choice(self.by_class[c2]), float(c1 == c2)))

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        a, b, target = self.pairs[index]
        return self.images[a], self.images[b], torch.tensor(target)


def load_data(args):
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    x = (x - 0.3) / 0.4
    y = torch.tensor(digits.target, dtype=torch.long)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    train_set = DigitPairs(x_train, y_train, args.train_pairs, seed=args.seed)
    test_set = DigitPairs(x_test, y_test, args.test_pairs, seed=args.seed + 1)
    return (DataLoader(train_set, batch_size=args.batch_size, shuffle=True),
            DataLoader(test_set, batch_size=args.test_batch_size))


def train(model, loader, optimizer, criterion, epoch, log_interval):
    model.train()
    total = 0.0
    for batch_idx, (images_1, images_2, targets) in enumerate(loader):
        optimizer.zero_grad()
        outputs = model(images_1, images_2).squeeze(1)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(targets)
        if batch_idx % log_interval == 0:
            log.info("train epoch %d [%d/%d] loss %.6f", epoch, batch_idx * len(targets), len(loader.dataset),
                     loss.item())
    return total / len(loader.dataset)


def test(model, loader, criterion):
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for images_1, images_2, targets in loader:
            outputs = model(images_1, images_2).squeeze(1)
            test_loss += criterion(outputs, targets).item() * len(targets)
            correct += ((outputs > 0.5).float() == targets).sum().item()
    n = len(loader.dataset)
    log.info("test set: average loss %.4f, accuracy %d/%d (%.1f%%)", test_loss / n, correct, n, 100.0 * correct / n)
    return test_loss / n, correct / n


def main():
    parser = argparse.ArgumentParser(description="Siamese network on digit pairs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-batch-size", type=int, default=256)
    parser.add_argument("--train-pairs", type=int, default=512 if SMOKE else 8000)
    parser.add_argument("--test-pairs", type=int, default=256 if SMOKE else 2000)
    parser.add_argument("--epochs", type=int, default=2 if SMOKE else 14)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7)
    parser.add_argument("--log-interval", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save-path", default="model.pt")
    parser.add_argument("--sparsity", type=float, default=0.5, help="final share of pruned weights")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)

    train_loader, test_loader = load_data(args)
    model = SiameseNetwork()
    criterion = nn.BCELoss()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=args.gamma)
    sparsity = 0.0
    for epoch in range(1, args.epochs + 1):
        # ramp the sparsity up over the first epochs; the masks stay on while the optimizer trains
        sparsity = prune_to(model, args.sparsity * min(1.0, epoch / 2), sparsity)
        log.info("epoch %d: target sparsity %.2f", epoch, sparsity)
        train_loss = train(model, train_loader, optimizer, criterion, epoch, args.log_interval)
        test_loss, test_acc = test(model, test_loader, criterion)
        log.info("epoch %d: train loss %.4f, test loss %.4f, test accuracy %.3f", epoch, train_loss, test_loss,
                 test_acc)
        scheduler.step()

    for module, name in prunable(model):
        prune.remove(module, name)  # make the zeros permanent: a plain state_dict
    torch.save(model.state_dict(), args.save_path)
    log.info("saved the model to %s", args.save_path)


if __name__ == "__main__":
    main()
