"""Runs one command in a work dir, inside the chosen isolation layer (sandbox/layers.py), under limits.

Limits: CPU seconds, file size and a generous address-space cap are rlimits set by `prlimit` (never a
preexec_fn in a threaded harness); wall clock and resident memory are enforced by a watchdog polling the
process tree through /proc, because RLIMIT_AS alone is a poor fit for threaded torch. Whatever the outcome,
every process the run started is SIGKILLed before `execute` returns."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.errors import SandboxError
from benchmark.types import ExecutionResult, Limits

from . import _proctree
from ._proctree import Proc
from .environment import build_env
from .layers import IsolationLayer, select_layer

log = logging.getLogger(__name__)
TAIL_CHARS = 4000
TICK_S = 0.1
MIB = 1024 * 1024
TOKEN_VAR = "ADAPTBENCH_RUN_TOKEN"
SWEEP_ROUNDS = 20


def execute(argv: list[str], workdir: Path, limits: Limits, env: dict[str, str] | None = None,
            label: str = "main") -> ExecutionResult:
    """Run argv in `workdir`; stdout/stderr go to files `<label>.stdout/.stderr` under workdir/.adaptbench/."""
    workdir = Path(workdir)
    env = dict(env) if env is not None else build_env(workdir)
    layer = select_layer()
    logs = workdir / ".adaptbench"
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{label}.stdout", logs / f"{label}.stderr"
    start = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        watch = _launch(layer, argv, workdir, env, limits, out, err)
        code, reason = watch.run()
    _raise_on_setup_failure(layer, code, err_path)
    duration = round(time.monotonic() - start, 3)
    log.debug("%s: %s exit=%s killed=%s in %.2fs, peak rss %d MiB", label, layer.name, code, reason, duration,
              watch.peak_rss // MIB)
    return ExecutionResult(
        exit_code=None if reason == "timeout" else code, timed_out=reason == "timeout", killed_reason=reason,
        duration_s=duration, stdout_tail=tail(out_path), stderr_tail=tail(err_path),
        isolation=layer.name, workdir=workdir,
    )


def _launch(layer: IsolationLayer, argv: list[str], workdir: Path, env: dict[str, str], limits: Limits,
            out, err) -> _Watch:
    token = None
    if not layer.contains_tree:
        token = uuid.uuid4().hex
        env[TOKEN_VAR] = token  # lets the sweep find descendants that escaped the tree with setsid
    wrapped, launch_env = layer.wrap(list(argv), workdir, env)
    layer.prepare()
    command = rlimit_prefix(limits) + wrapped
    try:
        proc = subprocess.Popen(command, cwd=workdir, env=launch_env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise SandboxError(f"cannot launch the sandbox ({layer.name}): {exc}", "is util-linux installed?") from exc
    return _Watch(proc, limits, token)


def _raise_on_setup_failure(layer: IsolationLayer, code: int, err_path: Path) -> None:
    """A layer that could not build the sandbox is the harness's failure, never the script's."""
    if code == 0 or not layer.setup_error_prefix:
        return
    with open(err_path, "rb") as fh:
        head = fh.read(2000).decode("utf-8", errors="replace")
    if head.startswith(layer.setup_error_prefix):
        raise SandboxError(f"the {layer.name} sandbox could not start: {head.splitlines()[0]}",
                           f"set ADAPTBENCH_ISOLATION to another layer, or see {err_path}")


def rlimit_prefix(limits: Limits) -> list[str]:
    """`prlimit` arguments: CPU seconds, max file size, no core dumps, and an address-space backstop far above
    `memory_mb` (threads reserve address space they never touch; the RSS watchdog is the real memory limit)."""
    cpu = limits.cpu_s if limits.cpu_s is not None else max(1, math.ceil(2 * limits.timeout_s))
    address_space = max(4 * limits.memory_mb, limits.memory_mb + 4096) * MIB
    return ["prlimit", f"--cpu={cpu}", f"--fsize={limits.file_size_mb * MIB}", f"--as={address_space}",
            "--core=0", "--"]


@dataclass
class _Watch:
    """Polls one run until it ends or breaks a limit, then kills everything it started."""

    proc: subprocess.Popen
    limits: Limits
    token: str | None
    tracked: set[Proc] = field(default_factory=set)
    peak_rss: int = 0

    def run(self) -> tuple[int, str | None]:
        deadline = time.monotonic() + self.limits.timeout_s
        reason = None
        try:
            while reason is None:
                try:
                    self.proc.wait(timeout=TICK_S)
                    break
                except subprocess.TimeoutExpired:
                    reason = self._check(deadline)
        finally:
            self.sweep()
        return self.proc.wait(), reason

    def _check(self, deadline: float) -> str | None:
        tree = _proctree.descendants(self.proc.pid)
        self.tracked |= tree
        rss = _proctree.rss_bytes(tree)
        self.peak_rss = max(self.peak_rss, rss)
        if rss > self.limits.memory_mb * MIB:
            log.info("pid %d: resident memory %d MiB over the %d MiB limit: killing", self.proc.pid, rss // MIB,
                     self.limits.memory_mb)
            return "memory"
        if time.monotonic() >= deadline:
            log.info("pid %d: over the %.0f s time limit: killing", self.proc.pid, self.limits.timeout_s)
            return "timeout"
        return None

    def sweep(self) -> None:
        """SIGKILL the group, the tree and (plain layer) every process carrying the run's token, until none is left.
        SIGKILL because a PID 1 inside a namespace ignores SIGTERM."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for _ in range(SWEEP_ROUNDS):
            victims = {p for p in self.tracked | self._current() if p.pid != self.proc.pid or self._root_alive()}
            living = [p for p in victims if _proctree.alive(p)]
            if not living:
                break
            _proctree.kill(living)
            self.tracked |= set(living)
            time.sleep(0.02)
        else:
            log.error("pid %d: processes survived %d kill rounds", self.proc.pid, SWEEP_ROUNDS)
        self.proc.wait()
        _proctree.reap_orphans(p for p in self.tracked if p.pid != self.proc.pid)

    def _current(self) -> set[Proc]:
        found = _proctree.descendants(self.proc.pid) if self._root_alive() else set()
        return found | (_proctree.with_env_token(self.token) if self.token else set())

    def _root_alive(self) -> bool:
        return self.proc.returncode is None


def tail(path: Path, chars: int = TAIL_CHARS) -> str:
    data = path.read_bytes() if path.exists() else b""
    return data[-chars:].decode("utf-8", errors="replace")
