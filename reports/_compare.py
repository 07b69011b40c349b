"""Cell-by-cell comparison of two runs with a paired permutation test over tasks.

The unit of pairing is the task: a cell's value in each run is the mean over its tasks of the per-task unbiased
pass@k, so the test flips the sign of each task's difference (B - A) at random and asks how often the mean difference
is at least as large as observed. It is exact (all 2^m sign patterns) up to 16 tasks and seeded Monte Carlo beyond,
makes no normality assumption, and uses the graded per-task pass@k rather than a thresholded pass/fail, which a sign
test or McNemar would need. With m tasks the smallest possible p-value is 2/2^m (0.25 for 3 tasks), so per-cell
p-values are a caution, not a verdict; the overall test pools each task's mean difference over all matched cells.

Cells are matched on every group axis, the loop's (rounds, feedback, edit format, merge, cascade feedback) included,
so a one-shot cell never pairs with a repair-loop cell unless the comparison is asked to pair across that axis
(`across=("rounds",)`: does the repair loop beat one-shot on the same tasks?)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.errors import BadOptionError
from benchmark.metrics import LOOP_AXES, axis_value

from ._labels import AXIS_LABELS, fmt_percent, label, sort_key
from ._load import Run, load_run
from ._markdown import md_escape, md_table
from ._stats import paired_permutation_test, per_task_outcomes, per_task_pass_at
from ._tables import GROUP_AXES, choose_k

METHOD = ("paired sign-flip permutation test over tasks on per-task pass@k (two-sided; exact up to 16 tasks, "
          "seeded Monte Carlo beyond)")


@dataclass(frozen=True)
class CellDiff:
    group: dict[str, Any]
    n_tasks: int  # tasks present in both runs
    a: float | None
    b: float | None
    p_value: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class Comparison:
    run_a: str
    run_b: str
    k: int
    cells: list[CellDiff]
    overall: CellDiff
    only_a: list[dict[str, Any]] = field(default_factory=list)
    only_b: list[dict[str, Any]] = field(default_factory=list)
    method: str = METHOD
    across: dict[str, tuple[list[Any], list[Any]]] = field(default_factory=dict)  # axis -> (values in A, in B)


def match_axes(across: Sequence[str] = ()) -> tuple[str, ...]:
    """The group axes cells are matched on: all of them but those the comparison pairs across."""
    unknown = [a for a in across if a not in GROUP_AXES]
    if unknown:
        raise BadOptionError(f"cannot pair across unknown axis {', '.join(map(repr, unknown))}",
                             f"choose from: {','.join(GROUP_AXES)}")
    return tuple(a for a in GROUP_AXES if a not in across)


def compare_runs(run_a: Run | str | Path, run_b: Run | str | Path, k: int | None = None,
                 across: Sequence[str] = ()) -> Comparison:
    """Pass@k of B minus A per cell (cells matched on every group axis but `across`, tasks paired by id)."""
    a = run_a if isinstance(run_a, Run) else load_run(run_a)
    b = run_b if isinstance(run_b, Run) else load_run(run_b)
    k = k or min(choose_k(a.spec), choose_k(b.spec))
    axes = match_axes(across)
    outcomes_a, outcomes_b = per_task_outcomes(a.records, axes), per_task_outcomes(b.records, axes)
    def order(group: tuple) -> tuple:
        return tuple(sort_key(axis, v, a.spec) for axis, v in zip(axes, group))

    common = sorted(set(outcomes_a) & set(outcomes_b), key=order)
    per_task: dict[str, list[tuple[float, float]]] = defaultdict(list)
    diffs = []
    for group in common:
        diff, pairs = _cell_diff(dict(zip(axes, group)), outcomes_a[group], outcomes_b[group], k)
        diffs.append(diff)
        for task, pair in pairs.items():
            per_task[task].append(pair)
    return Comparison(run_a=a.run_id, run_b=b.run_id, k=k, cells=diffs, overall=_overall(per_task),
                      only_a=[dict(zip(axes, g)) for g in sorted(set(outcomes_a) - set(outcomes_b), key=order)],
                      only_b=[dict(zip(axes, g)) for g in sorted(set(outcomes_b) - set(outcomes_a), key=order)],
                      across={x: (_values(a, x), _values(b, x)) for x in across})


def _values(run: Run, axis: str) -> list[Any]:
    return sorted({axis_value(r, axis) for r in run.records}, key=lambda v: sort_key(axis, v, run.spec))


def _cell_diff(group: dict[str, Any], tasks_a: dict, tasks_b: dict, k: int
               ) -> tuple[CellDiff, dict[str, tuple[float, float]]]:
    tasks = sorted(set(tasks_a) & set(tasks_b))
    values_a = per_task_pass_at({t: tasks_a[t] for t in tasks}, k) if tasks else None
    values_b = per_task_pass_at({t: tasks_b[t] for t in tasks}, k) if tasks else None
    if not values_a or not values_b:
        return CellDiff(group, len(tasks), None, None, None), {}
    a, b = [values_a[t] for t in tasks], [values_b[t] for t in tasks]
    diff = CellDiff(group, len(tasks), sum(a) / len(a), sum(b) / len(b), paired_permutation_test(a, b))
    return diff, {t: (values_a[t], values_b[t]) for t in tasks}


def _overall(per_task: dict[str, list[tuple[float, float]]]) -> CellDiff:
    if not per_task:
        return CellDiff({}, 0, None, None, None)
    tasks = sorted(per_task)
    a = [sum(p[0] for p in per_task[t]) / len(per_task[t]) for t in tasks]
    b = [sum(p[1] for p in per_task[t]) / len(per_task[t]) for t in tasks]
    return CellDiff({}, len(tasks), sum(a) / len(a), sum(b) / len(b), paired_permutation_test(a, b))


def _fmt_delta(delta: float | None) -> str:
    return "–" if delta is None else f"{100 * delta:+.0f}"


def _fmt_p(p: float | None) -> str:
    return "–" if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"


def _p_clause(p: float | None) -> str:
    text = _fmt_p(p)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def render_comparison_markdown(comparison: Comparison, varying_only: bool = True) -> str:
    """A markdown table of every matched cell: the axes that differ between cells, A, B, Δ (points), tasks, p."""
    c = comparison
    shown = [a for a in GROUP_AXES if a != "category" and a not in c.across]  # functionality implies the category
    axes: Sequence[str] = [a for a in shown
                           if not varying_only or len({str(d.group.get(a)) for d in c.cells}) > 1] or ["model"]
    headers = [AXIS_LABELS.get(a, a) for a in axes] + [f"A: Pass@{c.k}", f"B: Pass@{c.k}", "Δ (pp)", "tasks", "p"]
    rows = [[label(a, d.group.get(a)) for a in axes] + _value_cells(d) for d in c.cells]
    o = c.overall
    parts = [f"## Comparison: {md_escape(c.run_b)} (B) against {md_escape(c.run_a)} (A), Pass@{c.k} (%)", "",
             (f"Overall over {o.n_tasks} paired tasks: A {fmt_percent(o.a)}, B {fmt_percent(o.b)}, "
              f"Δ {_fmt_delta(o.delta)} pp, {_p_clause(o.p_value)}."), *_across_lines(c), "",
             md_table(headers, rows, ["l"] * len(axes) + ["r"] * 5), "",
             md_escape(f"p: {c.method}. With m tasks the smallest attainable p is 2/2^m."
                       " – where a cell has fewer than k samples for some task.")]
    every = [d.group for d in c.cells] + c.only_a + c.only_b
    quiet = {a for a in LOOP_AXES if len({str(g.get(a)) for g in every}) <= 1}  # a loop axis no cell differs in
    for name, groups in (("A", c.only_a), ("B", c.only_b)):
        if groups:
            parts += ["", f"{len(groups)} cell(s) only in {name}: "
                      + "; ".join(md_escape(", ".join(f"{k}={v}" for k, v in g.items() if v is not None and k not in quiet))
                                  for g in groups)]
    return "\n".join(parts) + "\n"


def _across_lines(c: Comparison) -> list[str]:
    if not c.across:
        return []
    texts = [f"{AXIS_LABELS.get(x, x)} (A: {', '.join(label(x, v) for v in va)}; B: {', '.join(label(x, v) for v in vb)})"
             for x, (va, vb) in c.across.items()]
    return ["", md_escape("Cells paired across " + "; ".join(texts) + ".")]


def _value_cells(d: CellDiff) -> list[str]:
    return [fmt_percent(d.a), fmt_percent(d.b), _fmt_delta(d.delta), str(d.n_tasks), _fmt_p(d.p_value)]


def compare_markdown(run_a: str | Path, run_b: str | Path, k: int | None = None, across: Sequence[str] = ()) -> str:
    """What `adaptbench compare A B [--across rounds]` prints."""
    return render_comparison_markdown(compare_runs(run_a, run_b, k, across))
