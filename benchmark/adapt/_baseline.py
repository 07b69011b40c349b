"""The untouched script's run in the sandbox: it must run there, and what it did (files written, data committed)
becomes the behaviour the adaptation must keep. When it does not run, the error names the cause and the option
that fixes it."""

from __future__ import annotations

import os
import re
import sys
from itertools import pairwise
from pathlib import Path

from ..types import ExecutionResult, Task
from ._errors import ScriptDoesNotRunError
from ._script import ScriptInfo
from ._spec import BaselineFacts

# folders a script's tools manage (logs, stores, checkpoints): not outputs the adaptation must keep writing
TOOL_DIRS = {".adaptbench", ".home", ".tmp", ".dvc-site-cache", ".git", ".dvc", "__pycache__", "lightning_logs",
             "mlruns", "mlartifacts", "wandb", "dvc-storage", ".ipynb_checkpoints"}
TOOL_FILES = {"mlflow.db", ".dvcignore"}
KEPT_IN_GIT = {".py", ".md", ".txt", ".json", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".lock"}
MAX_FILES = 5000

NETWORK = re.compile(r"Temporary failure in name resolution|Name or service not known|Network is unreachable|"
                     r"nodename nor servname|Failed to establish a new connection|getaddrinfo failed|gaierror|"
                     r"urlopen error|ConnectionError|MaxRetryError|HTTPSConnectionPool|HTTPConnectionPool|"
                     r"No route to host|Connection refused")
GPU = re.compile(r"CUDA|NVIDIA driver|no CUDA GPUs|cuda\(\)|MPS backend|nvidia-smi", re.IGNORECASE)
MISSING_FILE = re.compile(r"No such file or directory: '([^']+)'|FileNotFoundError: .*?'([^']+)'")
ARGUMENTS = re.compile(r"error: the following arguments are required: (.+)|error: argument .+")
MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def collect_facts(task: Task, execution: ExecutionResult) -> BaselineFacts:
    workdir = Path(execution.workdir)
    before = {task.entrypoint} | _fixture_files(task)
    outputs = [p for p in _files(workdir) if p not in before]
    committed, commits, tags = _git_facts(workdir, task) if task.git_init else ((), 0, ())
    return BaselineFacts(duration_s=execution.duration_s, outputs=tuple(outputs), committed=committed,
                         data_commits=commits, tags=tags)


def _fixture_files(task: Task) -> set[str]:
    out = set()
    for fixture in task.fixtures:
        if fixture.is_dir():
            out |= {f"{fixture.name}/{p.relative_to(fixture).as_posix()}" for p in fixture.rglob("*") if p.is_file()}
        else:
            out.add(fixture.name)
    return out


