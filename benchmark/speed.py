"""How fast the embedded code model answers one prompt family on this machine, per engine, in one run: `make speed`.

A prompt family is what the benchmark asks of one prompt: temperature 0 (greedy, decoded once) plus n samples at each
other temperature (7 rows for n = 3). Every row is decoded to the token limit (no early stop), so engines do the same
work. Printed per engine: prefill (prompt tokens/s), decode of one row (tokens/s), and the whole family's wall time,
with each family time's speed-up over transformers float32. Engines:

- `llama.cpp`: llama.cpp's server on the Q4_K_M file. `family/sequential` sends the family's requests one after the
  other, so later ones find the prompt in the slot's cache (what the backend does); `family/parallel` sends them at
  once (each slot reads the prompt itself; the server then decodes every row in one batch).
- `transformers/<dtype>`: the model dequantised, with the project's shared-prefix decoding (`backends/_decode.py`):
  float32, bfloat16, and float32 with int8 linear layers.

Also printed: the memory bandwidth of one large copy, and the decode ceiling it implies for one row (weights read
once per step). The ratios, not the seconds, carry to another CPU."""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .backends import get_backend
from .backends._decode import RowSpec, decode_rows, prefill
from .matrix import DEFAULT_TEMPERATURES
from .prompts import render_prompt
from .tasks import load_tasks
from .types import Setting

log = logging.getLogger(__name__)
MODEL = "embedded/qwen2.5-coder-1.5b"
DEFAULT_TASK = "mlflow-tracking-sklearn-sgd-early-stopping"
TRANSFORMERS_WAYS = (("float32", "none"), ("bfloat16", "none"), ("float32", "int8"))


@dataclass
class Figures:
    engine: str
    prompt_tokens: int
    prefill_tps: float
    decode_tps: float
    family_s: dict[str, float]
    load_s: float | None = None


def family_rows(temperatures: tuple[float, ...], n: int, max_new_tokens: int) -> list[RowSpec]:
    rows = []
    for temperature in temperatures:
        rows += [RowSpec(temperature, max_new_tokens, seed=j) for j in range(1 if temperature <= 0 else n)]
    return rows


def family_requests(temperatures: tuple[float, ...], n: int) -> list[tuple[float, int]]:
    """(temperature, rows) per request of a family: greedy is one row, the others n rows."""
    return [(t, 1 if t <= 0 else n) for t in temperatures]


# ---------------------------------------------------------------- llama.cpp


