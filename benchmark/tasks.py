"""Loading tasks: each task is a folder `tasks/<id>/` holding `task.toml`, a reference solution and
fixtures; curated input scripts live once under `tasks/examples/` and are shared by the tasks that use them."""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import TaskSpecError, UnknownNameError
from .types import Category, CheckSpec, Component, Framework, Functionality, Limits, Task

log = logging.getLogger(__name__)

SPEC_NAME = "task.toml"
NOT_TASKS = {"examples", "__pycache__"}


def default_tasks_dir() -> Path:
    env = os.environ.get("ADAPTBENCH_TASKS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "tasks"


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    component: Component


class _TaskFile(BaseModel):
    """The raw task.toml, validated strictly: an unknown or misspelt field is an error."""

    model_config = ConfigDict(extra="forbid")
    id: str
    version: int
    title: str
    category: Category
    functionality: Functionality
    component: Component
    framework: Framework
    input: str
    reference: str = "reference.py"
    entrypoint: str | None = None
    instruction: str = ""
    fixtures: list[str] = []
    git_init: bool = False
    input_fails_with: str
    source: _Source | None = None
    checks: list[CheckSpec]
    limits: Limits = Limits()


def load_task(folder: Path) -> Task:
    folder = Path(folder).resolve()
    spec_path = folder / SPEC_NAME
    if not spec_path.is_file():
        raise TaskSpecError(spec_path, None, "missing task.toml", "every task folder needs a task.toml spec")
    raw = _read_toml(spec_path)
    try:
        spec = _TaskFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise TaskSpecError(spec_path, field, err["msg"], _field_hint(field)) from None
    _check_consistency(spec, spec_path, folder)
    return Task(
        id=spec.id, version=spec.version, title=spec.title, category=spec.category,
        functionality=spec.functionality, component=spec.component,
        source_component=spec.source.component if spec.source else None,
        framework=spec.framework, instruction=spec.instruction.strip(),
        input_path=_existing(folder, spec.input, spec_path, "input"),
        reference_path=_existing(folder, spec.reference, spec_path, "reference"),
        entrypoint=spec.entrypoint or Path(spec.input).name,
        fixtures=tuple(_existing(folder, f, spec_path, "fixtures") for f in spec.fixtures),
        git_init=spec.git_init, checks=tuple(spec.checks), input_fails_with=spec.input_fails_with,
        limits=spec.limits, folder=folder,
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TaskSpecError(path, None, f"not valid TOML: {exc}", "fix the syntax (see tasks/README.md)") from None


def _check_consistency(spec: _TaskFile, spec_path: Path, folder: Path) -> None:
    if spec.id != folder.name:
        raise TaskSpecError(spec_path, "id", f"'{spec.id}' differs from the folder name '{folder.name}'",
                            "rename the folder or the id so they match")
    if spec.version < 1:
        raise TaskSpecError(spec_path, "version", "must be >= 1")
    if (spec.category is Category.translation) != (spec.source is not None):
        raise TaskSpecError(spec_path, "source", "translation tasks need [source] component = ...; inlining tasks must not have it")
    if not spec.checks:
        raise TaskSpecError(spec_path, "checks", "at least one [[checks]] entry is required")
    from sandbox.checkers import CHECKERS  # the checker registry lives with the sandbox

    for i, check in enumerate(spec.checks):
        if check.name not in CHECKERS:
            close = difflib.get_close_matches(check.name, CHECKERS.names(), n=1)
            raise TaskSpecError(spec_path, f"checks.{i}.name", f"unknown checker '{check.name}'",
                                (f"did you mean '{close[0]}'? " if close else "") + f"available: {', '.join(CHECKERS.names())}")


def _existing(folder: Path, rel: str, spec_path: Path, field: str) -> Path:
    path = (folder / rel).resolve()
    if not path.exists():
        raise TaskSpecError(spec_path, field, f"'{rel}' does not exist (looked at {path})")
    return path


def _field_hint(field: str) -> str:
    enums = {"category": Category, "functionality": Functionality, "component": Component, "framework": Framework}
    head = field.split(".")[0]
    if head in enums:
        return "expected one of: " + ", ".join(e.value for e in enums[head])
    return "see tasks/README.md for the task.toml fields"


@lru_cache(maxsize=8)
def _load_all(tasks_dir: Path) -> tuple[Task, ...]:
    folders = sorted(p for p in tasks_dir.iterdir() if p.is_dir() and p.name not in NOT_TASKS and not p.name.startswith("."))
    return tuple(load_task(f) for f in folders if (f / SPEC_NAME).exists())


def load_tasks(ids: list[str] | None = None, tasks_dir: Path | None = None) -> list[Task]:
    """All tasks, or those named (exact ids, or a prefix/glob like 'mlflow-*')."""
    tasks = list(_load_all((tasks_dir or default_tasks_dir()).resolve()))
    if not ids:
        return tasks
    by_id = {t.id: t for t in tasks}
    chosen: list[Task] = []
    for wanted in ids:
        matched = _match(wanted, by_id)
        if not matched:
            close = difflib.get_close_matches(wanted, list(by_id), n=3)
            raise UnknownNameError(f"unknown task '{wanted}'",
                                   f"did you mean {', '.join(close)}?" if close else "run 'adaptbench list' to see the tasks")
        chosen.extend(t for t in matched if t not in chosen)
    return chosen


def _match(pattern: str, by_id: dict[str, Task]) -> list[Task]:
    import fnmatch

    if pattern in by_id:
        return [by_id[pattern]]
    return [t for i, t in by_id.items() if fnmatch.fnmatch(i, pattern)]
