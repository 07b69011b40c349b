"""Grading one candidate script for one task: prepare a fresh work dir, execute it in the sandbox,
classify how it ended, and let the task's checkers judge what it left behind."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.types import (
    CheckResult,
    ExecutionResult,
    FailureCategory,
    Limits,
    Status,
    Task,
    Verdict,
)

from .checkers import CHECKERS, CheckContext, Checker
from .checkers._warm import PROBE_UNTIL_VAR
from .environment import build_env, make_dirs
from .executor import execute
from .probes import (
    EventLog,
    has_legacy_log,
    issue_key,
    read_events,
    seal_events,
    write_sitecustomize,
)

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 180.0
# A probe that runs in the script's own process tree at exit (the warm registration probe) waits no later than
# this share of the time limit, so it can never turn a script that finished in time into a timeout.
PROBE_SHARE_OF_LIMIT = 0.85


@dataclass
class Graded:
    execution: ExecutionResult | None
    verdict: Verdict


def grade(task: Task, code: str, workdir: Path, timeout_scale: float = 1.0) -> Graded:
    """Run `code` as the task's candidate in a fresh `workdir` (must not exist yet) and judge it."""
    syntax = syntax_problem(code)
    if syntax:
        return Graded(None, Verdict(status=Status.failed, category=FailureCategory.syntax_error,
                                    code="syntax_error", reason=syntax))
    checkers = instantiate_checkers(task)
    key = prepare_workdir(task, code, Path(workdir), checkers)
    limits = task.limits.model_copy(update={"timeout_s": task.limits.timeout_s * timeout_scale})
    env = script_env(task, workdir)
    env[PROBE_UNTIL_VAR] = f"{time.time() + limits.timeout_s * PROBE_SHARE_OF_LIMIT:.3f}"
    execution = execute([sys.executable, task.entrypoint], Path(workdir), limits, env=env)
    seal_events(Path(workdir), key)  # every process of the run is dead now: nothing can alter the sealed log
    return Graded(execution, judge(task, execution, checkers, timeout_scale))


def judge(task: Task, execution: ExecutionResult, checkers: list[Checker] | None = None,
          timeout_scale: float = 1.0) -> Verdict:
    """Judge a finished execution. Pure in the work dir's contents, so stored executions can be re-judged."""
    if execution.timed_out:
        return Verdict(status=Status.timeout, category=FailureCategory.timeout, code="timeout",
                       reason=f"did not finish within the time limit ({execution.duration_s:.0f} s)")
    if execution.exit_code != 0:
        category, reason = classify_crash(execution)
        return Verdict(status=Status.failed, category=category, code=category.value, reason=reason)
    checkers = checkers if checkers is not None else instantiate_checkers(task)
    probe_log = read_events(execution.workdir)
    unusable = _unusable_log(probe_log, execution.workdir)
    if unusable is not None:
        return unusable
    ctx = CheckContext(task=task, workdir=execution.workdir, execution=execution, events=probe_log.events,
                       run_probe=_probe_runner(task, execution.workdir, timeout_scale))
    results = [run_checker(c, ctx) for c in checkers]
    failed = [r for r in results if not r.passed]
    if not failed:
        return Verdict(status=Status.passed, category=FailureCategory.ok, code="ok",
                       reason="; ".join(r.reason for r in results), checks=tuple(results))
    harness = [r for r in failed if r.code == "harness_error"]
    if harness:
        return Verdict(status=Status.error, category=FailureCategory.harness_error, code="harness_error",
                       reason=harness[0].reason, checks=tuple(results))
    return Verdict(status=Status.failed, category=FailureCategory.check_failed, code=failed[0].code,
                   reason=failed[0].reason, checks=tuple(results))


def _unusable_log(events: EventLog, workdir: Path) -> Verdict | None:
    """A verdict when the probes' log cannot be trusted: the script tampered with it, or it predates sealing."""
    if events.tampered:
        return Verdict(status=Status.failed, category=FailureCategory.check_failed, code="probe.events_tampered",
                       reason=f"the harness's probe log was modified while the script ran ({events.tamper_summary()} "
                              "record(s)): the script must not write to, copy or delete files under .adaptbench/")
    if not events.sealed and has_legacy_log(workdir):
        return Verdict(status=Status.error, category=FailureCategory.harness_error, code="harness_error",
                       reason="this stored execution predates authenticated probe logs: run it again")
    return None


def script_env(task: Task, workdir: Path) -> dict[str, str]:
    """The sandbox's environment plus the variables a task sets for its script (`env`, e.g. a smaller epoch count
    for the trial runs of `adaptbench adapt`); none of them can replace a variable the sandbox sets."""
    env = build_env(Path(workdir))
    extra = getattr(task, "env", None) or {}
    env.update({key: value for key, value in extra.items() if key not in env})
    return env


def instantiate_checkers(task: Task) -> list[Checker]:
    out = []
    for spec in task.checks:
        cls = CHECKERS.get(spec.name)
        out.append(cls(cls.Args.model_validate(spec.args)))
    return out


