"""A word-level LSTM language model on a generated corpus, evaluated by perplexity, tracked with
Weights & Biases.

The corpus is written on first use to ./data/synthetic/{train,valid,test}.txt by a small hidden-Markov
"language": invented words grouped into word classes, a sparse class-to-class transition table and a Zipfian
word distribution inside each class, so that the next word is partly predictable. The rest is the classic
recipe: a dictionary built from the training text, the token stream batchified into columns, truncated
backpropagation through time with detached hidden states, gradient clipping, SGD whose learning rate is divided
by four whenever validation loss stops improving, and some sampled text at the end.
Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import logging
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
import wandb
from torch import nn

log = logging.getLogger("word_language_model")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
EOS = "<eos>"


# ---------------------------------------------------------------- the generated corpus


def invent_words(n, rng):
    onsets = ["b", "ch", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "sh", "t", "th", "v", "w", "z"]
    vowels = ["a", "e", "i", "o", "u", "ea", "oo", "ai"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "ck", "nd"]
    words = set()
    while len(words) < n:
        syllables = rng.integers(1, 4)
        words.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)))
    return sorted(words)


def write_corpus(folder, vocab_size, tokens, seed):
    """A hidden-Markov corpus: word classes with sparse transitions, Zipfian words within a class."""
    rng = np.random.default_rng(seed)
    n_classes = 16
    words = invent_words(vocab_size, rng)
    rng.shuffle(words)
    classes = np.array_split(np.array(words), n_classes)
    # each class is followed by one of three favourite classes most of the time
    transitions = np.full((n_classes, n_classes), 0.02)
    for c in range(n_classes):
        transitions[c, rng.choice(n_classes, 3, replace=False)] += [0.5, 0.25, 0.15]
    transitions /= transitions.sum(1, keepdims=True)
    zipf = [1.0 / np.arange(1, len(c) + 1) ** 1.1 for c in classes]
    zipf = [z / z.sum() for z in zipf]

    def sentence():
        c, out = rng.integers(n_classes), []
        for _ in range(rng.integers(4, 16)):
            out.append(classes[c][rng.choice(len(classes[c]), p=zipf[c])])
            c = rng.choice(n_classes, p=transitions[c])
        return " ".join(out)

    os.makedirs(folder, exist_ok=True)
    for split, share in (("train", 0.8), ("valid", 0.1), ("test", 0.1)):
        budget = int(tokens * share)
        with open(os.path.join(folder, f"{split}.txt"), "w", encoding="utf-8") as f:
            while budget > 0:
                line = sentence()
                budget -= len(line.split()) + 1
                f.write(line + "\n")


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus:
    def __init__(self, path):
        self.dictionary = Dictionary()
        self.train = self.tokenize(os.path.join(path, "train.txt"))
        self.valid = self.tokenize(os.path.join(path, "valid.txt"))
        self.test = self.tokenize(os.path.join(path, "test.txt"))

    def tokenize(self, path):
        """Every line becomes its words followed by <eos>; unseen words are added to the dictionary."""
        ids = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                for word in line.split() + [EOS]:
                    ids.append(self.dictionary.add_word(word))
        return torch.tensor(ids, dtype=torch.long)


def batchify(data, bsz):
    """Trim the stream to a multiple of bsz and lay it out as bsz columns: (len, bsz)."""
    nbatch = data.size(0) // bsz
    return data[: nbatch * bsz].view(bsz, -1).t().contiguous()


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)


# ---------------------------------------------------------------- the model


class RNNModel(nn.Module):
    """Embedding -> multi-layer LSTM -> linear decoder over the vocabulary."""

    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("when using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.nhid, self.nlayers = nhid, nlayers
        self.init_weights()

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden=None):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid), weight.new_zeros(self.nlayers, bsz, self.nhid))


def repackage_hidden(h):
    """Detach hidden states from the graph of the previous batch (truncated BPTT)."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


# ---------------------------------------------------------------- training


def evaluate(model, data_source, criterion, bptt, eval_batch_size):
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i, bptt)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


