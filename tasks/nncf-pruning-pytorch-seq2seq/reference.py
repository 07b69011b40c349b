"""Sequence-to-sequence translation with a Transformer, on a synthetic toy language pair, pruned during training
with NNCF.

There is no download: a small grammar generates English sentences together with their translation into
"Zorbish", an invented language whose grammar differs from English in ways a translation model has to learn:

* word order is subject-object-verb (SOV), with case particles: ``ga`` marks the subject, ``o`` the object;
* adjectives follow their noun (in reverse order), numbers follow the adjectives;
* there are no articles; plurals without a number take the particle ``ta``;
* prepositions become postpositions; past tense is the particle ``ka`` after the verb, negation ``nai``;
* clauses joined by "and" are joined by ``su`` and each is reordered on its own.

The script is a complete, small version of the usual recipe: tokenisation, vocabularies with special tokens,
length-bucketed batches with padding, padding and causal masks, an encoder-decoder Transformer with sinusoidal
positional encodings, label-smoothed cross entropy, a warm-up learning-rate schedule, gradient clipping,
validation with token accuracy, greedy decoding, corpus BLEU, early stopping and checkpoints.

Set ADAPTBENCH_SMOKE=1 for a run of a few seconds.
"""

import argparse
import json
import logging
import math
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import nncf
import torch
from nncf.torch.function_hook.pruning.magnitude.schedulers import (
    MultiStepMagnitudePruningScheduler,
)
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

log = logging.getLogger("seq2seq_transformer")
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_IDX, BOS_IDX, EOS_IDX, UNK_IDX = range(4)


# =============================================================================================== the toy language pair

NOUNS = ["cat", "dog", "bird", "fish", "horse", "teacher", "doctor", "farmer", "child", "king", "queen", "robot",
         "apple", "book", "house", "river", "tree", "car", "ship", "letter", "garden", "song", "stone", "window"]
IRREGULAR_PLURALS = {"child": "children", "fish": "fish"}
ADJECTIVES = ["big", "small", "red", "green", "old", "young", "happy", "sad", "quick", "quiet", "bright", "dark"]
# (base, third person singular, past)
TRANSITIVE = [("see", "sees", "saw"), ("like", "likes", "liked"), ("find", "finds", "found"),
              ("carry", "carries", "carried"), ("eat", "eats", "ate"), ("write", "writes", "wrote"),
              ("build", "builds", "built"), ("paint", "paints", "painted"), ("follow", "follows", "followed"),
              ("help", "helps", "helped")]
INTRANSITIVE = [("sleep", "sleeps", "slept"), ("run", "runs", "ran"), ("sing", "sings", "sang"),
                ("wait", "waits", "waited"), ("laugh", "laughs", "laughed")]
PREPOSITIONS = ["near", "under", "behind", "with"]
NUMBERS = ["two", "three", "four", "five"]

SUBJECT_MARK, OBJECT_MARK, PLURAL_MARK, PAST_MARK, NEGATION, AND_WORD = "ga", "o", "ta", "ka", "nai", "su"
SYLLABLE_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "dr"]
SYLLABLE_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]


def build_lexicon(seed: int = 7) -> Dict[str, str]:
    """English lemma -> an invented Zorbish word; deterministic for a seed, never clashing with a particle."""
    rng = random.Random(seed)
    taken = {SUBJECT_MARK, OBJECT_MARK, PLURAL_MARK, PAST_MARK, NEGATION, AND_WORD}
    lemmas = NOUNS + ADJECTIVES + [v[0] for v in TRANSITIVE + INTRANSITIVE] + PREPOSITIONS + NUMBERS
    lexicon = {}
    for lemma in lemmas:
        while True:
            word = "".join(rng.choice(SYLLABLE_ONSETS) + rng.choice(SYLLABLE_VOWELS) for _ in range(rng.randint(2, 3)))
            if word not in taken:
                break
        taken.add(word)
        lexicon[lemma] = word
    return lexicon


