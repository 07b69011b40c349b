"""Model and data helpers for train.py."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class SignalClassifier(nn.Module):
    """A small MLP that tells three kinds of noisy signals apart."""

    def __init__(self, n_inputs=32, hidden=64, n_classes=3, dropout=0.1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_inputs, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x):
        return self.layers(x)


def make_signals(n_per_class, n_inputs=32, seed=0):
    """Sine, square and sawtooth waves with random phase and noise."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 6.28, n_inputs)
    xs, ys = [], []
    for label in range(3):
        phase = torch.rand(n_per_class, 1, generator=generator) * 6.28
        wave = torch.sin(t + phase)
        if label == 1:
            wave = torch.sign(wave)
        elif label == 2:
            wave = ((t + phase) % 6.28) / 3.14 - 1
        xs.append(wave + 0.3 * torch.randn(n_per_class, n_inputs, generator=generator))
        ys.append(torch.full((n_per_class,), label))
    return torch.cat(xs), torch.cat(ys)


def make_loaders(batch_size, seed=0):
    x, y = make_signals(200, seed=seed)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x, y = x[order], y[order]
    split = int(0.8 * len(y))
    train = DataLoader(TensorDataset(x[:split], y[:split]), batch_size=batch_size, shuffle=True)
    test = DataLoader(TensorDataset(x[split:], y[split:]), batch_size=256)
    return train, test


@torch.no_grad()
def evaluate(model, loader, loss_fn):
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        logits = model(x)
        total_loss += loss_fn(logits, y).item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        count += len(y)
    return total_loss / count, correct / count
