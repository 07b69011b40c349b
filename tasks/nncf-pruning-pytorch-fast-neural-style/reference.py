"""Fast neural style transfer: train a feed-forward image transformation network for one style, pruned during
training with NNCF.

Following Johnson et al.'s perceptual-loss recipe: a convolutional transformer network (reflection padding,
instance normalisation, residual blocks, upsampling convolutions) is trained so that its output keeps the
content features of the input image and matches the Gram matrices (style) of a style image, both measured by
a fixed "loss network". There are no pretrained VGG weights here, so the loss network is a small convolutional
network with fixed, seeded random weights (random features still carry texture statistics). Content images
are synthetic smooth colour blobs; the style image is a synthetic pattern of coloured stripes.
Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import logging
import math
import os
import time
from collections import namedtuple

import nncf
import numpy as np
import torch
import torch.nn.functional as F
from nncf.torch.function_hook.pruning.magnitude.schedulers import (
    MultiStepMagnitudePruningScheduler,
)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

log = logging.getLogger("fast_neural_style")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"


# ---------------------------------------------------------------- images


def blob_images(n, size, seed):
    """Content images in [0, 255]: a few soft coloured Gaussian blobs on a tinted background."""
    g = torch.Generator().manual_seed(seed)
    coords = torch.linspace(0, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    images = torch.rand(n, 3, 1, 1, generator=g).expand(n, 3, size, size) * 0.3
    images = images.clone()
    for _ in range(4):
        cy, cx = torch.rand(n, 1, 1, generator=g), torch.rand(n, 1, 1, generator=g)
        radius = 0.05 + 0.15 * torch.rand(n, 1, 1, generator=g)
        blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius ** 2))
        colour = torch.rand(n, 3, 1, 1, generator=g)
        images = images + colour * blob.unsqueeze(1)
    return images.clamp(0, 1) * 255


def stripe_style(size):
    """The style image: diagonal red/yellow/blue stripes with a finer checker texture, in [0, 255]."""
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    band = ((xx + yy) // 4 % 3).long()
    palette = torch.tensor([[220.0, 40, 40], [240, 200, 40], [40, 80, 200]])
    image = palette[band].permute(2, 0, 1)
    checker = ((xx // 2 + yy // 2) % 2) * 30 - 15
    return (image + checker).clamp(0, 255).unsqueeze(0)


def normalize_batch(batch):
    """[0, 255] images -> the mean/std normalisation the loss network expects."""
    mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    return (batch / 255.0 - mean) / std


def gram_matrix(y):
    b, ch, h, w = y.size()
    features = y.view(b, ch, w * h)
    return features.bmm(features.transpose(1, 2)) / (ch * h * w)


def save_ppm(path, image):
    """One (3, H, W) image in [0, 255] as a binary PPM file."""
    array = image.detach().clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    with open(path, "wb") as f:
        f.write(f"P6 {array.shape[1]} {array.shape[0]} 255\n".encode())
        f.write(np.ascontiguousarray(array).tobytes())


# ---------------------------------------------------------------- the transformer network


class ConvLayer(nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x):
        out = self.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(out)) + x


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling then a convolution (fewer checkerboard artefacts than ConvTranspose2d)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        if self.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    def __init__(self, base=16, residual_blocks=3):
        super().__init__()
        self.conv1 = ConvLayer(3, base, kernel_size=9, stride=1)
        self.in1 = nn.InstanceNorm2d(base, affine=True)
        self.conv2 = ConvLayer(base, base * 2, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(base * 2, affine=True)
        self.conv3 = ConvLayer(base * 2, base * 4, kernel_size=3, stride=2)
        self.in3 = nn.InstanceNorm2d(base * 4, affine=True)
        self.residuals = nn.ModuleList([ResidualBlock(base * 4) for _ in range(residual_blocks)])
        self.deconv1 = UpsampleConvLayer(base * 4, base * 2, kernel_size=3, stride=1, upsample=2)
        self.in4 = nn.InstanceNorm2d(base * 2, affine=True)
        self.deconv2 = UpsampleConvLayer(base * 2, base, kernel_size=3, stride=1, upsample=2)
        self.in5 = nn.InstanceNorm2d(base, affine=True)
        self.deconv3 = ConvLayer(base, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for block in self.residuals:
            y = block(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


# ---------------------------------------------------------------- the fixed loss network


LossOutputs = namedtuple("LossOutputs", ["relu1", "relu2", "relu3", "relu4"])


class LossNetwork(nn.Module):
    """A VGG-like feature extractor with fixed random weights (seeded), standing in for pretrained VGG16."""

    def __init__(self, seed=1234):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        channels = [(3, 16), (16, 32), (32, 64), (64, 64)]
        self.slices = nn.ModuleList()
        for i, (cin, cout) in enumerate(channels):
            conv = nn.Conv2d(cin, cout, kernel_size=3, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * math.sqrt(2.0 / (cin * 9)))
                conv.bias.zero_()
            layers = [nn.MaxPool2d(2)] if i > 0 else []
            self.slices.append(nn.Sequential(*layers, conv, nn.ReLU()))
        for p in self.parameters():
            p.requires_grad = False
        self.eval()

    def forward(self, x):
        outputs = []
        for block in self.slices:
            x = block(x)
            outputs.append(x)
        return LossOutputs(*outputs)


# ---------------------------------------------------------------- training


def train(args):
    torch.manual_seed(args.seed)
    content = blob_images(args.num_images, args.image_size, args.seed)
    loader = DataLoader(TensorDataset(content), batch_size=args.batch_size, shuffle=True)

    transformer = TransformerNet()
    # NNCF masks the transformer network's conv weights; the scheduler raises the pruned share epoch by epoch
    mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL
    example = torch.zeros(1, 3, args.image_size, args.image_size)
    transformer = nncf.prune(transformer, mode=mode, ratio=0.0, examples_inputs=example)
    pruning = MultiStepMagnitudePruningScheduler(
        transformer, mode=mode, steps={0: args.sparsity / 2, 1: args.sparsity})
    optimizer = torch.optim.Adam(transformer.parameters(), args.lr)
    mse_loss = nn.MSELoss()
    loss_net = LossNetwork()

    style = stripe_style(args.image_size).repeat(args.batch_size, 1, 1, 1)
    save_ppm("style.ppm", style[0])
    with torch.no_grad():
        gram_style = [gram_matrix(y) for y in loss_net(normalize_batch(style))]

    for epoch in range(args.epochs):
        transformer.train()
        pruning.step()
        log.info("epoch %d: pruning ratio %.2f", epoch + 1, nncf.pruning_statistic(transformer).pruning_ratio)
        agg_content_loss = agg_style_loss = 0.0
        count = 0
        start = time.time()
        for batch_id, (x,) in enumerate(loader):
            n_batch = len(x)
            count += n_batch
            optimizer.zero_grad()

            y = transformer(x)
            features_y = loss_net(normalize_batch(y))
            features_x = loss_net(normalize_batch(x))

            content_loss = args.content_weight * mse_loss(features_y.relu2, features_x.relu2)
            style_loss = 0.0
            for ft_y, gm_s in zip(features_y, gram_style):
                style_loss = style_loss + mse_loss(gram_matrix(ft_y), gm_s[:n_batch])
            style_loss = style_loss * args.style_weight

            total_loss = content_loss + style_loss
            total_loss.backward()
            optimizer.step()

            agg_content_loss += content_loss.item() * n_batch
            agg_style_loss += style_loss.item() * n_batch
            if (batch_id + 1) % args.log_interval == 0:
                log.info("epoch %d [%d/%d] content %.4f style %.4f total %.4f", epoch + 1, count, len(content),
                         agg_content_loss / count, agg_style_loss / count, (agg_content_loss + agg_style_loss) / count)
        log.info("epoch %d done in %.1fs: content %.4f style %.4f", epoch + 1, time.time() - start,
                 agg_content_loss / count, agg_style_loss / count)
    return transformer, content


def stylize(transformer, images):
    transformer.eval()
    with torch.no_grad():
        return transformer(images).clamp(0, 255)


def main():
    parser = argparse.ArgumentParser(description="fast neural style transfer on synthetic images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-images", type=int, default=48 if SMOKE else 2000)
    parser.add_argument("--image-size", type=int, default=32 if SMOKE else 64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--content-weight", type=float, default=1e0)
    parser.add_argument("--style-weight", type=float, default=1e4)
    parser.add_argument("--log-interval", type=int, default=2 if SMOKE else 50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--save-model", default="model.pt")
    parser.add_argument("--sparsity", type=float, default=0.5, help="final share of pruned weights")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    transformer, content = train(args)
    stylized = stylize(transformer, content[:1])
    save_ppm("content.ppm", content[0])
    save_ppm("stylized.ppm", stylized[0])
    torch.save(transformer.state_dict(), args.save_model)
    log.info("saved the trained style model to %s", args.save_model)


if __name__ == "__main__":
    main()
