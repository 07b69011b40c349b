"""Isolation layers: how a candidate script is fenced off from the machine that judges it.

Threat model. Candidate scripts are LLM output: not malicious by design, but careless and occasionally wild
(`rm -rf ~`, a hard-coded tracking server, `os.fork()` loops, a stray daemon, a 50 GB tensor). Each script must
be unable to spoil the host, the harness, the reference solutions or another sample's results, and must not be
able to read anything the model should not know (API keys, the tasks' reference solutions).

Design. One abstract `IsolationLayer` with one method, `wrap(argv, workdir, env)`, registered in `LAYERS` with
`@isolation_layer(name, rank)`. Built-ins, strongest first:

- `bwrap` (bubblewrap): new PID, network, IPC and UTS namespaces, all capabilities dropped, and a fresh root
  built from `_mounts.plan()`: system dirs and the interpreter read-only, the work dir read-write, fresh
  /proc, /dev, /tmp; not the repository, not sibling work dirs, not the real HOME, not /etc/shadow.
- `unshare` (util-linux): the same namespaces plus a user namespace; `_nsinit.py` runs as PID 1 inside,
  builds the same root from the same plan, brings loopback up, drops every capability and runs the script.
- `plain`: no isolation at all (a loud warning says so); kept so the harness still runs where namespaces are
  unavailable. Only the environment allowlist, rlimits and the watchdog apply.

The executor adds what every layer shares: the environment allowlist (the layer process itself is launched
with it, so /proc/1/environ inside leaks nothing), rlimits set by `prlimit` (CPU, file size, a generous
address-space cap), a wall-clock and RSS watchdog, and a SIGKILL of the whole tree (with a PID namespace the
kernel kills every process in it when its PID 1 dies; `plain` relies on a child subreaper plus an environment
token to find `setsid` escapees).

Not defended: kernel exploits and namespace escapes (no seccomp filter, uid is not changed: bwrap keeps the
harness's uid, which as root means root-owned files in the read-only binds stay readable - hence the tight
allowlist); CPU starvation of the host (no cgroups here; two-core machines can be slowed, not taken over);
fork bombs under root (RLIMIT_NPROC does not bind root; the watchdog's RSS cap and the timeout end them);
disk filling inside the work dir beyond what RLIMIT_FSIZE bounds per file; anything under `plain`.

Select with `ADAPTBENCH_ISOLATION=bwrap|unshare|plain`; otherwise the strongest layer that passes a live probe
(`true` run under it, once per process) is used.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from benchmark.errors import SandboxError, UnknownNameError
from benchmark.registry import Registry

from . import _mounts, _proctree

log = logging.getLogger(__name__)
ENV_VAR = "ADAPTBENCH_ISOLATION"
PROBE_TIMEOUT_S = 20.0
NSINIT = Path(__file__).with_name("_nsinit.py")


class IsolationLayer(ABC):
    """Turns a command into one that runs fenced off. `rank` orders auto-detection (strongest first);
    `contains_tree` says whether killing the launched process takes every descendant with it."""

    name: ClassVar[str] = ""
    rank: ClassVar[int] = 0
    contains_tree: ClassVar[bool] = True
    setup_error_prefix: ClassVar[str | None] = None  # how the layer's own failures start on stderr
    _probe_lock: ClassVar[threading.Lock] = threading.Lock()
    _probe_results: ClassVar[dict[str, str | None]] = {}

    @abstractmethod
    def wrap(self, argv: list[str], workdir: Path, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """The argv and environment to launch so that `argv` runs inside the layer, in `workdir`."""

    def prepare(self) -> None:
        """Called before every launch (the plain layer arms its subreaper here)."""

    @classmethod
    def available(cls) -> bool:
        return cls.unavailable_reason() is None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when the layer works here; otherwise why not. Probed once per process, then cached."""
        with cls._probe_lock:
            if cls.name not in cls._probe_results:
                cls._probe_results[cls.name] = cls().probe()
            return cls._probe_results[cls.name]

    def probe(self) -> str | None:
        with tempfile.TemporaryDirectory(prefix="adaptbench-probe-") as tmp:
            argv, env = self.wrap(["true"], Path(tmp), {"PATH": "/usr/bin:/bin"})
            try:
                done = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, timeout=PROBE_TIMEOUT_S,
                                      check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"probe failed: {exc}"
        if done.returncode != 0:
            return f"probe exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[-300:]}"
        return None


LAYERS: Registry[IsolationLayer] = Registry("isolation layer", IsolationLayer)


