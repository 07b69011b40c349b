"""Runs one command in a work dir, inside the chosen isolation layer (sandbox/layers.py), under limits.

Limits: CPU seconds, file size, a generous address-space cap and (where the layer can make it bind) the number
of processes are rlimits set by `prlimit` (never a preexec_fn in a threaded harness); wall clock, resident memory
and the number of processes are also watched by a watchdog polling the process tree through /proc, because
RLIMIT_AS alone is a poor fit for threaded torch, and a fork bomb held at the process cap would otherwise sit
there until the timeout. Whatever the outcome, every process the run started is SIGKILLed before `execute`
returns, and the work dir is the harness's again."""

from __future__ import annotations

import contextlib
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

from . import _identity, _proctree
from ._proctree import Proc
from .environment import build_env
from .layers import RLIMITS, WATCHDOG, IsolationLayer, Launch, select_layer

log = logging.getLogger(__name__)
TAIL_CHARS = 4000
TICK_S = 0.1
MIB = 1024 * 1024
TOKEN_VAR = "ADAPTBENCH_RUN_TOKEN"
SWEEP_ROUNDS = 20
# Tasks (threads included) one run may hold. Measured peaks of the task suite's references stay far below
# (see STACK-NOTES); a fork bomb meets the kernel's cap here, and the watchdog ends it as "processes".
MAX_PROCESSES = 256
PROCESS_ALARM_MARGIN = 8  # the watchdog kills this close to the cap (forks are failing by then)


def execute(argv: list[str], workdir: Path, limits: Limits, env: dict[str, str] | None = None,
            label: str = "main") -> ExecutionResult:
    """Run argv in `workdir`; stdout/stderr go to files `<label>.stdout/.stderr` under workdir/.adaptbench/."""
    workdir = Path(workdir)
    env = dict(env) if env is not None else build_env(workdir)
    layer = select_layer()
    control = _identity.secure_control_dir(workdir)
    start = time.monotonic()
    with _identity.lease() as owner, _log_files(control, label) as (out, err):
        launch = _wrap(layer, argv, workdir, env, owner)
        try:
            _identity.hand_over(workdir, launch.runs_as)
            watch = _launch(layer, launch, workdir, limits, out, err)
            code, reason = watch.run()
        finally:
            launch.close()
            if launch.runs_as.dedicated and not layer.contains_tree:  # in a PID namespace none can be left
                _identity.kill_all_of(launch.runs_as.uid)
            _identity.take_back(workdir, launch.runs_as)
        _raise_on_setup_failure(layer, code, err, control / f"{label}.stderr")
        stdout_tail, stderr_tail = tail(out), tail(err)
    duration = round(time.monotonic() - start, 3)
    log.debug("%s: %s exit=%s killed=%s in %.2fs, peak rss %d MiB, peak %d tasks", label, layer.name, code,
              reason, duration, watch.peak_rss // MIB, watch.peak_tasks)
    return ExecutionResult(
        exit_code=None if reason == "timeout" else code, timed_out=reason == "timeout", killed_reason=reason,
        duration_s=duration, stdout_tail=stdout_tail, stderr_tail=stderr_tail,
        isolation=layer.name, protections=(*launch.protections, RLIMITS, WATCHDOG), workdir=workdir,
    )


@contextlib.contextmanager
def _log_files(control: Path, label: str):
    out = _identity.create_private_file(control, f"{label}.stdout")
    try:
        err = _identity.create_private_file(control, f"{label}.stderr")
        try:
            yield out, err
        finally:
            err.close()
    finally:
        out.close()


def _wrap(layer: IsolationLayer, argv: list[str], workdir: Path, env: dict[str, str],
          owner: _identity.Identity) -> Launch:
    if not layer.contains_tree:
        env[TOKEN_VAR] = uuid.uuid4().hex  # lets the sweep find descendants that escaped the tree with setsid
    return layer.wrap(list(argv), workdir, env, owner, MAX_PROCESSES)


def _launch(layer: IsolationLayer, launch: Launch, workdir: Path, limits: Limits, out, err) -> _Watch:
    layer.prepare()
    command = rlimit_prefix(limits, nproc=launch.outer_nproc) + launch.argv
    try:
        proc = subprocess.Popen(command, cwd=workdir, env=launch.env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=launch.pass_fds)
    except OSError as exc:
        raise SandboxError(f"cannot launch the sandbox ({layer.name}): {exc}", "is util-linux installed?") from exc
    return _Watch(proc, limits, launch.env.get(TOKEN_VAR))


def _raise_on_setup_failure(layer: IsolationLayer, code: int, err, err_path: Path) -> None:
    """A layer that could not build the sandbox is the harness's failure, never the script's."""
    if code == 0 or not layer.setup_error_prefixes:
        return
    err.seek(0)
    head = err.read(2000).decode("utf-8", errors="replace")
    if head.startswith(layer.setup_error_prefixes):
        raise SandboxError(f"the {layer.name} sandbox could not start: {head.splitlines()[0]}",
                           f"set ADAPTBENCH_ISOLATION to another layer, or see {err_path}")


def rlimit_prefix(limits: Limits, nproc: int | None = None) -> list[str]:
    """`prlimit` arguments: CPU seconds, max file size, no core dumps, an address-space backstop far above
    `memory_mb` (threads reserve address space they never touch; the RSS watchdog is the real memory limit),
    and the number of processes when the layer says it binds the run's own processes from outside."""
    cpu = limits.cpu_s if limits.cpu_s is not None else max(1, math.ceil(2 * limits.timeout_s))
    address_space = max(4 * limits.memory_mb, limits.memory_mb + 4096) * MIB
    args = ["prlimit", f"--cpu={cpu}", f"--fsize={limits.file_size_mb * MIB}", f"--as={address_space}", "--core=0"]
    if nproc is not None:
        args.append(f"--nproc={nproc}")
    return [*args, "--"]


@dataclass
class _Watch:
    """Polls one run until it ends or breaks a limit, then kills everything it started."""

    proc: subprocess.Popen
    limits: Limits
    token: str | None
    tracked: set[Proc] = field(default_factory=set)
    peak_rss: int = 0
    peak_tasks: int = 0

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
        table = _proctree.snapshot()
        tree = _proctree.descendants(self.proc.pid, table)
        self.tracked |= tree
        tasks = _proctree.task_count(tree, table)
        self.peak_tasks = max(self.peak_tasks, tasks)
        rss = _proctree.rss_bytes(tree)
        self.peak_rss = max(self.peak_rss, rss)
        if rss > self.limits.memory_mb * MIB:
            log.info("pid %d: resident memory %d MiB over the %d MiB limit: killing", self.proc.pid, rss // MIB,
                     self.limits.memory_mb)
            return "memory"
        if tasks >= MAX_PROCESSES - PROCESS_ALARM_MARGIN:
            log.info("pid %d: %d processes/threads, at the cap of %d: killing", self.proc.pid, tasks,
                     MAX_PROCESSES)
            return "processes"
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


def tail(fh, chars: int = TAIL_CHARS) -> str:
    """The last `chars` bytes of an open log file, decoded."""
    fh.flush()
    size = os.fstat(fh.fileno()).st_size
    fh.seek(max(0, size - chars))
    return fh.read().decode("utf-8", errors="replace")
