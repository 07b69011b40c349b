"""A task folder in the project's format (tasks/README.md) made from a user's script: task.toml, the untouched
input, its fixtures (kept at their place relative to the script) and a reference. Written by one function and read
back by the loader every shipped task goes through, so an `adapt` task and a `task new` task are the same thing."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from ..tasks import load_task
from ..types import CheckSpec, Framework, Task
from ._script import FixtureEntry, ScriptInfo
from ._spec import Choices
from ._target import SHORT_NAMES, Target

INPUT_DIR, FIXTURES_DIR = "input", "fixtures"
GITIGNORE = """\
# sandbox bookkeeping and local stores: never part of the project's history
__pycache__/
*.pyc
/.adaptbench/
/.home/
/.tmp/
/.dvc-site-cache/
/dvc-storage/
"""
NO_REFERENCE_NOTE = "# adaptbench: no reference given; replace this copy of the input with a correct adaptation\n"


class ScriptTask(Task):
    """A task made from a user's script, with the environment variables its trial runs get (`adapt --env`);
    they are part of the fingerprint, so executions under other values are never confused."""

    env: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class TaskDraft:
    id: str
    target: Target
    framework: Framework
    script: ScriptInfo
    fixtures: tuple[FixtureEntry, ...]
    choices: Choices
    input_fails_with: str = "unknown"

    @property
    def title(self) -> str:
        name, t = self.script.path.name, self.target
        from ..prompts import COMPONENT_NAMES

        component = COMPONENT_NAMES[t.component][0]
        if t.source_component:
            return f"Translate {name} from {COMPONENT_NAMES[t.source_component][0]} to {component}"
        return f"Add {t.functionality.value.replace('_', ' ')} with {component} to {name}"


def default_task_id(script: ScriptInfo, target: Target) -> str:
    from ._spec import script_label

    return slug(f"{script_label(script)}-{target.slug}")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "task"


def write_task_folder(folder: Path, draft: TaskDraft, reference: str | None = None) -> Path:
    """Write (or rewrite) the task folder `folder` (its name is the task id) and return task.toml's path."""
    folder.mkdir(parents=True, exist_ok=True)
    entrypoint = draft.script.path.name
    (folder / INPUT_DIR).mkdir(exist_ok=True)
    (folder / INPUT_DIR / entrypoint).write_text(draft.script.code)
    (folder / "reference.py").write_text(reference if reference is not None else NO_REFERENCE_NOTE + draft.script.code)
    fixtures = _stage_fixtures(folder / FIXTURES_DIR, draft)
    spec = _spec(draft, entrypoint, fixtures)
    path = folder / "task.toml"
    path.write_text(spec)
    return path


def _stage_fixtures(root: Path, draft: TaskDraft) -> list[str]:
    """Copy the fixtures under fixtures/ at their place relative to the script; the spec lists each top-level
    entry (the sandbox copies an entry to the work dir under its name)."""
    if root.exists():
        shutil.rmtree(root)
    tops: list[str] = []
    for entry in draft.fixtures:
        dest = root / entry.target
        dest.parent.mkdir(parents=True, exist_ok=True)
        if entry.source.is_dir():
            shutil.copytree(entry.source, dest, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(entry.source, dest)
        top = entry.target.parts[0]
        if top not in tops:
            tops.append(top)
    if draft.choices.git_init:
        ignore = root / ".gitignore"
        existing = ignore.read_text() if ignore.exists() else ""
        root.mkdir(parents=True, exist_ok=True)
        ignore.write_text((existing.rstrip() + "\n" if existing.strip() else "") + GITIGNORE)
        if ".gitignore" not in tops:
            tops.append(".gitignore")
    return [f"{FIXTURES_DIR}/{top}" for top in tops]


def _spec(draft: TaskDraft, entrypoint: str, fixtures: list[str]) -> str:
    t = draft.target
    lines = [
        "# written by adaptbench from a user's script (adaptbench adapt / task new); see tasks/README.md",
        f"id = {_toml(draft.id)}",
        "version = 1",
        f"title = {_toml(draft.title)}",
        f"category = {_toml(t.category.value)}",
        f"functionality = {_toml(t.functionality.value)}",
        f"component = {_toml(t.component.value)}",
        f"framework = {_toml(draft.framework.value)}",
        f"input = {_toml(f'{INPUT_DIR}/{entrypoint}')}",
        'reference = "reference.py"',
        f"entrypoint = {_toml(entrypoint)}",
        f"instruction = {_toml(draft.choices.instruction)}",
        f"fixtures = {_toml(fixtures)}",
        f"git_init = {_toml(draft.choices.git_init)}",
        f"input_fails_with = {_toml(draft.input_fails_with)}",
    ]
    if t.source_component:
        lines += ["", "[source]", f"component = {_toml(t.source_component.value)}"]
    for check in draft.choices.checks:
        lines += ["", "[[checks]]", f"name = {_toml(check.name)}", f"args = {_toml(check.args)}"]
    lines += ["", "[limits]", f"timeout_s = {_toml(draft.choices.timeout_s)}"]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    """A TOML value: JSON's string escapes are valid TOML basic strings; tables become inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def load_script_task(folder: Path, env: dict[str, str] | None = None) -> ScriptTask:
    """The task in `folder`, through the loader every task goes through (a broken spec is refused there)."""
    task = load_task(folder)
    return ScriptTask(**task.model_dump(), env=dict(env or {}))


def with_checks(task: Task, checks: tuple[CheckSpec, ...]) -> Task:
    return task.model_copy(update={"checks": checks})


__all__ = ["SHORT_NAMES", "ScriptTask", "TaskDraft", "default_task_id", "load_script_task", "write_task_folder"]
