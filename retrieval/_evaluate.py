"""Retrieval quality: coverage@k of Docs-Y, the share of the target-library symbols the reference solution uses
that the retrieved documents mention (and the same for Docs-X against the input code's source symbols)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from benchmark.types import Category, Task

from ._llm import LLMSpec
from ._strategies import DEFAULT_K, get_strategy, source_symbols, target_symbols
from ._symbols import Symbol, covered

log = logging.getLogger(__name__)


def coverage(symbols: list[Symbol], docs: Iterable[dict]) -> float | None:
    """Share of `symbols` mentioned in `docs`; None when there is nothing to cover."""
    if not symbols:
        return None
    return len(covered(symbols, list(docs))) / len(symbols)


def retrieval_eval(tasks: Iterable[Task], strategies: Iterable[str], k: int = DEFAULT_K,
                   model: LLMSpec = None) -> list[dict]:
    """One row per (Translation task, strategy): coverage@k of Docs-Y (and Docs-X), which symbols were missed."""
    rows = []
    for task in (t for t in tasks if t.category is Category.translation):
        wanted_y, wanted_x = target_symbols(task), source_symbols(task)
        for name in strategies:
            docs_x, docs_y = get_strategy(name, k=k, model=model).retrieve(task)
            hit = {s.name for s in covered(wanted_y, docs_y)}
            rows.append({
                "task": task.id, "strategy": name, "k": k,
                "coverage": coverage(wanted_y, docs_y), "source_coverage": coverage(wanted_x, docs_x),
                "symbols": [s.name for s in wanted_y], "missing": [s.name for s in wanted_y if s.name not in hit],
                "docs_source": len(docs_x), "docs_target": len(docs_y),
            })
            log.info("%s %s coverage@%d %s", task.id, name, k, rows[-1]["coverage"])
    return rows


def mean_coverage(rows: list[dict]) -> dict[str, float | None]:
    """strategy -> mean coverage over the tasks that have symbols."""
    out: dict[str, float | None] = {}
    for name in dict.fromkeys(r["strategy"] for r in rows):
        values = [r["coverage"] for r in rows if r["strategy"] == name and r["coverage"] is not None]
        out[name] = sum(values) / len(values) if values else None
    return out