def run_checker(checker: Checker, ctx: CheckContext) -> CheckResult:
    try:
        return checker.check(ctx)
    except Exception as exc:  # a checker bug is the harness's fault, never the model's
        log.exception("checker %s crashed", checker.name)
        return CheckResult(name=checker.name, passed=False, code="harness_error",
                           reason=f"checker '{checker.name}' crashed: {exc!r}")


def prepare_workdir(task: Task, code: str, workdir: Path, checkers: list[Checker]) -> bytes:
    """A fresh work dir holding the fixtures, the candidate and the probes; returns the probe log's key."""
    if workdir.exists() and any(workdir.iterdir()):
        raise FileExistsError(f"work dir {workdir} is not empty: each execution needs a fresh one")
    workdir.mkdir(parents=True, exist_ok=True)
    for fixture in task.fixtures:
        dest = workdir / fixture.name
        shutil.copytree(fixture, dest) if fixture.is_dir() else shutil.copy2(fixture, dest)
    if task.git_init:
        _git_init(workdir)
    (workdir / task.entrypoint).write_text(code)
    make_dirs(workdir)
    write_sitecustomize(workdir, [(c.name, source) for c in checkers if (source := c.probe_for(task))])
    return issue_key(workdir)


def needs_fresh_run(execution: ExecutionResult) -> bool:
    """True for a stored execution whose probe log predates sealing: re-judging it would trust unsigned events."""
    return execution.exit_code == 0 and has_legacy_log(execution.workdir)


def _git_init(workdir: Path) -> None:
    env = build_env(workdir)
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "initial state", "--allow-empty"]):
        subprocess.run(argv, cwd=workdir, env=env, check=True, capture_output=True)


def _probe_runner(task: Task, workdir: Path, timeout_scale: float = 1.0):
    counter = iter(range(1_000_000))

    def run_probe(source: str) -> dict[str, Any]:
        label = f"probe{next(counter)}"
        script = workdir / ".adaptbench" / f"{label}.py"
        script.write_text(source)
        env = build_env(workdir)
        env["ADAPTBENCH_EVENTS"] = str(workdir / ".adaptbench" / f"{label}.events")
        limits = Limits(timeout_s=PROBE_TIMEOUT_S * timeout_scale, memory_mb=task.limits.memory_mb)
        result = execute([sys.executable, str(script.relative_to(workdir))], workdir, limits, env=env, label=label)
        for line in reversed(result.stdout_tail.strip().splitlines()):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
        return {"error": f"probe printed no JSON (exit {result.exit_code}): {result.stderr_tail[-1500:]}",
                "timed_out": result.timed_out}

    return run_probe


def syntax_problem(code: str) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            compile(code, "<candidate>", "exec")
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    except ValueError as exc:  # e.g. null bytes
        return f"cannot compile: {exc}"
    return None


_API_PATTERNS = (
    r"ImportError: cannot import name",
    r"AttributeError: module '[\w.]+' has no attribute",
    r"AttributeError: type object '\w+' has no attribute",
    r"TypeError: .*got an unexpected keyword argument",
    r"TypeError: .*missing \d+ required positional argument",
)


# What to do about errors whose message alone does not say it in the sandbox (appended to the verdict's reason).
_HINTS = (
    (r"^NameError: name '(?P<name>\w+)' is not defined",
     "`{name}` is used but never imported or defined: add its import at the top of the script"),
    (r"^wandb\.errors\.\w+\.UsageError: No API key configured",
     "the sandbox has no network and no W&B account: run W&B offline (`wandb.init(mode=\"offline\")`, or leave "
     "`mode` unset: the sandbox sets WANDB_MODE=offline)"),
    (r"^(?:requests\.exceptions\.ConnectionError|urllib\.error\.URLError|socket\.gaierror|"
     r"OSError: \[Errno (?:101|111|-2|-3)\])",
     "the sandbox has no network: the script must not download anything or reach a server"),
)


def with_hint(line: str) -> str:
    for pattern, hint in _HINTS:
        match = re.match(pattern, line)
        if match:
            return f"{line} ({hint.format(**match.groupdict())})"
    return line


def classify_crash(execution: ExecutionResult) -> tuple[FailureCategory, str]:
    err = execution.stderr_tail
    last = _last_error_line(err)
    last = with_hint(last) if last else f"exited with code {execution.exit_code}"
    if execution.killed_reason == "processes":
        return FailureCategory.runtime_error, f"killed: too many processes at once, a fork bomb? ({last})"
    if execution.killed_reason == "memory" or "MemoryError" in err or execution.exit_code in (-9, 137):
        return FailureCategory.memory, f"killed: out of memory or over the memory limit ({last})"
    if re.search(r"^(SyntaxError|IndentationError|TabError)", err, re.MULTILINE):
        return FailureCategory.syntax_error, last
    if re.search(r"^ModuleNotFoundError", err, re.MULTILINE):
        return FailureCategory.import_error, last
    if any(re.search(p, err) for p in _API_PATTERNS):
        return FailureCategory.api_error, last
    return FailureCategory.runtime_error, last


def _last_error_line(stderr: str) -> str | None:
    for line in reversed(stderr.strip().splitlines()):
        if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", line) or re.match(r"^\w+Error:", line):
            return line.strip()[:500]
    return None
