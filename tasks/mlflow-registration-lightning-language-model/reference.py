"""Word-level language modelling with a small Transformer in PyTorch Lightning, tracked and registered with MLflow.

A causal Transformer encoder learns to predict the next word of sentences generated from a tiny
English-like grammar (nothing is downloaded). After training it reports the test perplexity and
generates a few sentences. Set ADAPTBENCH_SMOKE=1 for a quick run on a smaller corpus and fewer steps.
"""

import argparse
import math
import os
import random

import lightning as L
import mlflow
import mlflow.pytorch
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import MLFlowLogger
from torch import nn
from torch.utils.data import DataLoader, Dataset

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

# ---------------------------------------------------------------- a generated corpus

SUBJECTS = ["the cat", "the dog", "a bird", "my friend", "the teacher", "a child", "the farmer"]
VERBS = ["sees", "likes", "finds", "chases", "watches", "helps", "follows"]
OBJECTS = ["the ball", "a tree", "the river", "a small house", "the red car", "an old book", "the garden"]
ADVERBS = ["today", "again", "slowly", "every morning", "at night"]


def generate_sentence(rng: random.Random) -> str:
    words = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)]
    if rng.random() < 0.5:
        words.append(rng.choice(ADVERBS))
    if rng.random() < 0.3:
        words += ["and", rng.choice(VERBS), rng.choice(OBJECTS)]
    return " ".join(words) + " ."


class Vocabulary:
    def __init__(self, sentences):
        words = sorted({w for s in sentences for w in s.split()})
        self.itos = ["<eos>"] + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, sentence):
        return [self.stoi[w] for w in sentence.split()] + [self.stoi["<eos>"]]

    def decode(self, ids):
        return " ".join(self.itos[i] for i in ids)


class LMDataset(Dataset):
    """Fixed-length windows over a token stream; the target is the input shifted by one."""

    def __init__(self, tokens, seq_len):
        self.tokens = torch.tensor(tokens, dtype=torch.long)
        self.seq_len = seq_len

    def __len__(self):
        return (len(self.tokens) - 1) // self.seq_len

    def __getitem__(self, i):
        chunk = self.tokens[i * self.seq_len: (i + 1) * self.seq_len + 1]
        return chunk[:-1], chunk[1:]


def build_corpus(n_sentences, seed):
    rng = random.Random(seed)
    sentences = [generate_sentence(rng) for _ in range(n_sentences)]
    vocab = Vocabulary(SUBJECTS + VERBS + OBJECTS + ADVERBS + ["and ."])
    n_train, n_val = int(0.8 * len(sentences)), int(0.1 * len(sentences))
    splits = (sentences[:n_train], sentences[n_train:n_train + n_val], sentences[n_train + n_val:])
    streams = [[t for s in part for t in vocab.encode(s)] for part in splits]
    return vocab, streams


# ---------------------------------------------------------------- the model


class TransformerLM(L.LightningModule):
    def __init__(self, vocab_size: int, d_model: int = 64, nhead: int = 4, num_layers: int = 2,
                 dim_feedforward: int = 128, dropout: float = 0.1, seq_len: int = 24,
                 learning_rate: float = 3e-3):
        super().__init__()
        self.save_hyperparameters()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(seq_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens):
        length = tokens.size(1)
        positions = torch.arange(length, device=tokens.device)
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=tokens.device)
        hidden = self.embedding(tokens) * math.sqrt(self.hparams.d_model) + self.position(positions)
        hidden = self.encoder(hidden, mask=causal, is_causal=True)
        return self.head(hidden)

    def _loss(self, batch):
        x, y = batch
        logits = self(x)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("val_loss", loss)
        self.log("val_ppl", torch.exp(loss))

    def test_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("test_loss", loss)
        self.log("test_ppl", torch.exp(loss))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.learning_rate)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
        return [optimizer], [scheduler]

    @torch.no_grad()
    def generate(self, prompt_ids, max_new_tokens=12, temperature=0.8, eos_id=0):
        self.eval()
        ids = list(prompt_ids)
        for _ in range(max_new_tokens):
            context = torch.tensor([ids[-self.hparams.seq_len:]], dtype=torch.long, device=self.device)
            logits = self(context)[0, -1] / temperature
            next_id = int(torch.multinomial(F.softmax(logits, dim=-1), 1))
            ids.append(next_id)
            if next_id == eos_id:
                break
        return ids


# ---------------------------------------------------------------- training


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--nhead", type=int, default=4)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--dim-feedforward", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--seq-len", type=int, default=24)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-epochs", type=int, default=2 if SMOKE else 15)
    parser.add_argument("--n-sentences", type=int, default=800 if SMOKE else 20000)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args()


def main(args):
    L.seed_everything(args.seed)
    vocab, (train_ids, val_ids, test_ids) = build_corpus(args.n_sentences, args.seed)
    train_loader = DataLoader(LMDataset(train_ids, args.seq_len), batch_size=args.batch_size, shuffle=True)
    val_loader = DataLoader(LMDataset(val_ids, args.seq_len), batch_size=args.batch_size)
    test_loader = DataLoader(LMDataset(test_ids, args.seq_len), batch_size=args.batch_size)
    print(f"vocabulary: {len(vocab)} words, {len(train_ids)} training tokens")

    model = TransformerLM(len(vocab), d_model=args.d_model, nhead=args.nhead, num_layers=args.num_layers,
                          dim_feedforward=args.dim_feedforward, dropout=args.dropout, seq_len=args.seq_len,
                          learning_rate=args.learning_rate)
    # MLFlowLogger reads MLFLOW_TRACKING_URI; it logs the module's saved hyperparameters and every self.log metric
    mlf_logger = MLFlowLogger(experiment_name="language-model", tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"))
    mlf_logger.log_hyperparams({"batch_size": args.batch_size, "max_epochs": args.max_epochs,
                                "n_sentences": args.n_sentences, "seed": args.seed})
    trainer = L.Trainer(
        max_epochs=args.max_epochs,
        accelerator="cpu",
        gradient_clip_val=0.5,
        limit_train_batches=10 if SMOKE else 1.0,
        logger=mlf_logger,
        log_every_n_steps=10,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train_loader, val_loader)
    results = trainer.test(model, test_loader, verbose=False)
    print(f"test perplexity: {results[0]['test_ppl']:.2f}")

    torch.manual_seed(args.seed)
    for subject in ("the cat", "a child"):
        print("sample:", vocab.decode(model.generate(vocab.encode(subject)[:-1])))

    torch.save(model.state_dict(), "language_model.pt")
    # the default "pt2" format exports the graph (no class from this script is needed to load it);
    # it traces with the input example: a batch of token ids
    example = next(iter(test_loader))[0][:2].numpy()
    with mlflow.start_run(run_id=mlf_logger.run_id):
        mlflow.pytorch.log_model(
            model.eval(),
            name="model",
            input_example=example,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"lightning=={L.__version__}"],
            registered_model_name="toy-language-model",
        )
    return results


if __name__ == "__main__":
    main(parse_args())