def isolation_layer(name: str, rank: int):
    def decorator(cls):
        cls.name, cls.rank = name, rank
        return LAYERS.register(name)(cls)

    return decorator


def _binary(name: str) -> str:
    path = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin")
    if path is None:
        raise SandboxError(f"'{name}' is not installed", "apt-get install bubblewrap util-linux")
    return path


@isolation_layer("bwrap", rank=30)
class BwrapLayer(IsolationLayer):
    setup_error_prefix = "bwrap: "

    def wrap(self, argv, workdir, env):
        args = [_binary("bwrap"), "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox",
                "--cap-drop", "ALL"]
        for m in _mounts.plan(workdir):
            args += _bwrap_args(m)
        args += ["--remount-ro", "/", "--chdir", str(Path(workdir).resolve()), "--", *argv]
        return args, dict(env)

    def probe(self):
        try:
            _binary("bwrap")
        except SandboxError as exc:
            return exc.message
        return super().probe()


def _bwrap_args(m: _mounts.Mount) -> list[str]:
    if m.kind == "ro":
        return ["--ro-bind-try", m.source, m.dest]
    if m.kind == "rw":
        return ["--bind", m.source, m.dest]
    if m.kind == "symlink":
        return ["--symlink", m.source, m.dest]
    if m.kind in ("tmpfs", "proc", "dev"):
        return [f"--{m.kind}", m.dest]
    raise SandboxError(f"bwrap layer: unknown mount kind {m.kind!r}")


@isolation_layer("unshare", rank=20)
class UnshareLayer(IsolationLayer):
    setup_error_prefix = "adaptbench-sandbox: setup failed: "

    def wrap(self, argv, workdir, env):
        workdir = Path(workdir).resolve()
        mounts = _mounts.plan(workdir)
        spec = {"staging": _staging_dir(workdir, mounts), "cwd": str(workdir),
                "mounts": [m.to_json() for m in mounts]}
        args = [_binary("unshare"), "--user", "--map-root-user", "--mount", "--net", "--pid", "--ipc", "--uts",
                "--fork", "--kill-child", "--", sys.executable, "-I", "-S", str(NSINIT), json.dumps(spec),
                "--", *argv]
        return args, dict(env)

    def probe(self):
        try:
            _binary("unshare")
        except SandboxError as exc:
            return exc.message
        return super().probe()


def _staging_dir(workdir: Path, mounts: list[_mounts.Mount]) -> str:
    # any existing directory that hides no bind source will do: the new root's tmpfs is mounted on it only
    # inside the mount namespace; the work dir's own bind is not recursive, so a mount below it stays out
    if os.path.isdir("/mnt") and not any(m.source.startswith("/mnt/") for m in mounts):
        return "/mnt"
    staging = workdir / ".adaptbench" / "nsroot"
    staging.mkdir(parents=True, exist_ok=True)
    return str(staging)


@isolation_layer("plain", rank=0)
class PlainLayer(IsolationLayer):
    """No isolation. The script sees the whole filesystem, the network and the harness's processes."""

    contains_tree = False
    _warned = False

    def wrap(self, argv, workdir, env):
        return list(argv), dict(env)

    def prepare(self):
        if not PlainLayer._warned:
            PlainLayer._warned = True
            log.warning("!!! SANDBOX DISABLED: isolation layer 'plain' runs candidate scripts with NO filesystem, "
                        "network or process isolation. Install bubblewrap (apt-get install bubblewrap) or allow "
                        "user namespaces before running untrusted code. !!!")
            _proctree.become_subreaper()

    def probe(self):
        return None


def select_layer() -> IsolationLayer:
    """The layer forced by ADAPTBENCH_ISOLATION, or the strongest one that works here."""
    forced = os.environ.get(ENV_VAR, "").strip()
    if forced:
        try:
            cls = LAYERS.get(forced)
        except UnknownNameError as exc:
            raise UnknownNameError(f"{ENV_VAR}={forced!r} names no isolation layer", exc.hint) from None
        reason = cls.unavailable_reason()
        if reason is not None:
            raise SandboxError(f"{ENV_VAR}={forced}, but that layer does not work here: {reason}",
                               f"unset {ENV_VAR} to pick the strongest available layer automatically")
        return cls()
    for cls in sorted((LAYERS.get(n) for n in LAYERS.names()), key=lambda c: -c.rank):
        reason = cls.unavailable_reason()
        if reason is None:
            return cls()
        log.info("isolation layer %s unavailable: %s", cls.name, reason)
    raise SandboxError("no isolation layer works here", "check the logs for each layer's probe failure")