@dataclass
class NounPhrase:
    noun: str
    adjectives: List[str] = field(default_factory=list)
    plural: bool = False
    number: Optional[str] = None  # "two".."five": implies plural
    definite: bool = True


@dataclass
class Clause:
    subject: NounPhrase
    verb: Tuple[str, str, str]
    past: bool = False
    negated: bool = False
    obj: Optional[NounPhrase] = None
    prep: Optional[Tuple[str, NounPhrase]] = None


class Grammar:
    """Samples clauses and realises them in both languages."""

    def __init__(self, lexicon: Dict[str, str], rng: random.Random, max_adjectives: int = 2,
                 max_clauses: int = 2):
        self.lexicon = lexicon
        self.rng = rng
        self.max_adjectives = max_adjectives
        self.max_clauses = max_clauses

    # ---- sampling
    def noun_phrase(self) -> NounPhrase:
        r = self.rng
        n_adj = r.choices(range(self.max_adjectives + 1), weights=[5, 3, 1][: self.max_adjectives + 1])[0]
        np_ = NounPhrase(noun=r.choice(NOUNS), adjectives=r.sample(ADJECTIVES, n_adj))
        kind = r.random()
        if kind < 0.2:
            np_.number, np_.plural = r.choice(NUMBERS), True
        elif kind < 0.4:
            np_.plural = True
        np_.definite = np_.plural or r.random() < 0.5
        return np_

    def clause(self) -> Clause:
        r = self.rng
        transitive = r.random() < 0.7
        c = Clause(subject=self.noun_phrase(), verb=r.choice(TRANSITIVE if transitive else INTRANSITIVE),
                   past=r.random() < 0.4, negated=r.random() < 0.2)
        if transitive:
            c.obj = self.noun_phrase()
        if r.random() < 0.3:
            c.prep = (r.choice(PREPOSITIONS), self.noun_phrase())
        return c

    def sentence(self) -> List[Clause]:
        n = 1 if self.rng.random() < 0.7 else self.rng.randint(2, self.max_clauses)
        return [self.clause() for _ in range(max(1, n))]

    # ---- English
    @staticmethod
    def english_np(np_: NounPhrase) -> List[str]:
        noun = IRREGULAR_PLURALS.get(np_.noun, np_.noun + "s") if np_.plural else np_.noun
        words = np_.adjectives + [noun]
        if np_.number:
            return [np_.number] + words
        if np_.definite:
            return ["the"] + words
        return ["an" if words[0][0] in "aeiou" else "a"] + words

    def english_clause(self, c: Clause) -> List[str]:
        base, third, past = c.verb
        if c.negated:
            aux = "did" if c.past else ("do" if c.subject.plural else "does")
            verb = [aux, "not", base]
        else:
            verb = [past if c.past else (base if c.subject.plural else third)]
        words = self.english_np(c.subject) + verb
        if c.obj:
            words += self.english_np(c.obj)
        if c.prep:
            words += [c.prep[0]] + self.english_np(c.prep[1])
        return words

    def english(self, clauses: Sequence[Clause]) -> str:
        words: List[str] = []
        for i, c in enumerate(clauses):
            if i:
                words.append("and")
            words += self.english_clause(c)
        return " ".join(words).capitalize() + "."

    # ---- Zorbish
    def zorbish_np(self, np_: NounPhrase) -> List[str]:
        words = [self.lexicon[np_.noun]] + [self.lexicon[a] for a in reversed(np_.adjectives)]
        if np_.number:
            words.append(self.lexicon[np_.number])
        elif np_.plural:
            words.append(PLURAL_MARK)
        return words

    def zorbish_clause(self, c: Clause) -> List[str]:
        words = self.zorbish_np(c.subject) + [SUBJECT_MARK]
        if c.obj:
            words += self.zorbish_np(c.obj) + [OBJECT_MARK]
        if c.prep:
            words += self.zorbish_np(c.prep[1]) + [self.lexicon[c.prep[0]]]
        words.append(self.lexicon[c.verb[0]])
        if c.past:
            words.append(PAST_MARK)
        if c.negated:
            words.append(NEGATION)
        return words

    def zorbish(self, clauses: Sequence[Clause]) -> str:
        words: List[str] = []
        for i, c in enumerate(clauses):
            if i:
                words.append(AND_WORD)
            words += self.zorbish_clause(c)
        return " ".join(words).capitalize() + "."


