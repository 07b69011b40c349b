"""Pass@k cells of a run and their layout into the study's tables (Table I, Tables II-IV, Translation)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from benchmark.metrics import DEFAULT_GROUP, LOOP_AXES, cells
from benchmark.types import RunSpec, SampleRecord

from ._labels import FUNCTIONALITY_TITLES, fmt_percent, sort_key
from ._load import ReportError
from ._stats import bootstrap_ci, per_task_outcomes, per_task_pass_at

GROUP_AXES: tuple[str, ...] = tuple(DEFAULT_GROUP)
# The loop axes follow the model in a row label, each only where it varies (one-shot runs keep the study's layout).
OPTIONAL_LOOP_ROWS: tuple[tuple[str, bool], ...] = tuple((a, False) for a in LOOP_AXES)


@dataclass(frozen=True)
class CellStat:
    """One Pass@k cell (every group axis fixed, tasks pooled), with optional bootstrap intervals per k."""

    group: dict[str, Any]
    n_tasks: int
    n_samples: int
    pass_at: dict[int, float | None]
    ci: dict[int, tuple[float, float] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Shape:
    """Row and column axes of one table: (axis, always shown); an optional axis is shown only when it varies."""

    rows: tuple[tuple[str, bool], ...]
    cols: tuple[tuple[str, bool], ...]


SHAPES: dict[str, Shape] = {
    # Table I: rows component x model; columns temperature x {Zero-Shot, DocPrompt}.
    "model_optimization": Shape(rows=(("component", True), ("framework", False), ("retrieval", False), ("model", True),
                                      *OPTIONAL_LOOP_ROWS),
                                cols=(("temperature", True), ("setting", True))),
    # Translation: rows (source -> target) x retrieval strategy x model; columns temperature.
    "version_control": Shape(rows=(("pair", True), ("framework", False), ("retrieval", True), ("model", True),
                                   *OPTIONAL_LOOP_ROWS),
                             cols=(("temperature", True), ("setting", False))),
}
# Tables II-IV: rows component x training framework x model; columns temperature (x setting when both were run).
DEFAULT_SHAPE = Shape(rows=(("component", True), ("framework", True), ("retrieval", False), ("model", True),
                            *OPTIONAL_LOOP_ROWS),
                      cols=(("temperature", True), ("setting", False)))


@dataclass(frozen=True)
class Table:
    functionality: str
    title: str
    k: int
    row_axes: tuple[str, ...]
    col_axes: tuple[str, ...]
    rows: tuple[tuple, ...]
    cols: tuple[tuple, ...]
    cells: dict[tuple[tuple, tuple], CellStat]

    def cell(self, row: tuple, col: tuple) -> CellStat | None:
        return self.cells.get((row, col))


def choose_k(spec: RunSpec, k: int | None = None) -> int:
    """The k to report: the one asked for, else the largest k of the spec with n >= k (Pass@3 for n = 3)."""
    if k is not None:
        if k < 1:
            raise ReportError(f"k must be at least 1, got {k}")
        return k
    eligible = [x for x in spec.k if x <= spec.n]
    if eligible:
        return max(eligible)
    return min(spec.k) if spec.k else 1


def cell_stats(records: Sequence[SampleRecord], ks: Sequence[int], ci: bool = False) -> list[CellStat]:
    """Every cell of the run (all group axes), via `benchmark.metrics.cells`, plus bootstrap CIs when asked."""
    outcomes = per_task_outcomes(records, GROUP_AXES) if ci else {}
    out = []
    for cell in cells(records, ks, GROUP_AXES):
        intervals: dict[int, tuple[float, float] | None] = {}
        if ci:
            tasks = outcomes[tuple(cell.group[a] for a in GROUP_AXES)]
            for k in ks:
                values = per_task_pass_at(tasks, k)
                intervals[k] = bootstrap_ci(sorted(values.values())) if values else None
        out.append(CellStat(group=dict(cell.group), n_tasks=cell.n_tasks, n_samples=cell.n_samples,
                            pass_at=dict(cell.pass_at), ci=intervals))
    return out


def axis_of(group: dict[str, Any], axis: str) -> Any:
    if axis == "pair":
        return f"{group.get('source_component') or ''}->{group.get('component')}"
    return group.get(axis)


def build_tables(stats: Iterable[CellStat], k: int, spec: RunSpec | None = None) -> list[Table]:
    """One table per functionality present in the run, in the study's order."""
    by_functionality: dict[str, list[CellStat]] = {}
    for stat in stats:
        by_functionality.setdefault(stat.group["functionality"], []).append(stat)
    ordered = sorted(by_functionality, key=lambda f: sort_key("functionality", f))
    return [layout_table(f, FUNCTIONALITY_TITLES.get(f, f), by_functionality[f], SHAPES.get(f, DEFAULT_SHAPE), k, spec)
            for f in ordered]


def layout_table(key: str, title: str, stats: list[CellStat], shape: Shape, k: int, spec: RunSpec | None) -> Table:
    """Place cells on a grid: rows are the row-axis tuples present, columns the product of the column-axis values."""
    row_axes = _shown_axes(shape.rows, stats)
    col_axes = _shown_axes(shape.cols, stats)
    layout: dict[tuple[tuple, tuple], CellStat] = {}
    for stat in stats:
        row = tuple(axis_of(stat.group, a) for a in row_axes)
        col = tuple(axis_of(stat.group, a) for a in col_axes)
        layout[(row, col)] = stat
    rows = sorted({r for r, _ in layout}, key=lambda r: _tuple_key(row_axes, r, spec))
    col_values = [sorted({c[i] for _, c in layout}, key=lambda v, a=a: sort_key(a, v, spec))
                  for i, a in enumerate(col_axes)]
    return Table(functionality=key, title=title, k=k,
                 row_axes=row_axes, col_axes=col_axes, rows=tuple(rows), cols=tuple(product(*col_values)),
                 cells=layout)


def _shown_axes(axes: tuple[tuple[str, bool], ...], stats: list[CellStat]) -> tuple[str, ...]:
    return tuple(a for a, always in axes if always or len({axis_of(s.group, a) for s in stats}) > 1)


def _tuple_key(axes: Sequence[str], values: tuple, spec: RunSpec | None) -> tuple:
    return tuple(sort_key(a, v, spec) for a, v in zip(axes, values))


def cell_text(stat: CellStat | None, k: int, with_ci: bool, digits: int = 0) -> tuple[str, str, str]:
    """(pass@k %, number of tasks, CI) as plain strings; pass@k '–' where n < k, all blank where no cell."""
    if stat is None:
        return "", "", ""
    value = stat.pass_at.get(k)
    interval = stat.ci.get(k) if with_ci else None
    ci = f"{fmt_percent(interval[0], digits)}–{fmt_percent(interval[1], digits)}" if interval else ""
    return fmt_percent(value, digits), str(stat.n_tasks), ci
