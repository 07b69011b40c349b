"""Pass@k: the unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al., 2021), and its aggregation into cells;
pass@1 after round r of the adaptation loop; the Pareto front of accuracy against cost."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from math import comb

from .types import Cell, SampleRecord

# How a sample was adapted (benchmark.types.LoopSpec): cells never merge samples that differ in any of them.
LOOP_AXES = ("rounds", "feedback", "edit_format", "merge_elided", "cascade_feedback")
KEY_AXES = ("model", "setting", "retrieval", "temperature", "task_id", "sample_index", *LOOP_AXES)
DEFAULT_GROUP = ("category", "functionality", "component", "source_component", "framework", "model", "temperature",
                 "setting", "retrieval", *LOOP_AXES)


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Probability that at least one of k samples drawn from n (c of them correct) passes; None where n < k."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if n < k:
        return None
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def axis_value(record: SampleRecord, axis: str):
    value = getattr(record.key, axis) if axis in KEY_AXES else getattr(record, axis)
    return getattr(value, "value", value)


def varying_axes(records: Iterable[SampleRecord], axes: Sequence[str] = LOOP_AXES) -> tuple[str, ...]:
    """The axes (in the given order) that take more than one value over the records."""
    seen: dict[str, set] = {a: set() for a in axes}
    for record in records:
        for a in axes:
            seen[a].add(axis_value(record, a))
    return tuple(a for a in axes if len(seen[a]) > 1)


def cells(records: Iterable[SampleRecord], ks: Sequence[int] = (1, 3), group_by: Sequence[str] = DEFAULT_GROUP) -> list[Cell]:
    """Group samples per (cell axes, task); pass@k per task, then the mean over the cell's tasks."""
    per_task: dict[tuple, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        group = tuple(axis_value(record, a) for a in group_by)
        per_task[group][record.key.task_id].append(record.verdict.passed)
    out = []
    for group, tasks in sorted(per_task.items(), key=lambda kv: [str(v) for v in kv[0]]):
        pass_at: dict[int, float | None] = {}
        for k in ks:
            values = [pass_at_k(len(v), sum(v), k) for v in tasks.values()]
            pass_at[k] = None if any(v is None for v in values) else sum(values) / len(values)
        out.append(Cell(group=dict(zip(group_by, group)), n_tasks=len(tasks),
                        n_samples=sum(len(v) for v in tasks.values()), pass_at=pass_at))
    return out


def passed_within(record: SampleRecord, rounds: int) -> bool:
    """Whether one of the sample's first `rounds` attempts passed (the loop stops at the first pass)."""
    return any(a.verdict.passed for a in record.all_attempts()[:rounds])


def pass_rate_by_round(records: Sequence[SampleRecord], max_round: int) -> list[float | None]:
    """[pass@1 after round 1, ..., after round max_round]: the share of samples with a pass among their first r
    attempts. A sample that stopped earlier keeps its outcome in later rounds. None for no samples."""
    if not records:
        return [None] * max_round
    return [sum(passed_within(r, n) for r in records) / len(records) for n in range(1, max_round + 1)]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (cost, accuracy) points, cheapest first. A point is dominated when another costs
    no more and is no less accurate, and is strictly better in one of the two; equal points are all kept."""
    front = [i for i, (cost, acc) in enumerate(points)
             if not any(c <= cost and a >= acc and (c < cost or a > acc) for c, a in points)]
    return sorted(front, key=lambda i: (points[i][0], points[i][1], i))