def generate_pairs(n: int, seed: int, max_clauses: int = 2) -> List[Tuple[str, str]]:
    """`n` distinct (English, Zorbish) sentence pairs."""
    grammar = Grammar(build_lexicon(), random.Random(seed), max_clauses=max_clauses)
    pairs, seen = [], set()
    attempts = 0
    while len(pairs) < n and attempts < n * 20:
        attempts += 1
        clauses = grammar.sentence()
        src = grammar.english(clauses)
        if src in seen:
            continue
        seen.add(src)
        pairs.append((src, grammar.zorbish(clauses)))
    return pairs


def split_pairs(pairs: List[Tuple[str, str]], valid: float, test: float, seed: int):
    pairs = list(pairs)
    random.Random(seed).shuffle(pairs)
    n_valid, n_test = int(len(pairs) * valid), int(len(pairs) * test)
    return pairs[n_valid + n_test:], pairs[:n_valid], pairs[n_valid:n_valid + n_test]


# =============================================================================================== tokens and vocabularies

TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> List[str]:
    return TOKEN_RE.findall(text.lower())


def detokenize(tokens: Iterable[str]) -> str:
    text = " ".join(tokens)
    text = re.sub(r"\s+([.,!?;:])", r"\1", text)
    return text[:1].upper() + text[1:]


class Vocab:
    def __init__(self, itos: Sequence[str]):
        self.itos = list(itos)
        self.stoi = {token: i for i, token in enumerate(self.itos)}
        assert self.itos[: len(SPECIALS)] == list(SPECIALS), "special tokens must come first"

    @classmethod
    def build(cls, sentences: Iterable[List[str]], min_freq: int = 1) -> "Vocab":
        counts = Counter(token for sentence in sentences for token in sentence)
        tokens = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(list(SPECIALS) + tokens)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> List[int]:
        return [self.stoi.get(t, UNK_IDX) for t in tokens]

    def decode(self, ids: Iterable[int], strip_specials: bool = True) -> List[str]:
        out = []
        for i in ids:
            if i == EOS_IDX and strip_specials:
                break
            if strip_specials and i in (PAD_IDX, BOS_IDX):
                continue
            out.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return out

    def to_json(self) -> List[str]:
        return self.itos


# =============================================================================================== datasets and batches


class TranslationDataset(Dataset):
    def __init__(self, pairs: Sequence[Tuple[str, str]], src_vocab: Vocab, tgt_vocab: Vocab, max_len: int = 64):
        self.examples = []
        for src, tgt in pairs:
            s = src_vocab.encode(tokenize(src))[:max_len]
            t = tgt_vocab.encode(tokenize(tgt))[:max_len]
            self.examples.append((torch.tensor(s, dtype=torch.long), torch.tensor(t, dtype=torch.long)))
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Tuple[Tensor, Tensor]:
        return self.examples[index]


class BucketBatchSampler(Sampler):
    """Batches of similar source length (less padding), shuffled at the level of batches."""

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, bucket_factor: int = 50,
                 seed: int = 0):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket = batch_size * bucket_factor
        self.rng = random.Random(seed)

    def __iter__(self):
        indices = list(range(len(self.lengths)))
        if self.shuffle:
            self.rng.shuffle(indices)
        batches = []
        for start in range(0, len(indices), self.bucket):
            chunk = sorted(indices[start:start + self.bucket], key=lambda i: self.lengths[i])
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.shuffle:
            self.rng.shuffle(batches)
        return iter(batches)

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size


