"""A small Vision Transformer (ViT) classifying scikit-learn's 8x8 handwritten digits, tracked with Weights & Biases.

Images are cut into 2x2 patches by a strided convolution, a learnt [CLS] token and position embeddings
are added, and a stack of pre-norm transformer encoder blocks (multi-head self-attention + MLP) feeds a
linear head on the [CLS] token. Trained with AdamW, label smoothing and a warm-up + cosine schedule.
Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import logging
import math
import os

import torch
import torch.nn.functional as F
import wandb
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

log = logging.getLogger("vision_transformer")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"


class PatchEmbedding(nn.Module):
    """(B, C, H, W) -> (B, N, D): one token per non-overlapping patch."""

    def __init__(self, image_size, patch_size, in_channels, dim):
        super().__init__()
        self.num_patches = (image_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, dim, heads, dropout=0.0):
        super().__init__()
        assert dim % heads == 0, "dim must be divisible by heads"
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = self.dropout(attn.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out)


class MLP(nn.Module):
    def __init__(self, dim, hidden, dropout=0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(x)))))


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=2.0, dropout=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dropout)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, image_size=8, patch_size=2, in_channels=1, num_classes=10, dim=64, depth=4, heads=4,
                 mlp_ratio=2.0, dropout=0.1):
        super().__init__()
        self.patch_embed = PatchEmbedding(image_size, patch_size, in_channels, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, dim))
        self.pos_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([EncoderBlock(dim, heads, mlp_ratio, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = self.pos_drop(torch.cat([cls, x], dim=1) + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def random_shift(images, max_shift=1):
    """Cheap augmentation: shift each image by up to `max_shift` pixels, filling with zeros."""
    padded = F.pad(images, (max_shift,) * 4)
    b, _, h, w = images.shape
    out = torch.empty_like(images)
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2))
    for i, (dy, dx) in enumerate(offsets.tolist()):
        out[i] = padded[i, :, dy:dy + h, dx:dx + w]
    return out


def load_data(batch_size):
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    x = (x - 0.5) / 0.5
    y = torch.tensor(digits.target, dtype=torch.long)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    if SMOKE:
        x_train, y_train, x_test, y_test = x_train[:384], y_train[:384], x_test[:128], y_test[:128]
    return (DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True),
            DataLoader(TensorDataset(x_test, y_test), batch_size=256))


def warmup_cosine(total_steps, warmup_steps):
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def train_one_epoch(model, loader, optimizer, scheduler, criterion, epoch):
    model.train()
    total, correct, seen = 0.0, 0, 0
    for step, (images, labels) in enumerate(loader):
        logits = model(random_shift(images))
        loss = criterion(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
        if step % 10 == 0:
            log.info("epoch %d step %d: loss %.4f lr %.2e", epoch, step, loss.item(), scheduler.get_last_lr()[0])
    return total / seen, correct / seen


@torch.no_grad()
def evaluate(model, loader, criterion):
    model.eval()
    total, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        logits = model(images)
        total += criterion(logits, labels).item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
    return total / seen, correct / seen


def main():
    parser = argparse.ArgumentParser(description="Vision Transformer on 8x8 digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2 if SMOKE else 40)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup-epochs", type=int, default=1 if SMOKE else 5)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--patch-size", type=int, default=2)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--save-path", default="model.pt")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)

    train_loader, test_loader = load_data(args.batch_size)
    model = VisionTransformer(patch_size=args.patch_size, dim=args.dim, depth=args.depth, heads=args.heads)
    log.info("ViT with %d parameters", sum(p.numel() for p in model.parameters()))
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(steps, args.warmup_epochs * len(train_loader)))

    run = wandb.init(project="digits-vit", config=vars(args))
    best = 0.0
    for epoch in range(1, args.epochs + 1):
        train_loss, train_acc = train_one_epoch(model, train_loader, optimizer, scheduler, criterion, epoch)
        test_loss, test_acc = evaluate(model, test_loader, criterion)
        best = max(best, test_acc)
        run.log({"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss,
                 "test_acc": test_acc, "lr": scheduler.get_last_lr()[0]})
        log.info("epoch %d: train loss %.4f acc %.3f | test loss %.4f acc %.3f", epoch, train_loss, train_acc,
                 test_loss, test_acc)

    torch.save(model.state_dict(), args.save_path)
    log.info("best test accuracy %.3f; saved the model to %s", best, args.save_path)
    run.summary["best_test_acc"] = best
    run.finish()


if __name__ == "__main__":
    main()