def _post(base_url: str, body: dict) -> dict:
    request = urllib.request.Request(f"{base_url}/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=3600) as response:
        return json.loads(response.read())


def _fresh(messages: list[dict]) -> list[dict]:
    """The same prompt behind a unique first line, so no measurement finds another one's prompt in the cache."""
    first = {**messages[0], "content": f"[{uuid.uuid4().hex[:8]}] {messages[0]['content']}"}
    return [first, *messages[1:]]


def measure_llamacpp(messages: list[dict], tokens: int, n: int, threads: int) -> Figures:
    backend = get_backend(MODEL, {"threads": str(threads), "parallel": str(2 * n + 1)})
    started = time.perf_counter()
    backend.start()
    load = time.perf_counter() - started
    url = backend._server.base_url
    body = {"model": "adaptbench-model", "ignore_eos": True}
    prompt = _post(url, {**body, "messages": _fresh(messages), "max_tokens": 1, "cache_prompt": False})["timings"]
    decode = _post(url, {**body, "messages": _fresh(messages), "max_tokens": tokens, "temperature": 0})["timings"]
    requests = family_requests(DEFAULT_TEMPERATURES, n)

    def ask(msgs, temperature, rows):
        return _post(url, {**body, "messages": msgs, "max_tokens": tokens, "temperature": temperature, "n": rows})

    def sequential() -> None:
        msgs = _fresh(messages)
        for temperature, rows in requests:
            ask(msgs, temperature, rows)

    def parallel() -> None:
        msgs = _fresh(messages)
        with ThreadPoolExecutor(len(requests)) as pool:
            list(pool.map(lambda r: ask(msgs, *r), requests))

    family = {"sequential": _timed(sequential), "parallel": _timed(parallel)}
    backend.close()
    return Figures("llama.cpp (Q4_K_M)", prompt["prompt_n"], prompt["prompt_per_second"],
                   decode["predicted_per_second"], family, load)


# ---------------------------------------------------------------- transformers


def measure_transformers(messages: list[dict], tokens: int, n: int, threads: int, dtype: str, quantize: str) -> Figures:
    backend = get_backend(MODEL, {"engine": "transformers", "dtype": dtype, "quantize": quantize,
                                  "threads": str(threads)})
    loaded = backend.load()
    text = loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = loaded.tokenizer(text, add_special_tokens=False).input_ids
    started = time.perf_counter()
    prefix = prefill(loaded.model, loaded.torch, ids)
    prefill_s = time.perf_counter() - started
    one = _timed(lambda: decode_rows(loaded.model, loaded.torch, prefix, [RowSpec(0.0, tokens)], set()))
    rows = family_rows(DEFAULT_TEMPERATURES, n, tokens)
    decode_family = _timed(lambda: decode_rows(loaded.model, loaded.torch, prefix, rows, set()))
    name = f"transformers {dtype}" + (" +int8" if quantize == "int8" else "")
    figures = Figures(name, len(ids), len(ids) / prefill_s, tokens / one,
                      {"shared-prefix": prefill_s + decode_family}, backend.load_seconds)
    backend.close()
    return figures


# ---------------------------------------------------------------- the machine


def copy_bandwidth_gbs(size_mb: int = 512) -> float:
    import numpy as np

    src = np.ones(size_mb * 2**20 // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    seconds = _timed(lambda: np.copyto(dst, src))
    return 2 * src.nbytes / seconds / 1e9  # read + write


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def report(results: list[Figures], weights_gb: float, bandwidth: float, tokens: int, n: int) -> list[str]:
    lines = [f"prompt {results[0].prompt_tokens} tokens; family = {len(family_rows(DEFAULT_TEMPERATURES, n, tokens))} "
             f"rows x {tokens} new tokens; memory copy {bandwidth:.1f} GB/s -> one-row decode ceiling at Q4 "
             f"~{bandwidth / weights_gb:.0f} tok/s",
             f"{'engine':28} {'load s':>7} {'prefill tok/s':>14} {'decode tok/s':>13}  family wall s (x vs float32)"]
    base = next((r.family_s["shared-prefix"] for r in results if r.engine == "transformers float32"), None)
    for r in results:
        family = "  ".join(f"{way} {s:.1f}" + (f" (x{base / s:.2f})" if base else "") for way, s in r.family_s.items())
        load = f"{r.load_s:.1f}" if r.load_s is not None else "-"
        lines.append(f"{r.engine:28} {load:>7} {r.prefill_tps:>14.1f} {r.decode_tps:>13.1f}  {family}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=DEFAULT_TASK)
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per row")
    parser.add_argument("-n", type=int, default=3, help="samples per non-zero temperature")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--engines", default="llama.cpp,transformers", help="comma-separated subset")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("torchao", "benchmark.backends", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    task = load_tasks([args.task])[0]
    messages = [dict(m) for m in render_prompt(task, Setting.zero_shot).messages]
    engines = {e.strip() for e in args.engines.split(",")}
    results = []
    if "llama.cpp" in engines:
        results.append(measure_llamacpp(messages, args.tokens, args.n, args.threads))
    if "transformers" in engines:
        results += [measure_transformers(messages, args.tokens, args.n, args.threads, d, q) for d, q in TRANSFORMERS_WAYS]
    from .backends.weights import QWEN25_CODER_1_5B

    for line in report(results, QWEN25_CODER_1_5B.size / 1e9, copy_bandwidth_gbs(), args.tokens, args.n):
        log.info("%s", line)


if __name__ == "__main__":
    main()