def train_epoch(model, train_data, criterion, optimizer, epoch, args, run):
    model.train()
    total_loss, start = 0.0, time.time()
    hidden = model.init_hidden(args.batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
        data, targets = get_batch(train_data, i, args.bptt)
        hidden = repackage_hidden(hidden)
        optimizer.zero_grad()
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        total_loss += loss.item()
        if batch % args.log_interval == 0 and batch > 0:
            cur_loss = total_loss / args.log_interval
            elapsed = time.time() - start
            log.info("| epoch %3d | %5d/%5d batches | lr %.2f | ms/batch %6.1f | loss %5.2f | ppl %8.2f", epoch, batch,
                     len(train_data) // args.bptt, optimizer.param_groups[0]["lr"], elapsed * 1000 / args.log_interval,
                     cur_loss, math.exp(cur_loss))
            run.log({"epoch": epoch, "train_loss": cur_loss, "train_ppl": math.exp(cur_loss),
                     "lr": optimizer.param_groups[0]["lr"]})
            total_loss, start = 0.0, time.time()


def generate(model, dictionary, words, temperature=1.0):
    model.eval()
    hidden = model.init_hidden(1)
    token = torch.randint(len(dictionary), (1, 1))
    out = []
    with torch.no_grad():
        for _ in range(words):
            output, hidden = model(token, hidden)
            weights = output.squeeze().div(temperature).exp()
            token.fill_(torch.multinomial(weights, 1).item())
            word = dictionary.idx2word[token.item()]
            out.append("\n" if word == EOS else word + " ")
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description="LSTM word language model on a generated corpus")
    parser.add_argument("--data", default="./data/synthetic", help="corpus folder (generated if missing)")
    parser.add_argument("--vocab-size", type=int, default=1000)
    parser.add_argument("--corpus-tokens", type=int, default=12000 if SMOKE else 500000)
    parser.add_argument("--emsize", type=int, default=64)
    parser.add_argument("--nhid", type=int, default=64)
    parser.add_argument("--nlayers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=20.0)
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=2 if SMOKE else 20)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--bptt", type=int, default=20 if SMOKE else 35)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--tied", action="store_true", help="tie the word embedding and softmax weights")
    parser.add_argument("--log-interval", type=int, default=10 if SMOKE else 200)
    parser.add_argument("--words", type=int, default=50 if SMOKE else 1000, help="words to generate at the end")
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--save", default="model.pt")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)

    if not os.path.exists(os.path.join(args.data, "train.txt")):
        write_corpus(args.data, args.vocab_size, args.corpus_tokens, args.seed)
    corpus = Corpus(args.data)
    eval_batch_size = 10
    train_data = batchify(corpus.train, args.batch_size)
    val_data = batchify(corpus.valid, eval_batch_size)
    test_data = batchify(corpus.test, eval_batch_size)
    ntokens = len(corpus.dictionary)
    log.info("corpus: %d words in the dictionary, %d training tokens", ntokens, len(corpus.train))

    model = RNNModel(ntokens, args.emsize, args.nhid, args.nlayers, args.dropout, args.tied)
    criterion = nn.NLLLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)

    run = wandb.init(project="word-language-model", config=vars(args))
    run.config.update({"ntokens": ntokens})
    best_val_loss = None
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.time()
        train_epoch(model, train_data, criterion, optimizer, epoch, args, run)
        val_loss = evaluate(model, val_data, criterion, args.bptt, eval_batch_size)
        log.info("| end of epoch %3d | time: %5.2fs | valid loss %5.2f | valid ppl %8.2f", epoch,
                 time.time() - epoch_start, val_loss, math.exp(val_loss))
        run.log({"epoch": epoch, "val_loss": val_loss, "val_ppl": math.exp(val_loss)})
        if best_val_loss is None or val_loss < best_val_loss:
            best_val_loss = val_loss
            torch.save(model.state_dict(), args.save)
        else:  # anneal the learning rate when validation stops improving
            for group in optimizer.param_groups:
                group["lr"] /= 4.0

    model.load_state_dict(torch.load(args.save))
    test_loss = evaluate(model, test_data, criterion, args.bptt, eval_batch_size)
    log.info("| end of training | test loss %5.2f | test ppl %8.2f", test_loss, math.exp(test_loss))
    run.summary.update({"test_loss": test_loss, "test_ppl": math.exp(test_loss)})
    with open("generated.txt", "w", encoding="utf-8") as f:
        f.write(generate(model, corpus.dictionary, args.words))
    log.info("best model saved to %s; sampled text in generated.txt", args.save)
    run.finish()


if __name__ == "__main__":
    main()
