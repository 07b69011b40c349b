"""Failure analysis (verdict categories, top failing check codes, extraction kinds) and cost/usage per model and cell."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from benchmark.costs import Price, load_prices, price_for
from benchmark.metrics import axis_value, varying_axes
from benchmark.types import FailureCategory, RunSpec, SampleRecord

from ._labels import sort_key

# Price and load_prices live in benchmark.costs; they are re-exported here for `reports.load_prices`.
__all__ = ["CountTable", "Price", "UsageRow", "breakdown_axes", "count_pairs", "count_table", "failure_tables",
           "load_prices", "record_cost", "usage_rows"]

CATEGORY_ORDER = tuple(c.value for c in FailureCategory)


@dataclass(frozen=True)
class CountTable:
    """Counts of a per-sample value (columns) for each row group."""

    title: str
    row_axes: tuple[str, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[tuple, Counter], ...]


def count_table(records: Sequence[SampleRecord], row_axes: Sequence[str], value: Callable[[SampleRecord], str],
                title: str, order: Sequence[str] = (), spec: RunSpec | None = None) -> CountTable:
    pairs = ((tuple(axis_value(r, a) for a in row_axes), value(r)) for r in records)
    return count_pairs(pairs, row_axes, title, order, spec)


def count_pairs(pairs: Iterable[tuple[tuple, str]], row_axes: Sequence[str], title: str, order: Sequence[str] = (),
                spec: RunSpec | None = None) -> CountTable:
    """A CountTable from (row values, column) pairs, one per counted item."""
    per_row: dict[tuple, Counter] = {}
    for row, column in pairs:
        per_row.setdefault(row, Counter())[column] += 1
    seen = set().union(*per_row.values()) if per_row else set()
    columns = [c for c in order if c in seen] + sorted(seen - set(order))
    rows = sorted(per_row.items(), key=lambda kv: tuple(sort_key(a, v, spec) for a, v in zip(row_axes, kv[0])))
    return CountTable(title=title, row_axes=tuple(row_axes), columns=tuple(columns), rows=tuple(rows))


def breakdown_axes(records: Sequence[SampleRecord]) -> tuple[str, ...]:
    """Model and setting, plus the retrieval strategy and the loop axes that take more than one value in the run."""
    return ("model", "setting", *varying_axes(records, ("retrieval",)), *varying_axes(records))


def failure_tables(records: Sequence[SampleRecord], spec: RunSpec | None = None) -> list[CountTable]:
    axes = breakdown_axes(records)
    failed = [r for r in records if r.verdict.category is FailureCategory.check_failed]
    return [
        count_table(records, axes, lambda r: r.verdict.category.value, "Verdict categories", CATEGORY_ORDER, spec),
        _check_code_table(failed, spec),
        count_table(records, axes, lambda r: r.extraction.kind, "Code extraction kinds", spec=spec),
    ]


def _check_code_table(failed: Sequence[SampleRecord], spec: RunSpec | None, top: int = 10) -> CountTable:
    """The most frequent first-failing check codes, counted per model (most frequent first)."""
    per_code: dict[str, Counter] = {}
    for record in failed:
        per_code.setdefault(record.verdict.code, Counter())[record.key.model] += 1
    ranked = sorted(per_code.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:top]
    models = sorted({m for _, c in ranked for m in c}, key=lambda m: sort_key("model", m, spec))
    return CountTable(title=f"Top {top} failing check codes (check_failed)", row_axes=("check code",),
                      columns=tuple(models), rows=tuple(((code,), counts) for code, counts in ranked))


@dataclass(frozen=True)
class UsageRow:
    group: tuple
    samples: int
    prompt_tokens: int
    completion_tokens: int
    latency_mean_s: float
    latency_p95_s: float
    cost_usd: float | None


def record_cost(record: SampleRecord, prices: dict[str, Price]) -> float | None:
    """What a sample cost (USD): the cost its attempts recorded; for a version 1 record (no attempts, no cost) its
    tokens at the price table's list prices, None where its model has no price."""
    if record.attempts:
        return record.cost.usd
    price = price_for(record.key.model, prices)
    if price is None:
        return None
    usage = record.completion.usage
    return (usage.prompt_tokens * price.input_per_mtok + usage.completion_tokens * price.output_per_mtok) / 1e6


def usage_rows(records: Sequence[SampleRecord], axes: Sequence[str], prices: dict[str, Price],
               spec: RunSpec | None = None) -> list[UsageRow]:
    groups: dict[tuple, list[SampleRecord]] = {}
    for record in records:
        groups.setdefault(tuple(axis_value(record, a) for a in axes), []).append(record)
    order = sorted(groups, key=lambda g: tuple(sort_key(a, v, spec) for a, v in zip(axes, g)))
    return [_usage_row(g, groups[g], prices) for g in order]


def _usage_row(group: tuple, records: list[SampleRecord], prices: dict[str, Price]) -> UsageRow:
    """Tokens and latency summed over each sample's attempts; the cost blank where one sample's is unknown."""
    attempts = [[a.completion for a in r.all_attempts()] for r in records]
    latencies = np.array([sum(c.latency_s for c in sample) for sample in attempts], dtype=float)
    costs = [record_cost(r, prices) for r in records]
    return UsageRow(group=group, samples=len(records),
                    prompt_tokens=sum(c.usage.prompt_tokens for sample in attempts for c in sample),
                    completion_tokens=sum(c.usage.completion_tokens for sample in attempts for c in sample),
                    latency_mean_s=float(latencies.mean()), latency_p95_s=float(np.percentile(latencies, 95)),
                    cost_usd=None if any(c is None for c in costs) else sum(costs))
