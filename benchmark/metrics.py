"""Pass@k: the unbiased estimator 1 - C(n-c, k) / C(n, k) (Chen et al., 2021), and its aggregation into cells."""

from __future__ import annotations

from collections import defaultdict
from math import comb
from typing import Iterable, Sequence

from .types import Cell, SampleRecord

DEFAULT_GROUP = ("category", "functionality", "component", "source_component", "framework", "model", "temperature",
                 "setting", "retrieval")


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
    if axis in ("model", "setting", "retrieval", "temperature", "task_id", "sample_index"):
        value = getattr(record.key, axis)
    else:
        value = getattr(record, axis)
    return getattr(value, "value", value)


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
