"""How fast the embedded model answers one prompt family, three ways, measured in one run: `make speed`.

A prompt family is what the benchmark asks of one prompt: temperature 0 (greedy, decoded once) plus n samples at each
other temperature. The figures compare
- `generate`: transformers' `model.generate` per temperature, float32 (the prompt is read again for every sampled row);
- `shared`: shared-prefix decoding (`backends/_decode.py`), float32;
- `shared+int8`: the same with int8 linear layers (`-M quantize=int8`, off by default: it changes the answers).
Printed as seconds and as speed-ups over `generate`; the ratios, not the seconds, are what carries to another CPU."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

from .backends import get_backend
from .backends._decode import RowSpec, decode_rows, prefill
from .matrix import DEFAULT_TEMPERATURES, quick_profile
from .prompts import render_prompt
from .tasks import load_tasks
from .types import Setting

log = logging.getLogger(__name__)


def family_rows(temperatures: tuple[float, ...], n: int, max_new_tokens: int) -> list[RowSpec]:
    rows = []
    for temperature in temperatures:
        rows += [RowSpec(temperature, max_new_tokens, seed=j) for j in range(1 if temperature <= 0 else n)]
    return rows


def time_generate(loaded, prompt_ids: list[int], rows: list[RowSpec]) -> float:
    torch, model = loaded.torch, loaded.model
    ids = torch.tensor([prompt_ids])
    started = time.perf_counter()
    with torch.inference_mode():
        for temperature in sorted({r.temperature for r in rows}):
            count = sum(r.temperature == temperature for r in rows)
            sampling = {"do_sample": False} if temperature <= 0 else {"do_sample": True, "temperature": temperature}
            model.generate(ids, max_new_tokens=rows[0].max_new_tokens, min_new_tokens=rows[0].max_new_tokens,
                           num_return_sequences=count, pad_token_id=next(iter(loaded.eos_ids)), **sampling)
    return time.perf_counter() - started


def time_shared(loaded, prompt_ids: list[int], rows: list[RowSpec]) -> float:
    started = time.perf_counter()
    decode_rows(loaded.model, loaded.torch, prefill(loaded.model, loaded.torch, prompt_ids), rows, set())
    return time.perf_counter() - started


def measure(task_id: str | None, tokens: int, n: int, threads: int) -> list[tuple[str, float]]:
    task = load_tasks([task_id])[0] if task_id else quick_profile(load_tasks())[0]
    float32 = get_backend("embedded", {"quantize": "none", "threads": str(threads)}).load()
    int8 = get_backend("embedded", {"quantize": "int8", "threads": str(threads)}).load()
    messages = list(render_prompt(task, Setting.zero_shot).messages)
    text = float32.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = float32.tokenizer(text, add_special_tokens=False).input_ids
    rows = family_rows(DEFAULT_TEMPERATURES, n, tokens)  # every row runs to the limit: no end token counted
    log.info("task %s: %d prompt tokens, %d rows x %d new tokens, %d thread(s)", task.id, len(prompt_ids), len(rows),
             tokens, threads)
    ways: list[tuple[str, Callable[[], float]]] = [
        ("generate", lambda: time_generate(float32, prompt_ids, rows)),
        ("shared", lambda: time_shared(float32, prompt_ids, rows)),
        ("shared+int8", lambda: time_shared(int8, prompt_ids, rows)),
    ]
    return [(name, run()) for name, run in ways]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", help="task id (default: the first of the quick profile)")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per row")
    parser.add_argument("-n", type=int, default=3, help="samples per non-zero temperature")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("torchao").setLevel(logging.ERROR)
    results = measure(args.task, args.tokens, args.n, args.threads)
    base = results[0][1]
    for name, seconds in results:
        log.info("%-12s %7.1f s   x%.2f", name, seconds, base / seconds)


if __name__ == "__main__":
    main()
