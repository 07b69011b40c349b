"""Machine-readable outputs: CSV and JSON of every Pass@k cell, failure counts and usage."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence

from benchmark.types import SCHEMA_VERSION, FailureCategory, SampleRecord

from ._counts import UsageRow
from ._tables import GROUP_AXES, CellStat


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def cells_csv(stats: Sequence[CellStat], ks: Sequence[int], with_ci: bool) -> str:
    header = list(GROUP_AXES) + ["n_tasks", "n_samples"] + [f"pass@{k}" for k in ks]
    if with_ci:
        header += [f"pass@{k}_{end}" for k in ks for end in ("ci_low", "ci_high")]
    rows = []
    for stat in stats:
        row = [_csv_value(stat.group[a]) for a in GROUP_AXES] + [stat.n_tasks, stat.n_samples]
        row += [_fmt(stat.pass_at.get(k)) for k in ks]
        if with_ci:
            row += [_fmt(b) for k in ks for b in (stat.ci.get(k) or (None, None))]
        rows.append(row)
    return _to_csv(header, rows)


def _csv_value(value: object) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _to_csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def cells_json(stats: Sequence[CellStat], run_id: str, k: int, ks: Sequence[int], with_ci: bool) -> str:
    cells = [{"group": s.group, "n_tasks": s.n_tasks, "n_samples": s.n_samples,
              "pass_at": {str(x): s.pass_at.get(x) for x in ks},
              **({"ci95": {str(x): list(s.ci[x]) if s.ci.get(x) else None for x in ks}} if with_ci else {})}
             for s in stats]
    doc = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "k": k, "ks": list(ks), "ci": with_ci, "cells": cells}
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def failures_csv(records: Sequence[SampleRecord]) -> str:
    """Long format: one row per (model, setting, retrieval, kind, value) with its count."""
    counts: Counter = Counter()
    for r in records:
        base = (r.key.model, r.key.setting.value, r.key.retrieval)
        counts[base + ("category", r.verdict.category.value)] += 1
        counts[base + ("extraction", r.extraction.kind)] += 1
        if r.verdict.category is FailureCategory.check_failed:
            counts[base + ("check_code", r.verdict.code)] += 1
    rows = [list(key) + [n] for key, n in sorted(counts.items())]
    return _to_csv(["model", "setting", "retrieval", "kind", "value", "count"], rows)


def usage_csv(rows: Sequence[UsageRow], axes: Sequence[str]) -> str:
    header = list(axes) + ["samples", "prompt_tokens", "completion_tokens", "latency_mean_s", "latency_p95_s",
                           "cost_usd"]
    body = [[_csv_value(v) for v in row.group] + [row.samples, row.prompt_tokens, row.completion_tokens,
                                                  f"{row.latency_mean_s:.3f}", f"{row.latency_p95_s:.3f}",
                                                  "" if row.cost_usd is None else f"{row.cost_usd:.6f}"]
            for row in rows]
    return _to_csv(header, body)
