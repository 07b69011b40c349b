"""Failure analysis (verdict categories, top failing check codes, extraction kinds) and cost/usage per model and cell."""

from __future__ import annotations

import logging
import os
import tomllib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.metrics import axis_value
from benchmark.types import FailureCategory, RunSpec, SampleRecord

from ._labels import sort_key
from ._load import ReportError

log = logging.getLogger(__name__)

PRICES_ENV = "ADAPTBENCH_PRICES"
DEFAULT_PRICES = Path(__file__).with_name("prices.toml")
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
    per_row: dict[tuple, Counter] = {}
    for record in records:
        row = tuple(axis_value(record, a) for a in row_axes)
        per_row.setdefault(row, Counter())[value(record)] += 1
    seen = set().union(*per_row.values()) if per_row else set()
    columns = [c for c in order if c in seen] + sorted(seen - set(order))
    rows = sorted(per_row.items(), key=lambda kv: tuple(sort_key(a, v, spec) for a, v in zip(row_axes, kv[0])))
    return CountTable(title=title, row_axes=tuple(row_axes), columns=tuple(columns), rows=tuple(rows))


def breakdown_axes(records: Sequence[SampleRecord]) -> tuple[str, ...]:
    """Model and setting, plus the retrieval strategy when the run used more than one."""
    axes = ["model", "setting"]
    if len({r.key.retrieval for r in records}) > 1:
        axes.append("retrieval")
    return tuple(axes)


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
class Price:
    input_per_mtok: float
    output_per_mtok: float


@dataclass(frozen=True)
class UsageRow:
    group: tuple
    samples: int
    prompt_tokens: int
    completion_tokens: int
    latency_mean_s: float
    latency_p95_s: float
    cost_usd: float | None


def load_prices(path: str | Path | None = None) -> dict[str, Price]:
    """Model name -> price (USD per million tokens) from prices.toml ($ADAPTBENCH_PRICES overrides the default)."""
    path = Path(path or os.environ.get(PRICES_ENV) or DEFAULT_PRICES)
    if not path.is_file():
        log.warning("price table %s not found; costs are left blank", path)
        return {}
    try:
        raw = tomllib.loads(path.read_text()).get("models", {})
        return {name: Price(float(p["input_per_mtok"]), float(p["output_per_mtok"])) for name, p in raw.items()}
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ReportError(f"{path}: bad price table ({exc!r})",
                          'write [models."<model name>"] with input_per_mtok = ... and output_per_mtok = ...') from None


def usage_rows(records: Sequence[SampleRecord], axes: Sequence[str], prices: dict[str, Price],
               spec: RunSpec | None = None) -> list[UsageRow]:
    groups: dict[tuple, list[SampleRecord]] = {}
    for record in records:
        groups.setdefault(tuple(axis_value(record, a) for a in axes), []).append(record)
    order = sorted(groups, key=lambda g: tuple(sort_key(a, v, spec) for a, v in zip(axes, g)))
    return [_usage_row(g, groups[g], prices) for g in order]


def _usage_row(group: tuple, records: list[SampleRecord], prices: dict[str, Price]) -> UsageRow:
    tokens_in = sum(r.completion.usage.prompt_tokens for r in records)
    tokens_out = sum(r.completion.usage.completion_tokens for r in records)
    latencies = np.array([r.completion.latency_s for r in records], dtype=float)
    cost: float | None = 0.0
    for record in records:
        price = prices.get(record.key.model)
        if price is None:
            cost = None
            break
        cost += (record.completion.usage.prompt_tokens * price.input_per_mtok
                 + record.completion.usage.completion_tokens * price.output_per_mtok) / 1e6
    return UsageRow(group=group, samples=len(records), prompt_tokens=tokens_in, completion_tokens=tokens_out,
                    latency_mean_s=float(latencies.mean()), latency_p95_s=float(np.percentile(latencies, 95)),
                    cost_usd=cost)
