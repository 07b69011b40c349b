"""From a user's script to a task that can be run: read the script, resolve `--to`, detect the framework, stage
the fixtures, run the untouched script once in the sandbox (its baseline), and write the task folder whose checks
that baseline filled in. Shared by `adapt` and `task new`; the baseline is cached by everything it depends on."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import AdaptbenchError, BadOptionError
from ..types import ExecutionResult, Framework, Functionality, Status, Verdict
from ._baseline import collect_facts, diagnose
from ._script import FixtureEntry, ScriptInfo, fixture_entries, read_script
from ._spec import BaselineFacts, choose
from ._target import Target, parse_target
from ._taskdir import (
    ScriptTask,
    TaskDraft,
    default_task_id,
    load_script_task,
    slug,
    with_checks,
    write_task_folder,
)

log = logging.getLogger(__name__)
FORMAT = 1  # bump when what a baseline records or how a task is derived changes: cached baselines are redone
TORCH_FRAMEWORKS = (Framework.pytorch, Framework.lightning)
Say = Callable[[str], None]


@dataclass(frozen=True)
class Baseline:
    execution: ExecutionResult
    facts: BaselineFacts
    verdict: Verdict  # the untouched script judged as the task's input
    cached: bool = False


@dataclass(frozen=True)
class Prepared:
    script: ScriptInfo
    target: Target
    framework: Framework
    fixtures: tuple[FixtureEntry, ...]
    draft: TaskDraft
    task: ScriptTask
    folder: Path  # this script's work folder (task, baseline, runs)
    baseline: Baseline

    @property
    def already_adapted(self) -> bool:
        return self.baseline.verdict.passed


def prepare(script_path: Path, to: str, root: Path, *, framework: str | None = None, fixtures: list[Path] = (),
            instruction: str = "", env: dict[str, str] | None = None, timeout_s: float | None = None,
            task_id: str | None = None, say: Say | None = None) -> Prepared:
    say = say or log.info
    script = read_script(script_path)
    target = parse_target(to, script)
    chosen = _framework(framework, script, target)
    entries = tuple(fixture_entries(script, list(fixtures)))
    env = check_env(env or {})
    for entry in entries:
        if entry.auto:
            say(f"{script.path.name} imports its own module {entry.target}: copied into the sandbox with it")
    digest = _digest(script, target, chosen, entries, instruction, env, timeout_s)
    folder = Path(root) / "adapt" / f"{slug(script.path.stem)}-{digest}"
    task_id = task_id or default_task_id(script, target)
    baseline = _baseline(folder, script, target, chosen, entries, instruction, env, timeout_s, task_id, say)
    choices = choose(target, chosen, script, baseline.facts, instruction, timeout_s)
    draft = TaskDraft(task_id, target, chosen, script, entries, choices, input_fails_with=baseline.verdict.code)
    task_folder = folder / "task" / task_id
    write_task_folder(task_folder, draft)
    task = load_script_task(task_folder, env)
    return Prepared(script, target, chosen, entries, draft, task, folder, baseline)


def _framework(given: str | None, script: ScriptInfo, target: Target) -> Framework:
    if given:
        try:
            framework = Framework(given)
        except ValueError:
            raise BadOptionError(f"unknown --framework '{given}'",
                                 "choose from: " + ", ".join(f.value for f in Framework)) from None
    elif target.functionality is Functionality.version_control:
        framework = Framework.none  # as the shipped version-control tasks: the framework axis is the training code's
    else:
        framework = script.framework
    if target.functionality is Functionality.model_optimization and framework not in TORCH_FRAMEWORKS:
        raise BadOptionError(f"--to {target.describe()}: pruning during training needs a PyTorch model, and "
                             f"{script.path.name} is {framework.value} code (from its imports)",
                             "adapt a PyTorch or Lightning script, or pass --framework pytorch if the detection is wrong")
    return framework


def check_env(env: dict[str, str]) -> dict[str, str]:
    """--env may add variables, never replace one the sandbox sets (its stores, HOME, the probes)."""
    from sandbox.environment import build_env

    reserved = set(build_env(Path("/nonexistent")))
    clash = sorted(set(env) & reserved)
    if clash:
        raise BadOptionError(f"--env {', '.join(clash)}: set by the sandbox itself (stores, HOME, probes)",
                             "choose other variable names; the sandbox's values cannot be replaced")
    return dict(sorted(env.items()))


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadOptionError(f"--env '{pair}' is not KEY=VALUE", "write e.g. --env EPOCHS=1")
        env[key.strip()] = value
    return env


def _digest(script: ScriptInfo, target: Target, framework: Framework, entries: tuple[FixtureEntry, ...],
            instruction: str, env: dict[str, str], timeout_s: float | None) -> str:
    h = hashlib.sha256(json.dumps({"format": FORMAT, "target": target.describe(), "framework": framework.value,
                                   "instruction": instruction, "env": env, "timeout": timeout_s,
                                   "script": script.path.name}, sort_keys=True).encode())
    h.update(script.code.encode())
    for entry in entries:
        files = sorted(entry.source.rglob("*")) if entry.source.is_dir() else [entry.source]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                h.update((entry.target / file.relative_to(entry.source)).as_posix().encode())
                h.update(file.read_bytes())
    return h.hexdigest()[:12]


def _baseline(folder: Path, script: ScriptInfo, target: Target, framework: Framework,
              entries: tuple[FixtureEntry, ...], instruction: str, env: dict[str, str], timeout_s: float | None,
              task_id: str, say: Say) -> Baseline:
    record = folder / "baseline.json"
    if record.exists():
        stored = json.loads(record.read_text())
        say(f"baseline: reusing the recorded run of the untouched {script.path.name} ({record})")
        return Baseline(ExecutionResult.model_validate(stored["execution"]), BaselineFacts(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in stored["facts"].items()}),
            Verdict.model_validate(stored["verdict"]), cached=True)
    provisional = choose(target, framework, script, None, instruction, timeout_s)
    task_folder = folder / "task" / task_id
    write_task_folder(task_folder, TaskDraft(task_id, target, framework, script, entries, provisional))
    task = load_script_task(task_folder, env)
    say(f"baseline: running the untouched {script.path.name} in the sandbox (limit {task.limits.timeout_s:.0f} s)")
    execution = _run_untouched(task, folder / "baseline")
    if execution.timed_out or execution.exit_code != 0:
        raise diagnose(execution, script, task.limits.timeout_s, task.limits.memory_mb)
    facts = collect_facts(task, execution)
    final = choose(target, framework, script, facts, instruction, timeout_s)
    from sandbox.grading import judge

    verdict = judge(with_checks(task, final.checks), execution)
    if verdict.status is Status.error:
        raise AdaptbenchError(f"the harness failed while judging the untouched script: {verdict.reason}",
                              "this is adaptbench's fault, not the script's: rerun with -v and report it")
    say(f"baseline: ran in {execution.duration_s:.1f} s, wrote {', '.join(facts.outputs[:8]) or 'no files'}"
        + (f"; committed {', '.join(facts.committed)}" if facts.committed else ""))
    record.write_text(json.dumps({"execution": execution.model_dump(mode="json"), "facts": asdict(facts),
                                  "verdict": verdict.model_dump(mode="json")}, indent=2))
    return Baseline(execution, facts, verdict)


def _run_untouched(task: ScriptTask, workdir: Path) -> ExecutionResult:
    from sandbox.grading import grade

    if workdir.exists():
        shutil.rmtree(workdir)
    graded = grade(task, task.input_code(), workdir)
    if graded.execution is None:  # cannot happen for a script that parsed; kept for a clear message
        raise AdaptbenchError(f"the untouched script could not be run: {graded.verdict.reason}")
    return graded.execution
