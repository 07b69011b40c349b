"""A deep convolutional GAN (DCGAN) that learns to draw scikit-learn's handwritten digits, its generator pruned during
training with torch.nn.utils.prune.

The digits are upscaled to 16x16 and scaled to [-1, 1]. A generator of transposed convolutions maps
noise to images; a convolutional discriminator tells real from fake. Both train with Adam and the
binary cross-entropy of the original DCGAN recipe; a fixed noise batch shows progress epoch by epoch.
Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import logging
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, TensorDataset

log = logging.getLogger("dcgan")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
IMAGE_SIZE = 16
NC = 1  # image channels
PRUNABLE = (nn.ConvTranspose2d,)


def prunable(model):
    return [(m, "weight") for m in model.modules() if isinstance(m, PRUNABLE)]


def prune_to(model, target, current):
    """Global L1 pruning from `current` to `target` sparsity; masks compose with earlier ones."""
    if target <= current:
        return current
    amount = 1.0 - (1.0 - target) / (1.0 - current)  # share of the weights still alive
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured, amount=amount)
    return target


def load_data(batch_size, limit=None):
    images = torch.tensor(load_digits().images / 16.0, dtype=torch.float32).unsqueeze(1)
    if limit:
        images = images[:limit]
    images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    images = images.clamp(0, 1) * 2 - 1
    return DataLoader(TensorDataset(images), batch_size=batch_size, shuffle=True, drop_last=True)


def weights_init(m):
    """The DCGAN paper's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    def __init__(self, nz, ngf):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),  # -> 4x4
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),  # -> 8x8
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, NC, 4, 2, 1, bias=False),  # -> 16x16
            nn.Tanh(),
        )

    def forward(self, z):
        return self.main(z)


class Discriminator(nn.Module):
    def __init__(self, ndf):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(NC, ndf, 4, 2, 1, bias=False),  # -> 8x8
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),  # -> 4x4
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),  # -> 1x1
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1)


def save_image_grid(images, path, nrow=8):
    """Write a batch of [-1, 1] images as one binary PGM grid (no imaging library needed)."""
    images = ((images.detach().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).squeeze(1).numpy()
    n, h, w = images.shape
    rows = (n + nrow - 1) // nrow
    grid = np.zeros((rows * (h + 2), nrow * (w + 2)), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, nrow)
        grid[r * (h + 2) + 1: r * (h + 2) + 1 + h, c * (w + 2) + 1: c * (w + 2) + 1 + w] = image
    with open(path, "wb") as f:
        f.write(f"P5 {grid.shape[1]} {grid.shape[0]} 255\n".encode())
        f.write(grid.tobytes())


def train(args):
    loader = load_data(args.batch_size, limit=args.limit)
    netG = Generator(args.nz, args.ngf)
    netG.apply(weights_init)
    netD = Discriminator(args.ndf)
    netD.apply(weights_init)
    log.info("generator: %d parameters, discriminator: %d parameters",
             sum(p.numel() for p in netG.parameters()), sum(p.numel() for p in netD.parameters()))

    criterion = nn.BCELoss()
    fixed_noise = torch.randn(64, args.nz, 1, 1)
    real_label, fake_label = 1.0, 0.0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=args.lr, betas=(args.beta1, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=args.lr, betas=(args.beta1, 0.999))

    sparsity = 0.0
    for epoch in range(args.epochs):
        # ramp the generator's sparsity up over the first epochs; the masks stay on while it trains
        sparsity = prune_to(netG, args.sparsity * min(1.0, (epoch + 1) / 2), sparsity)
        log.info("epoch %d: generator target sparsity %.2f", epoch, sparsity)
        for i, (real,) in enumerate(loader):
            # (1) update D: maximise log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            b = real.size(0)
            label = torch.full((b,), real_label)
            output = netD(real)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            noise = torch.randn(b, args.nz, 1, 1)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            # (2) update G: maximise log(D(G(z)))
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for the generator cost
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()

            if i % 10 == 0:
                log.info("[%d/%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f",
                         epoch, args.epochs, i, len(loader), errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)

        with torch.no_grad():
            netG.eval()
            samples = netG(fixed_noise)
            netG.train()
        save_image_grid(samples, f"fake_samples_epoch_{epoch:03d}.pgm")
        log.info("epoch %d: sample mean %.3f, std %.3f", epoch, samples.mean().item(), samples.std().item())

    save_image_grid(next(iter(loader))[0], "real_samples.pgm")
    for module, name in prunable(netG):
        prune.remove(module, name)  # make the zeros permanent: a plain state_dict
    return netG, netD


def main():
    parser = argparse.ArgumentParser(description="DCGAN on 16x16 digits")
    parser.add_argument("--batch-size", type=int, default=32 if SMOKE else 64)
    parser.add_argument("--epochs", type=int, default=2 if SMOKE else 25)
    parser.add_argument("--limit", type=int, default=320 if SMOKE else None, help="use only the first N images")
    parser.add_argument("--nz", type=int, default=16, help="size of the latent vector")
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=999)
    parser.add_argument("--outf", default=".", help="folder for the saved networks")
    parser.add_argument("--sparsity", type=float, default=0.5, help="final share of pruned generator weights")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)

    netG, netD = train(args)
    torch.save(netG.state_dict(), os.path.join(args.outf, "netG.pt"))
    torch.save(netD.state_dict(), os.path.join(args.outf, "netD.pt"))
    log.info("saved netG.pt and netD.pt to %s", args.outf)


if __name__ == "__main__":
    main()
