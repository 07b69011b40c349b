"""A small variational autoencoder on scikit-learn's 8x8 handwritten digits, pruned during training with NNCF.

Encoder and decoder are fully connected; the reparameterisation trick lets gradients flow
through the sampled latent code, and the loss is reconstruction error plus the KL divergence.
Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import logging
import os

import nncf
import torch
import torch.nn.functional as F
from nncf.torch.function_hook.pruning.magnitude.schedulers import (
    MultiStepMagnitudePruningScheduler,
)
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

log = logging.getLogger("vae")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
INPUT_DIM = 64


class VAE(nn.Module):
    def __init__(self, hidden=128, latent=8):
        super().__init__()
        self.fc1 = nn.Linear(INPUT_DIM, hidden)
        self.fc_mu = nn.Linear(hidden, latent)
        self.fc_logvar = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, INPUT_DIM)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc_mu(h), self.fc_logvar(h)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, INPUT_DIM))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, INPUT_DIM), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def load_data(batch_size):
    x = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
    if SMOKE:
        x = x[:600]
    dataset = TensorDataset(x)
    n_test = len(dataset) // 5
    train_set, test_set = random_split(dataset, [len(dataset) - n_test, n_test],
                                       generator=torch.Generator().manual_seed(0))
    return DataLoader(train_set, batch_size=batch_size, shuffle=True), DataLoader(test_set, batch_size=batch_size)


def train(model, loader, optimizer, epoch):
    model.train()
    total = 0.0
    for (data,) in loader:
        optimizer.zero_grad()
        recon, mu, logvar = model(data)
        loss = loss_function(recon, data, mu, logvar)
        loss.backward()
        optimizer.step()
        total += loss.item()
    avg = total / len(loader.dataset)
    log.info("epoch %d: average train loss %.4f", epoch, avg)
    return avg


def test(model, loader):
    model.eval()
    total = 0.0
    with torch.no_grad():
        for (data,) in loader:
            recon, mu, logvar = model(data)
            total += loss_function(recon, data, mu, logvar).item()
    return total / len(loader.dataset)


def main():
    parser = argparse.ArgumentParser(description="VAE on 8x8 digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3 if SMOKE else 30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save-path", default="model.pt")
    parser.add_argument("--sparsity", type=float, default=0.5, help="final share of pruned weights")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)

    train_loader, test_loader = load_data(args.batch_size)
    model = VAE()
    mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL
    model = nncf.prune(model, mode=mode, ratio=args.sparsity / 3, examples_inputs=torch.zeros(1, INPUT_DIM))
    pruning = MultiStepMagnitudePruningScheduler(
        model, mode=mode, steps={0: args.sparsity / 3, 1: 2 * args.sparsity / 3, 2: args.sparsity})
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        pruning.step()  # raise the share of masked weights epoch by epoch while training goes on
        train(model, train_loader, optimizer, epoch)
        log.info("epoch %d: pruning ratio %.2f", epoch, nncf.pruning_statistic(model).pruning_ratio)
        log.info("epoch %d: test loss %.4f", epoch, test(model, test_loader))
        # NNCF applies its masks only inside forward(): decode with a stripped copy carrying the real zeros
        plain = nncf.strip(model, do_copy=True, strip_format=nncf.StripFormat.IN_PLACE)
        with torch.no_grad():
            samples = plain.decode(torch.randn(16, plain.fc_mu.out_features))
        log.info("epoch %d: mean sample intensity %.3f", epoch, samples.mean().item())

    torch.save(model.state_dict(), args.save_path)
    log.info("saved the model to %s", args.save_path)


if __name__ == "__main__":
    main()