def pad_sequences(sequences: Sequence[Tensor], add_bos: bool) -> Tensor:
    longest = max(len(s) for s in sequences) + 1 + int(add_bos)
    out = torch.full((len(sequences), longest), PAD_IDX, dtype=torch.long)
    for i, s in enumerate(sequences):
        row = ([BOS_IDX] if add_bos else []) + s.tolist() + [EOS_IDX]
        out[i, : len(row)] = torch.tensor(row)
    return out


def collate(batch: Sequence[Tuple[Tensor, Tensor]]) -> Tuple[Tensor, Tensor]:
    """Sources end with <eos>; targets are wrapped in <bos> ... <eos>. Both padded with <pad>, batch first."""
    src, tgt = zip(*batch)
    return pad_sequences(src, add_bos=False), pad_sequences(tgt, add_bos=True)


def make_loader(dataset: TranslationDataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    lengths = [len(s) for s, _ in dataset.examples]
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)


# =============================================================================================== masks


def causal_mask(size: int) -> Tensor:
    """True above the diagonal: position i may not attend to positions after i."""
    return torch.triu(torch.ones(size, size, dtype=torch.bool), diagonal=1)


def create_masks(src: Tensor, tgt_input: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    src_mask = torch.zeros(src.size(1), src.size(1), dtype=torch.bool)
    tgt_mask = causal_mask(tgt_input.size(1))
    return src_mask, tgt_mask, src == PAD_IDX, tgt_input == PAD_IDX


# =============================================================================================== the model


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, dropout: float, max_len: int = 512):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", pe.unsqueeze(0), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(x + self.pe[:, : x.size(1)])


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, d_model: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=PAD_IDX)
        self.scale = math.sqrt(d_model)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.embedding(tokens) * self.scale


class Seq2SeqTransformer(nn.Module):
    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 128, nhead: int = 4,
                 num_encoder_layers: int = 3, num_decoder_layers: int = 3, dim_feedforward: int = 256,
                 dropout: float = 0.1):
        super().__init__()
        enc_layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        dec_layer = nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(enc_layer, num_encoder_layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec_layer, num_decoder_layers, norm=nn.LayerNorm(d_model))
        self.src_tok_emb = TokenEmbedding(src_vocab_size, d_model)
        self.tgt_tok_emb = TokenEmbedding(tgt_vocab_size, d_model)
        self.positional_encoding = PositionalEncoding(d_model, dropout)
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor, tgt_mask: Tensor, src_padding_mask: Tensor,
                tgt_padding_mask: Tensor) -> Tensor:
        memory = self.encode(src, src_mask, src_padding_mask)
        out = self.decode(tgt, memory, tgt_mask, tgt_padding_mask, src_padding_mask)
        return self.generator(out)

    def encode(self, src: Tensor, src_mask: Tensor, src_padding_mask: Optional[Tensor] = None) -> Tensor:
        return self.encoder(self.positional_encoding(self.src_tok_emb(src)), mask=src_mask,
                            src_key_padding_mask=src_padding_mask)

    def decode(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor, tgt_padding_mask: Optional[Tensor] = None,
               memory_padding_mask: Optional[Tensor] = None) -> Tensor:
        return self.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory, tgt_mask=tgt_mask,
                            tgt_key_padding_mask=tgt_padding_mask, memory_key_padding_mask=memory_padding_mask,
                            tgt_is_causal=True)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# =============================================================================================== schedule


def noam_lambda(d_model: int, warmup_steps: int):
    """The "Attention is all you need" schedule, normalised to peak at 1.0 after `warmup_steps`."""
    peak = d_model ** -0.5 * warmup_steps ** -0.5

    def factor(step: int) -> float:
        step = max(step, 1)
        return d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5) / peak
    return factor


# =============================================================================================== training and evaluation


@dataclass
class EpochStats:
    loss: float
    token_accuracy: float
    tokens: int
    seconds: float

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 50.0))


