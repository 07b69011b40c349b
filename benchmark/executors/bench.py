"""Execution throughput of the executors on the same samples, in one run:
`python -m benchmark.executors.bench [--tasks a,b] [--samples 8] [--rounds 1] [--ray-address ADDR] [--ship]`.

Each sample is a task's reference with a distinct trailing comment, so every one is a fresh execution (no cache
hit). Per executor: executions per minute over the timed samples, after one untimed warm-up execution per worker
(Ray workers start and import the grading code once; the local side probes its sandbox layer once). For `ray`,
the scheduling overhead per execution is the time from submission to the verdict on the driver minus the grading
itself on the node (Ray's scheduling, moving the job and its result, and with --ship the work dir's tarball).
Without --ray-address, Ray is started on this machine with one CPU per core, so both executors run the same number
of sandboxes at once on the same cores."""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..cache import Cache
from ..evaluation import evaluate_code
from ..tasks import load_tasks
from ..types import RuntimeConfig, Task
from . import Executor, open_executor

DEFAULT_TASKS = ("mlflow-tracking-sklearn-tree", "optuna-hpo-sklearn-tree")


log = logging.getLogger(__name__)


def _say(line: str) -> None:
    log.info("%s", line)


def samples(tasks: list[Task], n: int, label: str) -> list[tuple[Task, str]]:
    return [(tasks[i % len(tasks)], tasks[i % len(tasks)].reference_code() + f"\n# {label} sample {i}\n")
            for i in range(n)]


def timed_pass(executor: Executor, work: list[tuple[Task, str]], cache: Cache, workers: int) -> tuple[float, list]:
    """Wall time of the pass, and per sample (its result, seconds from submission to verdict)."""
    def one(item):
        start = time.monotonic()
        result = evaluate_code(item[0], item[1], cache, executor=executor)
        return result, time.monotonic() - start

    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, work))
    return time.monotonic() - start, results


def measure(name: str, executor: Executor, tasks: list[Task], args, root: Path, round_: int) -> dict:
    cache = Cache(root / f"{name}-{round_}")
    timed_pass(executor, samples(tasks, args.workers, f"{name} {round_} warm-up"), cache, args.workers)
    timings_before = len(getattr(executor, "timings", []))
    wall, results = timed_pass(executor, samples(tasks, args.samples, f"timed {round_}"), cache, args.workers)
    row = {"executor": name, "wall_s": wall, "per_min": 60 * len(results) / wall,
           "verdicts": [r.verdict.code for r, _ in results],
           "isolation": sorted({r.execution.isolation for r, _ in results if r.execution}),
           "latency_s": statistics.mean(latency for _, latency in results)}
    timings = getattr(executor, "timings", [])[timings_before:]
    if timings:
        row["overhead_s"] = statistics.mean(latency - grade for latency, grade in timings)
        row["node_grade_s"] = statistics.mean(grade for _, grade in timings)
    return row


def median_row(rows: list[dict]) -> dict:
    out = dict(rows[0])
    for key in ("wall_s", "per_min", "latency_s", "overhead_s", "node_grade_s"):
        if key in out:
            out[key] = statistics.median(r[key] for r in rows)
    out["per_min_each"] = [r["per_min"] for r in rows]
    out["verdicts"] = [v for r in rows for v in r["verdicts"]]
    return out


def report(rows: list[dict]) -> None:
    local = rows[0]
    _say(f"{'executor':<14} {'executions/min':>15} {'vs local':>9} {'s/execution':>12} {'overhead/execution':>20}"
          f"   each round (executions/min)")
    for row in rows:
        slower = local["per_min"] / row["per_min"] - 1
        overhead = (f"{row['overhead_s'] * 1000:.0f} ms ({100 * row['overhead_s'] / row['node_grade_s']:.1f} %)"
                    if "overhead_s" in row else "-")
        each = ", ".join(f"{x:.1f}" for x in row["per_min_each"])
        _say(f"{row['executor']:<14} {row['per_min']:>15.1f} {100 * slower:>+8.1f}% {row['latency_s']:>12.2f} "
              f"{overhead:>20}   {each}")
    same = all(row["verdicts"] == local["verdicts"] for row in rows)
    _say(f"verdicts identical across executors: {same} ({', '.join(sorted(set(local['verdicts'])))}); sandbox "
          f"layers: {'; '.join(row['executor'] + ' ' + ','.join(row['isolation']) for row in rows)}")
    _say("medians over the rounds (executors alternate within each round). s/execution: submission to verdict; "
          "overhead/execution (ray): that minus the grading on the node, and its share of the grading time; "
          "'vs local': how much lower the throughput is than local's")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help="task ids, comma-separated")
    parser.add_argument("--tasks-dir", type=Path, default=None)
    parser.add_argument("--samples", type=int, default=8, help="timed executions per executor")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="sandboxes at once")
    parser.add_argument("--ray-address", default=None, help="a cluster to join (default: start Ray here)")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the executors this many times")
    parser.add_argument("--ship", action="store_true", help="also time ray with work dirs shipped back as tarballs")
    args = parser.parse_args(argv)
    tasks = load_tasks(args.tasks.split(","), tasks_dir=args.tasks_dir)
    executors = {"local": open_executor(RuntimeConfig())}
    try:
        executors["ray"] = open_executor(RuntimeConfig(executor="ray", ray_address=args.ray_address))
        if args.ship:
            os.environ["ADAPTBENCH_RAY_SHIP"] = "always"  # read when an executor is made: only this one ships
            executors["ray (shipped)"] = open_executor(RuntimeConfig(executor="ray", ray_address=args.ray_address))
        with tempfile.TemporaryDirectory(prefix="adaptbench-executors-bench-") as tmp:
            runs: dict[str, list[dict]] = {name: [] for name in executors}
            for round_ in range(max(1, args.rounds)):
                for name, chosen in executors.items():
                    runs[name].append(measure(name, chosen, tasks, args, Path(tmp), round_))
    finally:
        for chosen in reversed(list(executors.values())):
            chosen.close()
    rows = [median_row(r) for r in runs.values()]
    report(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
