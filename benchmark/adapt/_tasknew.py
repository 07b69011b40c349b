"""`adaptbench task new` and `adapt --save-task`: a user's script becomes a task folder in a tasks dir, proved at
once — the untouched input must fail (its baseline run, judged by the task's checks) and a reference, when there
is one, must pass. The folder is written beside the tasks dir first and moved in only when both hold, so a task
that cannot prove itself is never left behind."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..tasks import load_task
from ..types import Task, Verdict
from ._errors import ScriptError, TaskRefusedError
from ._prepare import Prepared, Say, prepare
from ._taskdir import slug, write_task_folder

log = logging.getLogger(__name__)


@dataclass
class NewTask:
    task: Task
    folder: Path
    input_verdict: Verdict
    reference_verdict: Verdict | None
    warnings: list[str] = field(default_factory=list)


def new_task(script: Path, to: str, tasks_dir: Path, cache_root: Path, *, reference: Path | None = None,
             task_id: str | None = None, framework: str | None = None, fixtures: list[Path] = (),
             instruction: str = "", timeout_s: float | None = None, force: bool = False,
             say: Say | None = None) -> NewTask:
    say = say or log.info
    wanted = slug(task_id) if task_id else None
    if task_id and wanted != task_id:
        raise TaskRefusedError(f"--id '{task_id}' is not a valid task id", f"use lowercase letters, digits and "
                               f"dashes, e.g. '{wanted}'")
    reference_code = _read_reference(reference) if reference else None
    prepared = prepare(script, to, cache_root, framework=framework, fixtures=list(fixtures), instruction=instruction,
                       timeout_s=timeout_s, task_id=wanted, say=say)
    return install_task(prepared, reference_code, Path(tasks_dir), force=force, say=say)


def _read_reference(path: Path) -> str:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ScriptError(f"reference '{path}' does not exist", "give a correct adaptation of the script with --reference")
    code = path.read_text(encoding="utf-8")
    try:
        compile(code, str(path), "exec")
    except SyntaxError as exc:
        raise TaskRefusedError(f"the reference {path} is not valid Python: {exc.msg} (line {exc.lineno})",
                               "fix the reference; the task was not written") from None
    return code


def install_task(prepared: Prepared, reference_code: str | None, tasks_dir: Path, *, force: bool = False,
                 reference_verdict: Verdict | None = None, say: Say | None = None) -> NewTask:
    """Write the prepared task into `tasks_dir`, proving it first; `reference_verdict` is a verdict already
    obtained on exactly this task content (adapt's verification), which spares running the reference again."""
    say = say or log.info
    if prepared.already_adapted:
        raise TaskRefusedError(f"the untouched {prepared.script.path.name} already passes the checks of "
                               f"{prepared.target.describe()} ({prepared.baseline.verdict.reason})",
                               "a task needs an input that fails: give the script before it had this capability")
    final = tasks_dir / prepared.draft.id
    if final.exists() and not force:
        raise TaskRefusedError(f"task folder {final} already exists", "choose another --id, or pass --force to "
                               "replace it")
    tasks_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".new-task-", dir=tasks_dir))
    try:
        folder = staging / prepared.draft.id
        write_task_folder(folder, prepared.draft, reference_code)
        task = load_task(folder)  # the loader every task goes through: a broken spec is refused here
        warnings = []
        if reference_code is None:
            verdict = None
            warnings.append("no --reference: reference.py is a copy of the input; replace it with a correct "
                            "adaptation (or make the task with `adapt --save-task`) — until then "
                            "`adaptbench validate` reports this task invalid")
        else:
            verdict = reference_verdict or _grade_reference(task, reference_code, say)
            if not verdict.passed:
                raise TaskRefusedError(f"the reference does not pass the task's checks: [{verdict.code}] "
                                       f"{verdict.reason}", "fix the reference (or the --to / --fixtures that "
                                       "shape the checks); the task was not written")
        if final.exists():
            shutil.rmtree(final)
        shutil.move(str(folder), str(final))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"task {prepared.draft.id} written to {final}: the input fails with {prepared.baseline.verdict.code}"
        + ("" if verdict is None else ", the reference passes"))
    return NewTask(load_task(final), final, prepared.baseline.verdict, verdict, warnings)


def _grade_reference(task: Task, code: str, say: Say) -> Verdict:
    from sandbox.grading import grade

    say(f"checking the reference against the task's checks ({', '.join(c.name for c in task.checks)})")
    workdir = Path(tempfile.mkdtemp(prefix="adaptbench-reference-")) / "work"
    try:
        return grade(task, code, workdir).verdict
    finally:
        shutil.rmtree(workdir.parent, ignore_errors=True)
