"""What grading costs on top of the script itself, per functionality, in one run: `python -m sandbox.overhead_bench
[--tasks a,b] [--repeats 1]`.

Per task (default: the shortest reference of each category x functionality x component) its reference is run
twice in the same sandbox and environment: bare (the work dir prepared as for grading, but without the probes'
sitecustomize) and graded (`grade`: probes in the script's process, sealing the event log, the checkers and their
probe interpreters). The ratio is graded wall time, from the start of preparing the work dir to the verdict, over
the bare run's. Each task is graded once before timing, so the harness's own imports (MLflow's client, Optuna's
storage...) are paid once, as they are in a benchmark run. Target (issue 15): at most 1.15 for every
functionality."""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmark.tasks import load_tasks
from benchmark.types import Task

from .environment import SITE_DIR
from .executor import execute
from .grading import grade, instantiate_checkers, prepare_workdir, script_env

TARGET = 1.15


log = logging.getLogger(__name__)


def _say(line: str) -> None:
    log.info("%s", line)


def default_tasks(tasks: list[Task]) -> list[Task]:
    chosen: dict[tuple, Task] = {}
    for task in sorted(tasks, key=lambda t: (len(t.reference_code()), t.id)):
        chosen.setdefault((task.category.value, task.functionality.value, task.component.value), task)
    return sorted(chosen.values(), key=lambda t: (t.functionality.value, t.id))


def bare_run(task: Task, workdir: Path) -> float:
    """The reference alone: the same work dir, fixtures, environment and sandbox, no probe."""
    prepare_workdir(task, task.reference_code(), workdir, instantiate_checkers(task))
    (workdir / SITE_DIR / "sitecustomize.py").unlink()
    start = time.monotonic()
    result = execute([sys.executable, task.entrypoint], workdir, task.limits, env=script_env(task, workdir))
    elapsed = time.monotonic() - start
    if result.exit_code != 0:
        raise SystemExit(f"{task.id}: the bare reference failed ({result.exit_code}): {result.stderr_tail[-500:]}")
    return elapsed


def graded_run(task: Task, workdir: Path) -> tuple[float, float, str]:
    """Wall time from preparing the work dir to the verdict, the script's execution within it, and the verdict."""
    start = time.monotonic()
    graded = grade(task, task.reference_code(), workdir)
    elapsed = time.monotonic() - start
    return elapsed, graded.execution.duration_s if graded.execution else 0.0, graded.verdict.code


def measure(task: Task, root: Path, repeats: int) -> dict:
    graded_run(task, root / f"{task.id}-warm-up")
    bare, graded, executed, verdicts = [], [], [], set()
    for i in range(repeats):
        bare.append(bare_run(task, root / f"{task.id}-bare-{i}"))
        total, execution, verdict = graded_run(task, root / f"{task.id}-graded-{i}")
        graded.append(total)
        executed.append(execution)
        verdicts.add(verdict)
    b, g, e = statistics.median(bare), statistics.median(graded), statistics.median(executed)
    return {"task": task, "bare": b, "graded": g, "execution": e, "judging": g - e, "ratio": g / b,
            "verdict": ",".join(sorted(verdicts))}


def report(rows: list[dict], wall: float) -> None:
    _say(f"{'functionality':<28} {'component':<10} {'task':<44} {'bare s':>7} {'exec s':>7} {'judge s':>8} "
          f"{'graded s':>9} {'ratio':>6}  verdict")
    for r in rows:
        t = r["task"]
        _say(f"{t.functionality.value:<28} {t.component.value:<10} {t.id:<44} {r['bare']:>7.2f} "
              f"{r['execution']:>7.2f} {r['judging']:>8.2f} {r['graded']:>9.2f} {r['ratio']:>6.2f}  {r['verdict']}")
    worst = max(rows, key=lambda r: r["ratio"])
    _say(f"worst ratio {worst['ratio']:.2f} ({worst['task'].id}); target <= {TARGET}: "
          f"{'met' if worst['ratio'] <= TARGET else 'NOT met'}; this run took {wall:.0f} s")
    _say("exec s: the script's sandboxed run with the probes; judge s: sealing, checkers and probe interpreters")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=None, help="task ids, comma-separated (default: one per functionality "
                        "and component)")
    parser.add_argument("--tasks-dir", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per task (the median is shown)")
    args = parser.parse_args(argv)
    tasks = load_tasks(args.tasks.split(",") if args.tasks else None, tasks_dir=args.tasks_dir)
    selected = tasks if args.tasks else default_tasks(tasks)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="adaptbench-overhead-") as tmp:
        rows = [measure(task, Path(tmp), max(1, args.repeats)) for task in selected]
    report(rows, time.monotonic() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
