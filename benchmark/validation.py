"""The harness proves itself: for every task the reference must pass and the untouched input must fail,
for the expected reason (SWE-bench's gold-patch validation)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .types import Task, Verdict

log = logging.getLogger(__name__)


@dataclass
class TaskValidation:
    task: Task
    reference: Verdict
    input: Verdict
    reference_seconds: float | None
    input_seconds: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_task(task: Task, work_root: Path, timeout_scale: float = 1.0) -> TaskValidation:
    from sandbox.grading import grade

    ref = grade(task, task.reference_code(), work_root / task.id / "reference", timeout_scale)
    inp = grade(task, task.input_code(), work_root / task.id / "input", timeout_scale)
    problems = []
    if not ref.verdict.passed:
        problems.append(f"reference does not pass: [{ref.verdict.code}] {ref.verdict.reason}")
    if inp.verdict.passed:
        problems.append("untouched input passes: the checks cannot tell it from an adaptation")
    elif inp.verdict.code != task.input_fails_with:
        problems.append(f"untouched input fails with '{inp.verdict.code}', expected '{task.input_fails_with}' "
                        f"({inp.verdict.reason})")
    return TaskValidation(task, ref.verdict, inp.verdict,
                          ref.execution.duration_s if ref.execution else None,
                          inp.execution.duration_s if inp.execution else None, problems)


def validate_tasks(tasks: list[Task], workers: int = 2, keep: Path | None = None, on_result=None,
                   timeout_scale: float = 1.0) -> list[TaskValidation]:
    if keep:  # a fresh folder per validation, so the same --keep can be given again
        Path(keep).mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix=datetime.now().strftime("%Y%m%d-%H%M%S-"), dir=keep))
    else:
        root = Path(tempfile.mkdtemp(prefix="adaptbench-validate-"))
    try:
        with ThreadPoolExecutor(max(1, workers)) as pool:
            results = []
            for result in pool.map(lambda t: validate_task(t, root, timeout_scale), tasks):
                results.append(result)
                if on_result:
                    on_result(result)
        return results
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
