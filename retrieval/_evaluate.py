"""Retrieval quality on the Translation tasks, against the target-library symbols each reference solution uses.

Per task, retrieval (strategy and options) and k:

- coverage@k: the share of the target symbols that the k retrieved Docs-Y documents mention (the measure of the
  issue: does the prompt name what the translation needs?); `source_coverage` is the same for Docs-X against the
  symbols of the input code;
- recall@k (entries): the share of the target symbols whose own documentation entry (a heading or `usage:` line
  names it) is among the retrieved Docs-Y documents: stricter, a passing mention in a summary does not count;
- first relevant rank: the position of the first Docs-Y document that mentions a target symbol (None: none does).

`summarise_eval` averages them over the tasks, per retrieval; `eval_markdown` writes the table a report includes.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Sequence

from benchmark.types import Category, Task

from ._llm import LLMSpec
from ._options import parse_retrieval
from ._strategies import get_strategy, source_symbols, target_symbols
from ._symbols import Symbol, covered

log = logging.getLogger(__name__)

DEFAULT_KS = (1, 3, 5)


def coverage(symbols: list[Symbol], docs: Iterable[dict]) -> float | None:
    """Share of `symbols` mentioned in `docs`; None when there is nothing to cover."""
    if not symbols:
        return None
    return len(covered(symbols, list(docs))) / len(symbols)


def entry_recall(symbols: list[Symbol], docs: Iterable[dict]) -> float | None:
    """Share of `symbols` whose documentation entry is among `docs` (the document's heading names the symbol)."""
    if not symbols:
        return None
    docs = list(docs)
    return sum(any(s.defined_in(d.get("text", "")) for d in docs) for s in symbols) / len(symbols)


def first_relevant(symbols: list[Symbol], docs: Sequence[dict]) -> int | None:
    """1-based position of the first document that mentions one of `symbols`."""
    return next((i for i, doc in enumerate(docs, 1) if covered(symbols, [doc])), None)


def retrieval_eval(tasks: Iterable[Task], retrievals: Iterable[str], ks: Sequence[int] | int = DEFAULT_KS,
                   model: LLMSpec = None) -> list[dict]:
    """One row per (Translation task, retrieval, k): coverage@k of Docs-Y and Docs-X, recall of the entries, the
    first relevant rank, and which target symbols were missed."""
    ks = sorted({ks} if isinstance(ks, int) else set(ks))
    retrievals = [parse_retrieval(name).name for name in retrievals]
    rows = []
    for task in (t for t in tasks if t.category is Category.translation):
        wanted_y, wanted_x = target_symbols(task), source_symbols(task)
        for name in retrievals:
            for k in ks:
                docs_x, docs_y = get_strategy(name, k=k, model=model).retrieve(task)
                rows.append(_row(task, name, k, wanted_y, wanted_x, docs_x, docs_y))
                log.info("%s %s coverage@%d %s", task.id, name, k, rows[-1]["coverage"])
    return rows


def _row(task: Task, name: str, k: int, wanted_y: list[Symbol], wanted_x: list[Symbol], docs_x: list[dict],
         docs_y: list[dict]) -> dict:
    spec = parse_retrieval(name)
    hit = {s.name for s in covered(wanted_y, docs_y)}
    return {
        "task": task.id, "retrieval": name, "strategy": spec.strategy, "options": list(spec.options), "k": k,
        "coverage": coverage(wanted_y, docs_y), "recall": entry_recall(wanted_y, docs_y),
        "first_relevant": first_relevant(wanted_y, docs_y), "source_coverage": coverage(wanted_x, docs_x),
        "symbols": [s.name for s in wanted_y], "missing": [s.name for s in wanted_y if s.name not in hit],
        "docs_source": [d["title"] for d in docs_x], "docs_target": [d["title"] for d in docs_y],
    }


def mean_coverage(rows: list[dict], k: int | None = None) -> dict[str, float | None]:
    """retrieval -> mean coverage over the tasks that have symbols (at `k`, default: the largest k evaluated)."""
    k = k if k is not None else max((r["k"] for r in rows), default=0)
    return {name: _mean(r["coverage"] for r in rows if r["retrieval"] == name and r["k"] == k)
            for name in dict.fromkeys(r["retrieval"] for r in rows)}


def summarise_eval(rows: list[dict]) -> list[dict]:
    """One dict per retrieval: mean coverage@k and recall@k for each k, Docs-X coverage, and the mean first
    relevant rank at the largest k (a task with no relevant document counts as rank k+1), with how many had one."""
    ks = sorted({r["k"] for r in rows})
    out = []
    for name in dict.fromkeys(r["retrieval"] for r in rows):
        mine = [r for r in rows if r["retrieval"] == name]
        summary = {"retrieval": name, "tasks": len({r["task"] for r in mine})}
        for k in ks:
            at_k = [r for r in mine if r["k"] == k]
            summary[f"coverage@{k}"] = _mean(r["coverage"] for r in at_k)
            summary[f"recall@{k}"] = _mean(r["recall"] for r in at_k)
            summary[f"source_coverage@{k}"] = _mean(r["source_coverage"] for r in at_k)
        deepest = [r for r in mine if r["k"] == ks[-1]]
        ranks = [r["first_relevant"] for r in deepest if r["symbols"]]
        summary["first_relevant_found"] = sum(rank is not None for rank in ranks)
        summary["first_relevant_mean"] = _mean(rank or ks[-1] + 1 for rank in ranks)
        out.append(summary)
    return out


def _mean(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def eval_markdown(summary: list[dict], facts: dict) -> str:
    """The table a report includes: one row per retrieval, then what it was measured on."""
    ks = sorted({int(key.split("@")[1]) for s in summary for key in s if key.startswith("coverage@")})
    mid = 3 if 3 in ks else ks[len(ks) // 2]
    header = ["retrieval", *(f"coverage@{k}" for k in ks), f"recall@{mid}", f"first relevant (of {ks[-1]})",
              f"Docs-X coverage@{mid}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summary:
        first = ("n/a" if s["first_relevant_mean"] is None else
                 f"{s['first_relevant_mean']:.1f} ({s['first_relevant_found']}/{s['tasks']} found)")
        cells = [f"`{s['retrieval']}`", *(_pct(s[f"coverage@{k}"]) for k in ks), _pct(s[f"recall@{mid}"]), first,
                 _pct(s[f"source_coverage@{mid}"])]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {key}: {value}" for key, value in facts.items()]
    return "\n".join([*lines, "", *notes]) + "\n"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"