def run_batch(model: nn.Module, src: Tensor, tgt: Tensor, criterion: nn.Module) -> Tuple[Tensor, int, int]:
    """Teacher forcing: the decoder reads tgt[:, :-1] and predicts tgt[:, 1:]."""
    tgt_input, tgt_out = tgt[:, :-1], tgt[:, 1:]
    src_mask, tgt_mask, src_padding_mask, tgt_padding_mask = create_masks(src, tgt_input)
    logits = model(src, tgt_input, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask)
    loss = criterion(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1))
    keep = tgt_out != PAD_IDX
    correct = int(((logits.argmax(-1) == tgt_out) & keep).sum())
    return loss, correct, int(keep.sum())


def train_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                scheduler: torch.optim.lr_scheduler.LRScheduler, criterion: nn.Module, epoch: int,
                clip: float, log_every: int) -> EpochStats:
    model.train()
    start = time.time()
    total_loss, total_correct, total_tokens = 0.0, 0, 0
    for step, (src, tgt) in enumerate(loader):
        loss, correct, tokens = run_batch(model, src, tgt, criterion)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * tokens
        total_correct += correct
        total_tokens += tokens
        if step % log_every == 0:
            log.info("epoch %d step %d/%d: loss %.4f, lr %.2e", epoch, step, len(loader), loss.item(),
                     scheduler.get_last_lr()[0])
    return EpochStats(total_loss / total_tokens, total_correct / total_tokens, total_tokens, time.time() - start)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, criterion: nn.Module) -> EpochStats:
    model.eval()
    start = time.time()
    total_loss, total_correct, total_tokens = 0.0, 0, 0
    for src, tgt in loader:
        loss, correct, tokens = run_batch(model, src, tgt, criterion)
        total_loss += loss.item() * tokens
        total_correct += correct
        total_tokens += tokens
    return EpochStats(total_loss / total_tokens, total_correct / total_tokens, total_tokens, time.time() - start)


@torch.no_grad()
def greedy_decode(model: Seq2SeqTransformer, src: Tensor, max_len: int) -> Tensor:
    """Batched greedy decoding: (B, S) source ids -> (B, <= max_len) target ids starting with <bos>.

    NNCF applies its pruning masks inside forward() only, so every step runs the whole (pruned) model
    rather than model.encode / model.decode."""
    model.eval()
    src_mask = torch.zeros(src.size(1), src.size(1), dtype=torch.bool)
    src_padding_mask = src == PAD_IDX
    ys = torch.full((src.size(0), 1), BOS_IDX, dtype=torch.long)
    finished = torch.zeros(src.size(0), dtype=torch.bool)
    for _ in range(max_len - 1):
        logits = model(src, ys, src_mask, causal_mask(ys.size(1)), src_padding_mask, ys == PAD_IDX)
        next_word = logits[:, -1].argmax(dim=-1)
        next_word = next_word.masked_fill(finished, PAD_IDX)
        ys = torch.cat([ys, next_word.unsqueeze(1)], dim=1)
        finished |= next_word == EOS_IDX
        if finished.all():
            break
    return ys


