"""Machine-readable outputs: CSV and JSON of every Pass@k cell, failure counts, usage, and the loop's tables
(pass@1 per round, verdicts per round, edits, cost)."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence

from benchmark.metrics import LOOP_AXES, axis_value
from benchmark.types import SCHEMA_VERSION, FailureCategory, SampleRecord

from ._counts import CountTable, UsageRow
from ._loop import CostRow, EditRow, RoundTable
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
    """Long format: one row per (model, setting, retrieval, loop axes, kind, value) with its count."""
    counts: Counter = Counter()
    for r in records:
        base = (r.key.model, r.key.setting.value, r.key.retrieval, *(_csv_value(axis_value(r, a)) for a in LOOP_AXES))
        counts[base + ("category", r.verdict.category.value)] += 1
        counts[base + ("extraction", r.extraction.kind)] += 1
        if r.verdict.category is FailureCategory.check_failed:
            counts[base + ("check_code", r.verdict.code)] += 1
    rows = [list(key) + [n] for key, n in sorted(counts.items())]
    return _to_csv(["model", "setting", "retrieval", *LOOP_AXES, "kind", "value", "count"], rows)


def usage_csv(rows: Sequence[UsageRow], axes: Sequence[str]) -> str:
    header = list(axes) + ["samples", "prompt_tokens", "completion_tokens", "latency_mean_s", "latency_p95_s",
                           "cost_usd"]
    body = [[_csv_value(v) for v in row.group] + [row.samples, row.prompt_tokens, row.completion_tokens,
                                                  f"{row.latency_mean_s:.3f}", f"{row.latency_p95_s:.3f}",
                                                  "" if row.cost_usd is None else f"{row.cost_usd:.6f}"]
            for row in rows]
    return _to_csv(header, body)


def rounds_csv(table: RoundTable) -> str:
    header = list(table.axes) + ["samples"] + [f"pass@1_after_round_{r}" for r in range(1, table.rounds + 1)]
    body = [[_csv_value(v) for v in row.group] + [row.samples] + [_fmt(v) for v in row.pass_by_round]
            for row in table.rows]
    return _to_csv(header, body)


def round_failures_csv(counts: CountTable) -> str:
    """Long format: one row per (configuration, round, verdict category) with its count of attempts."""
    body = [[_csv_value(v) for v in row] + [column, counter[column]]
            for row, counter in counts.rows for column in counts.columns if counter.get(column)]
    return _to_csv(list(counts.row_axes) + ["category", "attempts"], body)


def edits_csv(rows: Sequence[EditRow], axes: Sequence[str]) -> str:
    header = list(axes) + ["attempts", "edits", "well_formed", "well_formed_share", "edit_malformed", "edit_no_match",
                           "merged", "not_edits"]
    body = [[_csv_value(v) for v in r.group] + [r.attempts, r.edits, r.well_formed, _fmt(r.well_formed_share),
                                                r.malformed, r.no_match, r.merged, r.not_edits] for r in rows]
    return _to_csv(header, body)


COST_FIELDS = ("samples", "passed", "success_rate", "tasks", "solved_tasks", "total_usd", "mean_usd",
               "usd_per_pass", "usd_per_solved_task", "mean_attempts")


def _cost_values(row: CostRow) -> dict[str, float | int | None]:
    return {name: getattr(row, name) for name in COST_FIELDS}


def costs_csv(rows: Sequence[CostRow], axes: Sequence[str]) -> str:
    """One row per model or cascade (and varying setting, retrieval, loop axes); final answers per member as
    'model:count;model:count'."""
    body = []
    for row in rows:
        values = [v if isinstance(v, int) else _fmt(v) for v in _cost_values(row).values()]
        body.append([_csv_value(v) for v in row.group] + values + [";".join(f"{m}:{n}" for m, n in row.final_models)])
    return _to_csv(list(axes) + list(COST_FIELDS) + ["final_models"], body)


def loop_json(run_id: str, rounds: RoundTable, edits: Sequence[EditRow], edit_axes: Sequence[str],
              costs: Sequence[CostRow], cost_axes: Sequence[str]) -> str:
    doc = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "max_rounds": rounds.rounds,
        "rounds": [{"group": dict(zip(rounds.axes, r.group)), "samples": r.samples,
                    "pass_at_1_after_round": list(r.pass_by_round)} for r in rounds.rows],
        "edits": [{"group": dict(zip(edit_axes, r.group)), "attempts": r.attempts, "edits": r.edits,
                   "well_formed": r.well_formed, "well_formed_share": r.well_formed_share,
                   "edit_malformed": r.malformed, "edit_no_match": r.no_match, "merged": r.merged} for r in edits],
        "costs": [{"group": dict(zip(cost_axes, r.group)), **_cost_values(r), "final_models": dict(r.final_models)}
                  for r in costs],
    }
    return json.dumps(doc, indent=2) + "\n"