def _files(workdir: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(workdir):
        dirs[:] = sorted(d for d in dirs if d not in TOOL_DIRS and not d.endswith(".git"))
        rel = Path(root).relative_to(workdir)
        found += [(rel / f).as_posix() for f in sorted(files) if f not in TOOL_FILES]
        if len(found) > MAX_FILES:
            break
    return found[:MAX_FILES]


def _git_facts(workdir: Path, task: Task) -> tuple[tuple[str, ...], int, tuple[str, ...]]:
    """Data files the script committed (beyond the initial commit of the fixtures), how many of its commits
    changed them, and the tags it made."""
    from sandbox.checkers.dvc_checks import GitReader

    git = GitReader(workdir)
    if not git.is_repo():
        return (), 0, ()
    history = git.rev_list("HEAD", 100)
    if not history:
        return (), 0, ()
    initial = git.tree(history[-1])
    head = git.tree("HEAD")
    data = sorted(p for p, blob in head.items() if initial.get(p) != blob and _is_data(p, task))
    trees = [git.tree(sha) for sha in history]
    changed = sum(1 for newer, older in pairwise(trees) if any(newer.get(p) != older.get(p) for p in data))
    return tuple(data), changed, tuple(git.tags())


def _is_data(path: str, task: Task) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path != task.entrypoint and not name.startswith(".") and Path(name).suffix.lower() not in KEPT_IN_GIT


def diagnose(execution: ExecutionResult, script: ScriptInfo, timeout_s: float, memory_mb: int) -> ScriptDoesNotRunError:
    """Why the untouched script did not run in the sandbox, and which option fixes it."""
    err = execution.stderr_tail or execution.stdout_tail
    last = _last_line(err) or f"exit code {execution.exit_code}"
    name = script.path.name
    if execution.timed_out:
        return ScriptDoesNotRunError(
            "timeout", f"the untouched {name} did not finish within {timeout_s:.0f} s in the sandbox",
            "make its trial runs smaller with --env (e.g. --env EPOCHS=1, if the script reads such a variable) "
            "or allow more time with --timeout SECONDS", err)
    if execution.killed_reason == "memory" or "MemoryError" in err:
        return ScriptDoesNotRunError(
            "memory", f"the untouched {name} used more than the sandbox's {memory_mb} MB of memory ({last})",
            "make its trial runs smaller with --env (fewer samples, a smaller batch), if it reads such settings", err)
    for diagnosis in (_missing_file, _arguments, _network, _gpu, _missing_module):
        found = diagnosis(err, script, last)
        if found is not None:
            return found
    return ScriptDoesNotRunError(
        "crash", f"the untouched {name} fails in the sandbox: {last}",
        f"run `python {name}` from its folder to see why; give the files it needs with --fixtures and the "
        "environment variables it reads with --env", err)


def _missing_file(err: str, script: ScriptInfo, last: str) -> ScriptDoesNotRunError | None:
    match = MISSING_FILE.search(err)
    if not match:
        return None
    missing = match.group(1) or match.group(2)
    beside = script.folder / missing
    if not Path(missing).is_absolute() and beside.exists():
        hint = f"pass it with --fixtures {_shown(beside)}"
    elif Path(missing).is_absolute():
        hint = ("the sandbox sees only the work dir: copy it beside the script, read it by a relative path and pass "
                "it with --fixtures")
    else:
        hint = f"give the file (or its folder) with --fixtures PATH; it is read as ./{missing} from the script's folder"
    return ScriptDoesNotRunError("missing_file", f"{script.path.name} reads '{missing}', which the sandbox does not "
                                 f"have ({last})", hint, err)


def _arguments(err: str, script: ScriptInfo, last: str) -> ScriptDoesNotRunError | None:
    match = ARGUMENTS.search(err)
    if not match:
        return None
    needed = match.group(1) or match.group(0)
    return ScriptDoesNotRunError(
        "arguments", f"{script.path.name} needs command-line arguments ({needed.strip()}), but it is run as "
        f"`python {script.path.name}` with none",
        "give those arguments defaults in the script (argparse default=...), or read them from environment "
        "variables and pass them with --env KEY=VALUE", err)


def _network(err: str, script: ScriptInfo, last: str) -> ScriptDoesNotRunError | None:
    if not NETWORK.search(err):
        return None
    return ScriptDoesNotRunError(
        "network", f"{script.path.name} tries to reach the network, which the sandbox cuts ({last})",
        "download what it needs once, read it from disk and pass the files with --fixtures", err)


def _gpu(err: str, script: ScriptInfo, last: str) -> ScriptDoesNotRunError | None:
    if not GPU.search(_last_line(err) or ""):
        return None
    return ScriptDoesNotRunError(
        "gpu", f"{script.path.name} needs a GPU, and the sandbox has none ({last})",
        "let it fall back to the CPU (device = 'cuda' if torch.cuda.is_available() else 'cpu'), or pass the device "
        "with --env if the script reads it from the environment", err)


def _missing_module(err: str, script: ScriptInfo, last: str) -> ScriptDoesNotRunError | None:
    match = MISSING_MODULE.search(err)
    if not match:
        return None
    module = match.group(1)
    return ScriptDoesNotRunError(
        "missing_module", f"{script.path.name} imports '{module}', which is neither beside it nor installed ({last})",
        f"install it where adaptbench runs scripts ({sys.executable} -m pip install ...), or pass its file with "
        "--fixtures", err)


def _last_line(text: str) -> str | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", line) or re.match(r"^\w+Error:", line) \
                or line.startswith(("usage:", "error:")) or ": error:" in line:
            return line[:400]
    lines = text.strip().splitlines()
    return lines[-1][:400] if lines else None


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
