"""Per-task pass@k values, a bootstrap confidence interval over tasks, and a paired permutation test.

Both resampling procedures use a fixed seed, so a report is byte-for-byte reproducible."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import product

import numpy as np

from benchmark.metrics import axis_value, pass_at_k
from benchmark.types import SampleRecord

SEED = 20240101
BOOTSTRAP_RESAMPLES = 2000
EXACT_PERMUTATION_MAX = 16  # up to 2**16 sign patterns are enumerated; beyond, Monte Carlo
PERMUTATIONS = 20000


def per_task_outcomes(records: Iterable[SampleRecord], group_by: Sequence[str]) -> dict[tuple, dict[str, list[bool]]]:
    """{cell group: {task id: [passed per sample]}}, the cell groups as `benchmark.metrics.cells` forms them."""
    out: dict[tuple, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        group = tuple(axis_value(record, a) for a in group_by)
        out[group][record.key.task_id].append(record.verdict.passed)
    return out


def per_task_pass_at(tasks: dict[str, list[bool]], k: int) -> dict[str, float] | None:
    """pass@k for each task of a cell; None when any task has fewer than k samples."""
    values = {task: pass_at_k(len(v), sum(v), k) for task, v in tasks.items()}
    if any(v is None for v in values.values()):
        return None
    return values  # type: ignore[return-value]


def bootstrap_ci(values: Sequence[float], level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, resampling tasks with replacement."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def paired_permutation_test(a: Sequence[float], b: Sequence[float], seed: int = SEED) -> float:
    """Two-sided p-value of the mean paired difference b - a under random sign flips (H0: no difference).

    Exact (all 2**m sign patterns) for m <= EXACT_PERMUTATION_MAX non-zero differences, Monte Carlo otherwise.
    With m tasks the smallest attainable p-value is 2 / 2**m, so small cells can never be 'significant'."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    diffs = diffs[np.abs(diffs) > 1e-12]
    if diffs.size == 0:
        return 1.0
    observed = abs(diffs.sum())
    if diffs.size <= EXACT_PERMUTATION_MAX:
        signs = np.array(list(product((1.0, -1.0), repeat=diffs.size)))
        return float(np.mean(np.abs(signs @ diffs) >= observed - 1e-9))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(PERMUTATIONS, diffs.size))
    hits = int(np.sum(np.abs(signs @ diffs) >= observed - 1e-9))
    return (hits + 1) / (PERMUTATIONS + 1)
