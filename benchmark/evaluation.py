"""Executing and judging candidate code for a task, through the execution cache: identical code for the same
task version runs once; a checker whose version changed re-judges the stored work dir without re-running.
A fresh execution goes to an executor (benchmark/executors: this machine, or a Ray cluster); the cache stays here."""

from __future__ import annotations

import logging
import shutil
import threading
from collections import defaultdict
from dataclasses import dataclass

from .cache import Cache, execution_key
from .executors import Executor, GradingJob, LocalExecutor
from .types import ExecutionResult, RuntimeConfig, Status, Task, Verdict


@dataclass(frozen=True)
class Evaluated:
    execution: ExecutionResult | None
    verdict: Verdict
    cached: bool  # True when no script ran (a stored result, possibly re-judged)

log = logging.getLogger(__name__)
_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()
_running = [0]  # sandboxed scripts executing now, in this process (read by in-process models sharing the CPU)
_LOCAL = LocalExecutor(RuntimeConfig())


def running_executions() -> int:
    return _running[0]


def checker_versions(task: Task) -> dict[str, int]:
    from sandbox.checkers import CHECKERS

    return {spec.name: CHECKERS.get(spec.name).version for spec in task.checks}


def evaluate_code(task: Task, code: str, cache: Cache, timeout_scale: float = 1.0,
                  executor: Executor | None = None) -> Evaluated:
    """`executor` runs a fresh execution (default: a sandboxed process here, in this thread)."""
    key = execution_key(code, task.fingerprint())
    with _locks_guard:
        lock = _locks[key]
    with lock:
        hit = _from_cache(task, key, cache)
        if hit is not None:
            return hit
        return _execute_fresh(task, code, key, cache, timeout_scale, executor or _LOCAL)


def _from_cache(task: Task, key: str, cache: Cache) -> Evaluated | None:
    stored = cache.get_execution(key)
    if stored is None:
        return None
    execution = ExecutionResult.model_validate(stored["execution"]) if stored.get("execution") else None
    verdict = Verdict.model_validate(stored["verdict"])
    if stored.get("checkers") == checker_versions(task) or execution is None or execution.exit_code != 0:
        return Evaluated(execution, verdict, cached=True)
    if not execution.workdir.exists():
        return None  # the work dir was cleaned away: run again
    from sandbox.grading import judge

    log.info("re-judging %s with updated checkers", task.id)
    verdict = judge(task, execution)
    _store(cache, key, task, execution, verdict)
    return Evaluated(execution, verdict, cached=True)


def _execute_fresh(task: Task, code: str, key: str, cache: Cache, timeout_scale: float, executor: Executor):
    workdir = cache.execution_dir(key) / "work"
    if workdir.exists():
        shutil.rmtree(workdir)  # left over from an interrupted execution
    counted = executor.shares_cpu
    if counted:
        with _locks_guard:
            _running[0] += 1
    try:
        graded = executor.submit(GradingJob(task, code, workdir, timeout_scale)).result()
    finally:
        if counted:
            with _locks_guard:
                _running[0] -= 1
    if graded.verdict.status is not Status.error:  # harness errors are retried next time
        _store(cache, key, task, graded.execution, graded.verdict)
    return Evaluated(graded.execution, graded.verdict, cached=False)


def _store(cache: Cache, key: str, task: Task, execution: ExecutionResult | None, verdict: Verdict) -> None:
    cache.put_execution(key, {
        "task_id": task.id, "task_version": task.version, "checkers": checker_versions(task),
        "execution": execution.model_dump(mode="json") if execution else None,
        "verdict": verdict.model_dump(mode="json"),
    })
