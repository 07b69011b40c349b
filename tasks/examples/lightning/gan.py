"""A generative adversarial network (GAN) with PyTorch Lightning.

A generator learns to draw 8x8 handwritten digits (the digits bundled with scikit-learn, nothing is
downloaded) while a discriminator learns to tell them from real ones. The two networks are trained
alternately with Lightning's manual optimisation. The quality of the samples is measured with a
Frechet distance between real and generated pixel statistics. Set ADAPTBENCH_SMOKE=1 for a quick run.
"""

import argparse
import os

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
IMG_SHAPE = (1, 8, 8)
IMG_SIZE = int(np.prod(IMG_SHAPE))


class Generator(nn.Module):
    def __init__(self, latent_dim: int = 32, hidden_dim: int = 128):
        super().__init__()

        def block(n_in, n_out, normalize=True):
            layers = [nn.Linear(n_in, n_out)]
            if normalize:
                layers.append(nn.BatchNorm1d(n_out, momentum=0.2))
            layers.append(nn.LeakyReLU(0.2))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, hidden_dim, normalize=False),
            *block(hidden_dim, hidden_dim * 2),
            nn.Linear(hidden_dim * 2, IMG_SIZE),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.model(z).view(z.size(0), *IMG_SHAPE)


class Discriminator(nn.Module):
    def __init__(self, hidden_dim: int = 128):
        super().__init__()
        self.model = nn.Sequential(
            nn.Flatten(),
            nn.Linear(IMG_SIZE, hidden_dim * 2),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim * 2, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, img):
        return self.model(img)


class GAN(L.LightningModule):
    def __init__(self, latent_dim: int = 32, hidden_dim: int = 128, lr: float = 2e-4,
                 b1: float = 0.5, b2: float = 0.999):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.generator = Generator(latent_dim, hidden_dim)
        self.discriminator = Discriminator(hidden_dim)
        self.register_buffer("fixed_z", torch.randn(16, latent_dim))

    def forward(self, z):
        return self.generator(z)

    @staticmethod
    def adversarial_loss(logits, real: bool):
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)

    def training_step(self, batch, batch_idx):
        imgs, _ = batch
        opt_g, opt_d = self.optimizers()
        z = torch.randn(imgs.size(0), self.hparams.latent_dim, device=self.device)

        # generator: make the discriminator call generated images real
        self.toggle_optimizer(opt_g)
        fake = self.generator(z)
        g_loss = self.adversarial_loss(self.discriminator(fake), real=True)
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        # discriminator: tell real images from (detached) generated ones
        self.toggle_optimizer(opt_d)
        real_loss = self.adversarial_loss(self.discriminator(imgs), real=True)
        fake_loss = self.adversarial_loss(self.discriminator(fake.detach()), real=False)
        d_loss = (real_loss + fake_loss) / 2
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        self.log_dict({"g_loss": g_loss, "d_loss": d_loss}, prog_bar=True)

    def configure_optimizers(self):
        betas = (self.hparams.b1, self.hparams.b2)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.hparams.lr, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.lr, betas=betas)
        return [opt_g, opt_d], []

    def on_train_epoch_end(self):
        with torch.no_grad():
            self.generator.eval()
            samples = self.generator(self.fixed_z)
            self.generator.train()
        self.log("sample_mean", samples.mean())


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to flattened real and generated images."""
    mu1, mu2 = real.mean(axis=0), fake.mean(axis=0)
    eps = 1e-6 * np.eye(real.shape[1])  # the digits' corner pixels are constant: keep the covariances regular
    s1, s2 = np.cov(real, rowvar=False) + eps, np.cov(fake, rowvar=False) + eps
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def make_data(batch_size: int, seed: int):
    digits = load_digits()
    x = torch.tensor(digits.images / 8.0 - 1.0, dtype=torch.float32).unsqueeze(1)  # scale to [-1, 1]
    y = torch.tensor(digits.target, dtype=torch.long)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    if SMOKE:
        x_train, y_train = x_train[:640], y_train[:640]
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True, drop_last=True)
    return loader, x_test


def evaluate(model: GAN, x_test: torch.Tensor, seed: int) -> float:
    generator = model.generator.eval()
    with torch.no_grad():
        z = torch.randn(len(x_test), model.hparams.latent_dim, generator=torch.Generator().manual_seed(seed))
        fake = generator(z)
    return frechet_distance(x_test.flatten(1).numpy(), fake.flatten(1).numpy())


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--b1", type=float, default=0.5)
    parser.add_argument("--b2", type=float, default=0.999)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-epochs", type=int, default=3 if SMOKE else 100)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args()


def main(args):
    L.seed_everything(args.seed)
    train_loader, x_test = make_data(args.batch_size, args.seed)
    model = GAN(latent_dim=args.latent_dim, hidden_dim=args.hidden_dim, lr=args.lr, b1=args.b1, b2=args.b2)
    trainer = L.Trainer(
        max_epochs=args.max_epochs,
        accelerator="cpu",
        log_every_n_steps=5,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train_loader)

    fid = evaluate(model, x_test, args.seed)
    print(f"pixel-space Frechet distance on the test digits: {fid:.3f}")

    torch.save({"generator": model.generator.state_dict(),
                "discriminator": model.discriminator.state_dict()}, "gan.pt")
    return fid


if __name__ == "__main__":
    main(parse_args())