class Translator:
    def __init__(self, model: Seq2SeqTransformer, src_vocab: Vocab, tgt_vocab: Vocab, max_len: int = 64):
        self.model, self.src_vocab, self.tgt_vocab, self.max_len = model, src_vocab, tgt_vocab, max_len

    def translate_batch(self, sentences: Sequence[str]) -> List[List[str]]:
        encoded = [torch.tensor(self.src_vocab.encode(tokenize(s))[: self.max_len]) for s in sentences]
        src = pad_sequences(encoded, add_bos=False)
        # a translation is never much longer than its source: stop there even without <eos>
        ys = greedy_decode(self.model, src, min(self.max_len, 2 * src.size(1)) + 2)
        return [self.tgt_vocab.decode(row.tolist()) for row in ys]

    def translate(self, sentence: str) -> str:
        return detokenize(self.translate_batch([sentence])[0])


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Corpus-level BLEU (one reference per sentence, uniform weights, brevity penalty), in [0, 100]."""
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        hyp_len += len(hyp)
        ref_len += len(ref)
        for n in range(1, max_n + 1):
            h, r = ngrams(hyp, n), ngrams(ref, n)
            matches[n - 1] += sum(min(c, r[g]) for g, c in h.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_len == 0 or min(totals) == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100.0 * brevity * math.exp(log_precision)


def score_translations(translator: Translator, pairs: Sequence[Tuple[str, str]], batch_size: int = 64):
    hypotheses, references = [], []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        hypotheses += translator.translate_batch([src for src, _ in chunk])
        references += [tokenize(tgt) for _, tgt in chunk]
    exact = sum(h == r for h, r in zip(hypotheses, references)) / max(1, len(pairs))
    return corpus_bleu(hypotheses, references), exact


# =============================================================================================== checkpoints


def save_checkpoint(path: str, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, epoch: int,
                    best_valid_loss: float, args: argparse.Namespace) -> None:
    torch.save({"epoch": epoch, "model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
                "scheduler_state_dict": scheduler.state_dict(), "best_valid_loss": best_valid_loss,
                "args": vars(args)}, path)


def save_vocabs(path: str, src_vocab: Vocab, tgt_vocab: Vocab) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"src": src_vocab.to_json(), "tgt": tgt_vocab.to_json()}, f)


class EarlyStopping:
    def __init__(self, patience: int):
        self.patience, self.best, self.bad_epochs = patience, float("inf"), 0

    def step(self, value: float) -> Tuple[bool, bool]:
        """(improved, stop)"""
        if value < self.best - 1e-4:
            self.best, self.bad_epochs = value, 0
            return True, False
        self.bad_epochs += 1
        return False, self.bad_epochs >= self.patience


# =============================================================================================== main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Transformer translation of a toy language pair")
    data = parser.add_argument_group("data")
    data.add_argument("--num-pairs", type=int, default=400 if SMOKE else 20000)
    data.add_argument("--max-clauses", type=int, default=2)
    data.add_argument("--valid-fraction", type=float, default=0.1)
    data.add_argument("--test-fraction", type=float, default=0.1)
    data.add_argument("--max-len", type=int, default=48)
    model = parser.add_argument_group("model")
    model.add_argument("--d-model", type=int, default=64 if SMOKE else 128)
    model.add_argument("--nhead", type=int, default=4)
    model.add_argument("--encoder-layers", type=int, default=2 if SMOKE else 3)
    model.add_argument("--decoder-layers", type=int, default=2 if SMOKE else 3)
    model.add_argument("--ffn-dim", type=int, default=128 if SMOKE else 256)
    model.add_argument("--dropout", type=float, default=0.1)
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=2 if SMOKE else 30)
    train.add_argument("--batch-size", type=int, default=32 if SMOKE else 64)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--warmup-steps", type=int, default=10 if SMOKE else 400)
    train.add_argument("--label-smoothing", type=float, default=0.1)
    train.add_argument("--clip", type=float, default=1.0)
    train.add_argument("--patience", type=int, default=5)
    train.add_argument("--log-every", type=int, default=10 if SMOKE else 100)
    train.add_argument("--bleu-sentences", type=int, default=16 if SMOKE else 1000)
    train.add_argument("--seed", type=int, default=0)
    out = parser.add_argument_group("outputs")
    out.add_argument("--save-path", default="model.pt")
    out.add_argument("--checkpoint", default="checkpoint.pt")
    out.add_argument("--vocab-path", default="vocab.json")
    train.add_argument("--sparsity", type=float, default=0.6,
                       help="final share of the masked weights "
                            "(NNCF leaves the cross-attention input projections dense)")
    return parser.parse_args()


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    set_seed(args.seed)

    pairs = generate_pairs(args.num_pairs, seed=args.seed, max_clauses=args.max_clauses)
    train_pairs, valid_pairs, test_pairs = split_pairs(pairs, args.valid_fraction, args.test_fraction, args.seed)
    log.info("%d sentence pairs: %d train, %d valid, %d test", len(pairs), len(train_pairs), len(valid_pairs),
             len(test_pairs))
    for src, tgt in train_pairs[:3]:
        log.info("  %s  ->  %s", src, tgt)

    src_vocab = Vocab.build(tokenize(src) for src, _ in train_pairs)
    tgt_vocab = Vocab.build(tokenize(tgt) for _, tgt in train_pairs)
    log.info("vocabularies: %d source tokens, %d target tokens", len(src_vocab), len(tgt_vocab))
    save_vocabs(args.vocab_path, src_vocab, tgt_vocab)

    train_set = TranslationDataset(train_pairs, src_vocab, tgt_vocab, args.max_len)
    valid_set = TranslationDataset(valid_pairs, src_vocab, tgt_vocab, args.max_len)
    test_set = TranslationDataset(test_pairs, src_vocab, tgt_vocab, args.max_len)
    train_loader = make_loader(train_set, args.batch_size, shuffle=True, seed=args.seed)
    valid_loader = make_loader(valid_set, args.batch_size, shuffle=False)
    test_loader = make_loader(test_set, args.batch_size, shuffle=False)

    model = Seq2SeqTransformer(len(src_vocab), len(tgt_vocab), args.d_model, args.nhead, args.encoder_layers,
                               args.decoder_layers, args.ffn_dim, args.dropout)
    log.info("model: %d trainable parameters", count_parameters(model))
    # NNCF masks every linear / attention projection / embedding weight; the scheduler raises the pruned
    # share epoch by epoch. The example inputs are one training batch with its masks.
    src, tgt = next(iter(train_loader))
    example = (src, tgt[:, :-1], *create_masks(src, tgt[:, :-1]))
    mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_GLOBAL
    model = nncf.prune(model, mode=mode, ratio=0.0, examples_inputs=example)
    pruning = MultiStepMagnitudePruningScheduler(model, mode=mode, steps={0: args.sparsity / 2, 1: args.sparsity})
    criterion = nn.CrossEntropyLoss(ignore_index=PAD_IDX, label_smoothing=args.label_smoothing)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, noam_lambda(args.d_model, args.warmup_steps))
    translator = Translator(model, src_vocab, tgt_vocab, args.max_len)
    stopper = EarlyStopping(args.patience)
    samples = [src for src, _ in valid_pairs[:3]]

    for epoch in range(1, args.epochs + 1):
        pruning.step()
        log.info("epoch %d: pruning ratio %.2f", epoch, nncf.pruning_statistic(model).pruning_ratio)
        train_stats = train_epoch(model, train_loader, optimizer, scheduler, criterion, epoch, args.clip,
                                  args.log_every)
        valid_stats = evaluate(model, valid_loader, criterion)
        log.info("epoch %d: train loss %.4f (ppl %.2f, acc %.3f, %.1fs) | valid loss %.4f (ppl %.2f, acc %.3f)",
                 epoch, train_stats.loss, train_stats.perplexity, train_stats.token_accuracy, train_stats.seconds,
                 valid_stats.loss, valid_stats.perplexity, valid_stats.token_accuracy)
        for sentence in samples:
            log.info("  %s  =>  %s", sentence, translator.translate(sentence))
        improved, stop = stopper.step(valid_stats.loss)
        if improved:
            save_checkpoint(args.checkpoint, model, optimizer, scheduler, epoch, stopper.best, args)
        if stop:
            log.info("no improvement for %d epochs: stopping", args.patience)
            break

    test_stats = evaluate(model, test_loader, criterion)
    bleu, exact = score_translations(translator, test_pairs[: args.bleu_sentences])
    log.info("test: loss %.4f, ppl %.2f, token accuracy %.3f, BLEU %.2f, exact match %.3f", test_stats.loss,
             test_stats.perplexity, test_stats.token_accuracy, bleu, exact)

    torch.save(model.state_dict(), args.save_path)
    log.info("saved the model to %s and the vocabularies to %s", args.save_path, args.vocab_path)


if __name__ == "__main__":
    main()
