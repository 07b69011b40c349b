"""The checker extension point: a checker judges what a script left behind in its work dir."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from benchmark.registry import Registry
from benchmark.types import CheckResult, ExecutionResult, Task


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass
class CheckContext:
    task: Task
    workdir: Path
    execution: ExecutionResult
    events: list[dict[str, Any]]  # what the checkers' probes recorded while the script ran (sealed)
    # run a Python snippet inside the same sandbox against the work dir; returns the JSON it prints last
    run_probe: Callable[[str], dict[str, Any]] = field(repr=False)


class Checker(ABC):
    """`Args` validates the task.toml args (extra='forbid'). `probe` is Python source installed as part of a
    sitecustomize module in the sandbox, to observe the script while it runs; it records with
    `_adaptbench_event(kind, **data)` and the records arrive in `CheckContext.events` once the harness has
    verified and sealed them (sandbox/probes.py: a candidate can forge them only from inside its own process).
    Bump `version` whenever the judgement changes: stored executions are re-judged, not re-run."""

    Args: ClassVar[type[BaseModel]] = NoArgs
    version: ClassVar[int] = 1
    probe: ClassVar[str | None] = None

    def __init__(self, args: BaseModel):
        self.args = args

    @abstractmethod
    def check(self, ctx: CheckContext) -> CheckResult: ...

    def probe_for(self, task: Task) -> str | None:
        """The probe source installed for `task` (the class's `probe`, unless a checker adapts it to the task)."""
        return self.probe

    def ok(self, reason: str, **details) -> CheckResult:
        return CheckResult(name=self.name, passed=True, code="ok", reason=reason, details=details)

    def fail(self, code: str, reason: str, **details) -> CheckResult:
        return CheckResult(name=self.name, passed=False, code=code, reason=reason, details=details)

    @property
    def name(self) -> str:
        return getattr(type(self), "registered_name", type(self).__name__)


CHECKERS: Registry[Checker] = Registry("checker", Checker)


def checker(name: str):
    def decorator(cls):
        cls.registered_name = name
        return CHECKERS.register(name)(cls)

    return decorator
