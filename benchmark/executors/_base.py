"""The executor extension point: where a fresh execution + judgement of one candidate runs.

An executor takes a `GradingJob` (a task, the candidate's code, the work dir the result must end up in) and
returns a future of its `Graded` result. Nothing above it knows which one runs: the caches and the run log stay
with the caller (benchmark/evaluation.py), and whatever the executor, the graded work dir is at `job.workdir`
when the future resolves (or absent, when it could not be brought back), so stored executions re-judge alike."""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ..registry import Registry
from ..types import RuntimeConfig, Task

if TYPE_CHECKING:
    from sandbox.grading import Graded


@dataclass(frozen=True)
class GradingJob:
    task: Task
    code: str
    workdir: Path  # must not exist yet; holds the graded work dir afterwards
    timeout_scale: float = 1.0


class Executor(ABC):
    """Runs grading jobs. `shares_cpu`: its executions use this machine's cores (in-process models then leave
    them free, see benchmark.evaluation.running_executions)."""

    name: ClassVar[str] = ""
    shares_cpu: ClassVar[bool] = True

    def __init__(self, runtime: RuntimeConfig):
        self.runtime = runtime

    @abstractmethod
    def submit(self, job: GradingJob) -> Future[Graded]:
        """Start one execution + judgement; the future's result is the sandbox's `Graded`."""

    def parallelism(self, workers: int) -> int:
        """How many jobs the caller should keep in flight, given the `--workers` it was asked for."""
        return workers

    def close(self) -> None:
        """Release what the executor holds (connections, local clusters)."""


EXECUTORS: Registry[Executor] = Registry("executor", Executor)


def executor(name: str):
    def decorator(cls):
        cls.name = name
        return EXECUTORS.register(name)(cls)

    return decorator


def open_executor(runtime: RuntimeConfig) -> Executor:
    """The executor `runtime.executor` names (an unknown name is a one-line error listing the others)."""
    return EXECUTORS.get(runtime.executor)(runtime)
