"""ImageNet-style training of a small ResNet on synthetic images, tracked with Weights & Biases.

The recipe of the classic ImageNet training script, scaled down: residual basic blocks, SGD with momentum
and weight decay, a step learning-rate schedule, separate train/validate functions with running meters,
top-1/top-5 accuracy and a checkpoint of the best model. The images are synthetic: every class is an
oriented colour grating, drawn with random phase, contrast and noise.
Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import logging
import math
import os
import shutil
import time

import torch
import wandb
from torch import nn
from torch.utils.data import DataLoader, Dataset

log = logging.getLogger("resnet_training")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"


# ---------------------------------------------------------------- data


class GratingImages(Dataset):
    """`size` RGB images of `num_classes` oriented gratings; the same seed gives the same images."""

    def __init__(self, size, num_classes=10, image_size=32, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, num_classes, (size,), generator=g)
        angles = self.labels.float() * math.pi / num_classes
        freq = 2.0 + (self.labels % 3).float()
        phase = torch.rand(size, generator=g) * 2 * math.pi
        coords = torch.linspace(-1, 1, image_size)
        yy, xx = torch.meshgrid(coords, coords, indexing="ij")
        proj = torch.cos(angles)[:, None, None] * xx + torch.sin(angles)[:, None, None] * yy
        wave = torch.sin(math.pi * freq[:, None, None] * proj + phase[:, None, None])
        colour = torch.stack([torch.cos(angles), torch.sin(angles), 0.5 * torch.ones_like(angles)], dim=1)
        contrast = 0.5 + torch.rand(size, 1, 1, 1, generator=g)
        self.images = contrast * colour[:, :, None, None] * wave[:, None] + 0.3 * torch.randn(
            size, 3, image_size, image_size, generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = self.images[index]
        if torch.rand(1).item() < 0.5:  # the usual random horizontal flip
            image = image.flip(-1)
        return image, self.labels[index]


# ---------------------------------------------------------------- model


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers=(2, 2, 2), widths=(16, 32, 64), num_classes=10):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = conv3x3(3, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(widths[0], layers[0])
        self.layer2 = self._make_layer(widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(widths[2], layers[2], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2] * BasicBlock.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * BasicBlock.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---------------------------------------------------------------- bookkeeping


class AverageMeter:
    def __init__(self, name, fmt=":f"):
        self.name, self.fmt = name, fmt
        self.reset()

    def reset(self):
        self.val = self.avg = self.sum = 0.0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count

    def __str__(self):
        return ("{name} {val" + self.fmt + "} ({avg" + self.fmt + "})").format(**self.__dict__)


def accuracy(output, target, topk=(1,)):
    """Precision@k for each k, in percent."""
    with torch.no_grad():
        maxk = max(topk)
        _, pred = output.topk(maxk, 1, True, True)
        correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
        return [correct[:k].reshape(-1).float().sum(0).item() * 100.0 / target.size(0) for k in topk]


def save_checkpoint(state, is_best, filename="checkpoint.pth.tar"):
    torch.save(state, filename)
    if is_best:
        shutil.copyfile(filename, "model_best.pth.tar")


# ---------------------------------------------------------------- train / validate


def train(loader, model, criterion, optimizer, epoch, print_freq):
    batch_time, losses = AverageMeter("Time", ":6.3f"), AverageMeter("Loss", ":.4e")
    top1, top5 = AverageMeter("Acc@1", ":6.2f"), AverageMeter("Acc@5", ":6.2f")
    model.train()
    end = time.time()
    for i, (images, target) in enumerate(loader):
        output = model(images)
        loss = criterion(output, target)
        acc1, acc5 = accuracy(output, target, topk=(1, 5))
        losses.update(loss.item(), images.size(0))
        top1.update(acc1, images.size(0))
        top5.update(acc5, images.size(0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        batch_time.update(time.time() - end)
        end = time.time()
        if i % print_freq == 0:
            log.info("Epoch: [%d][%d/%d]\t%s\t%s\t%s\t%s", epoch, i, len(loader), batch_time, losses, top1, top5)
    return losses.avg, top1.avg


def validate(loader, model, criterion):
    losses, top1, top5 = AverageMeter("Loss", ":.4e"), AverageMeter("Acc@1", ":6.2f"), AverageMeter("Acc@5", ":6.2f")
    model.eval()
    with torch.no_grad():
        for images, target in loader:
            output = model(images)
            loss = criterion(output, target)
            acc1, acc5 = accuracy(output, target, topk=(1, 5))
            losses.update(loss.item(), images.size(0))
            top1.update(acc1, images.size(0))
            top5.update(acc5, images.size(0))
    log.info(" * Acc@1 %.3f Acc@5 %.3f Loss %.4f", top1.avg, top5.avg, losses.avg)
    return losses.avg, top1.avg, top5.avg


def main():
    parser = argparse.ArgumentParser(description="ResNet training on synthetic gratings")
    parser.add_argument("--epochs", type=int, default=2 if SMOKE else 30)
    parser.add_argument("-b", "--batch-size", type=int, default=32 if SMOKE else 128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--wd", "--weight-decay", dest="weight_decay", type=float, default=1e-4)
    parser.add_argument("--lr-step", type=int, default=10, help="decay the learning rate every N epochs")
    parser.add_argument("--train-size", type=int, default=192 if SMOKE else 10000)
    parser.add_argument("--val-size", type=int, default=64 if SMOKE else 2000)
    parser.add_argument("--image-size", type=int, default=16 if SMOKE else 32)
    parser.add_argument("--print-freq", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--save-path", default="model.pt")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)

    train_set = GratingImages(args.train_size, image_size=args.image_size, seed=args.seed)
    val_set = GratingImages(args.val_size, image_size=args.image_size, seed=args.seed + 1000)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=args.batch_size)

    model = ResNet()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.lr_step, gamma=0.1)

    run = wandb.init(project="resnet-gratings", config=vars(args))
    best_acc1 = 0.0
    for epoch in range(args.epochs):
        train_loss, train_acc1 = train(train_loader, model, criterion, optimizer, epoch, args.print_freq)
        val_loss, acc1, acc5 = validate(val_loader, model, criterion)
        run.log({"epoch": epoch, "train_loss": train_loss, "train_acc1": train_acc1, "val_loss": val_loss,
                 "val_acc1": acc1, "val_acc5": acc5, "lr": scheduler.get_last_lr()[0]})
        scheduler.step()
        is_best = acc1 > best_acc1
        best_acc1 = max(acc1, best_acc1)
        save_checkpoint({"epoch": epoch + 1, "arch": "resnet14", "state_dict": model.state_dict(),
                         "best_acc1": best_acc1, "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict()}, is_best)

    torch.save(model.state_dict(), args.save_path)
    log.info("best Acc@1 %.3f; saved the model to %s", best_acc1, args.save_path)
    run.summary["best_acc1"] = best_acc1
    run.finish()


if __name__ == "__main__":
    main()
