"""Shared-prefix decoding for in-process models: a prompt is read once, then all its samples are decoded together.

A benchmark asks each prompt for many samples (n per temperature, several temperatures). `model.generate` reads the
prompt again for every sampled row, and on a CPU that prefill dominates. Here the prompt's KV cache is computed once
(`prefill`), copied into a preallocated cache for a batch of rows (`decode_rows`), and each row is sampled with its
own temperature, top-p, token limit and random generator: a row's output does not depend on the rows beside it.
Finished rows leave the batch."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STEPS_PER_CALLBACK = 8


@dataclass(frozen=True)
class RowSpec:
    """One sequence to decode: temperature <= 0 is greedy; `seed` None draws fresh randomness."""

    temperature: float
    max_new_tokens: int
    top_p: float | None = None
    seed: int | None = None


@dataclass
class RowOutput:
    token_ids: list[int]
    finished: bool = False  # reached an end-of-sequence token (else stopped by its token limit)


@dataclass(frozen=True)
class Prefix:
    """A prompt read once: its length, its KV cache (batch of one) and the logits of its last position."""

    length: int
    cache: Any
    logits: Any


def prefill(model: Any, torch: Any, prompt_ids: list[int], device: str = "cpu") -> Prefix:
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prompt_ids], dtype=torch.long, device=device), use_cache=True,
                    logits_to_keep=1)
    return Prefix(len(prompt_ids), _cache_of(out), out.logits[:, -1, :].float())


def decode_rows(model: Any, torch: Any, prefix: Prefix, rows: list[RowSpec], eos_ids: set[int],
                device: str = "cpu", every_steps: Callable[[], None] | None = None) -> list[RowOutput]:
    """Continue `prefix` once per row (each at most its `max_new_tokens`, the end token included).
    `every_steps`, when given, is called every STEPS_PER_CALLBACK steps (e.g. to adjust the CPU threads)."""
    outputs = [RowOutput([]) for _ in rows]
    live = [r for r, row in enumerate(rows) if row.max_new_tokens > 0]  # row numbers still decoding, in batch order
    if not live:
        return outputs
    generators = [_generator(torch, row.seed, device) for row in rows]
    longest = max(rows[r].max_new_tokens for r in live)
    with torch.inference_mode():
        cache = _static_copy(model, prefix.cache, len(live), prefix.length + longest)
        logits = prefix.logits.expand(len(live), -1)
        for step in itertools.count(1):
            if every_steps is not None and step % STEPS_PER_CALLBACK == 0:
                every_steps()
            tokens = [_pick(torch, logits[k], rows[r], generators[r]) for k, r in enumerate(live)]
            keep = []
            for k, (r, token) in enumerate(zip(live, tokens)):
                outputs[r].token_ids.append(token)
                outputs[r].finished = token in eos_ids
                if not outputs[r].finished and len(outputs[r].token_ids) < rows[r].max_new_tokens:
                    keep.append(k)
            if not keep:
                return outputs
            if len(keep) < len(live):
                cache = _select_rows(cache, keep, torch, device)
                live, tokens = [live[k] for k in keep], [tokens[k] for k in keep]
            step_ids = torch.tensor([[t] for t in tokens], dtype=torch.long, device=device)
            logits = model(input_ids=step_ids, cache=cache, use_cache=True).logits[:, -1, :].float()
    return outputs


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)  # transformers >= 5.2x; `past_key_values` before
    return cache if cache is not None else output.past_key_values


def _static_copy(model: Any, prefix_cache: Any, rows: int, max_len: int) -> Any:
    """The prompt's cache repeated for every row, in a preallocated cache: a growing cache copies itself at every
    step, which on a CPU costs more than the model once the prompt is a few thousand tokens long."""
    from transformers import StaticCache

    cache = StaticCache(config=model.config, max_cache_len=max_len)
    for index, layer in enumerate(prefix_cache.layers):
        cache.update(layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1), index)
    return cache


def _select_rows(cache: Any, keep: list[int], torch: Any, device: str) -> Any:
    index = torch.tensor(keep, device=device)
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys.index_select(0, index), layer.values.index_select(0, index)
        layer.batch_size = len(keep)
    return cache


def _generator(torch: Any, seed: int | None, device: str) -> Any:
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def _pick(torch: Any, logits: Any, row: RowSpec, generator: Any) -> int:
    if row.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / row.temperature, dim=-1)
    if row.top_p is not None and row.top_p < 1.0:
        probs = _nucleus(torch, probs, row.top_p)
    return int(torch.multinomial(probs, 1, generator=generator))


def _nucleus(torch: Any, probs: Any, top_p: float) -> Any:
    """Keep the smallest set of most likely tokens whose mass reaches top_p (always at least the top one)."""
    sorted_probs, order = torch.sort(probs, descending=True)
    before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)
