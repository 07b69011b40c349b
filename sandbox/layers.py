"""Isolation layers: how a candidate script is fenced off from the machine that judges it.

Threat model. Candidate scripts are LLM output: not malicious by design, but careless and occasionally wild
(`rm -rf ~`, a hard-coded tracking server, `os.fork()` loops, a stray daemon, a 50 GB tensor). Each script must
be unable to spoil the host, the harness, the reference solutions or another sample's results, and must not be
able to read anything the model should not know (API keys, the tasks' reference solutions).

Design. One abstract `IsolationLayer` with one method, `wrap(argv, workdir, env, owner, max_processes)`, which
returns a `Launch` (the command, what it needs passed, who the script runs as, which protections are active),
registered in `LAYERS` with `@isolation_layer(name, rank)`. Built-ins, strongest first:

- `bwrap` (bubblewrap): new PID, network, IPC and UTS namespaces and a fresh root built from `_mounts.plan()`:
  system dirs and the interpreter read-only, the work dir read-write, fresh /proc, /dev, /tmp; not the
  repository, not sibling work dirs, not the real HOME, not the host's accounts. A root harness runs bwrap
  privileged and `setpriv` switches to the run's dedicated uid inside; otherwise bwrap makes a user namespace
  in which the script keeps the harness's uid and cannot make another one.
- `unshare` (util-linux): the same namespaces; `_nsinit.py` runs as PID 1 inside, builds the same root from the
  same plan, brings loopback up, gives up every privilege and runs the script (as the dedicated uid when the
  harness is root; in a nested user namespace when it is not).
- `plain`: no namespaces at all (a loud warning says so); kept so the harness still runs where namespaces are
  unavailable. The launcher still applies the seccomp filter and, as root, the dedicated uid when the
  interpreter and work dir can be reached by an unprivileged user.

Every layer: the script is not root (except `plain` under root where the interpreter is out of reach of other
users), the seccomp filter of `_seccomp.py`, no_new_privs, and a process cap (RLIMIT_NPROC) where it can bind
the run's processes alone: on a dedicated uid, or inside a user namespace. The executor adds the environment
allowlist, rlimits, the watchdog (wall clock, resident memory, number of processes) and the kill of the tree.
`Launch.protections` names what was active, from `PROTECTIONS`, and is recorded in every result.

Not defended: kernel exploits through the system calls the filter allows; CPU starvation of the host (no
cgroups here; two-core machines can be slowed, not taken over); disk filling inside the work dir beyond what
RLIMIT_FSIZE bounds per file; nearly everything under `plain`.

Select with `ADAPTBENCH_ISOLATION=bwrap|unshare|plain`; otherwise the strongest layer that passes a live probe
(the interpreter run under it, once per process) is used.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from benchmark.errors import SandboxError, UnknownNameError
from benchmark.registry import Registry

from . import _identity, _mounts, _proctree, _seccomp
from ._identity import Identity

log = logging.getLogger(__name__)
ENV_VAR = "ADAPTBENCH_ISOLATION"
PROBE_TIMEOUT_S = 20.0
PROBE_MAX_PROCESSES = 64
NSINIT = Path(__file__).with_name("_nsinit.py")
SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin"

PID_NS, NET_NS, MOUNT_NS, IPC_NS, UTS_NS, USER_NS = (
    "pid-namespace", "network-namespace", "mount-namespace", "ipc-namespace", "uts-namespace", "user-namespace")
NO_CAPS, NO_NEW_PRIVS, NON_ROOT, DEDICATED_UID, PROCESS_CAP, SECCOMP, RLIMITS, WATCHDOG = (
    "no-capabilities", "no-new-privileges", "non-root", "dedicated-uid", "process-cap", "seccomp", "rlimits",
    "watchdog")
PROTECTIONS = {
    PID_NS: "own PID namespace: host processes are invisible, and the tree dies with its PID 1",
    NET_NS: "own network namespace: only a private loopback",
    MOUNT_NS: "own mount namespace: the file-system allowlist of _mounts.plan()",
    IPC_NS: "own System V IPC / POSIX message queues",
    UTS_NS: "own host name",
    USER_NS: "own user namespace (unprivileged harness)",
    NO_CAPS: "no capability in any set, empty bounding set",
    NO_NEW_PRIVS: "no_new_privs: setuid binaries and file capabilities grant nothing",
    NON_ROOT: "the script's uid is not 0, inside or on the host",
    DEDICATED_UID: "a host uid leased to this run alone",
    PROCESS_CAP: "RLIMIT_NPROC that counts this run's processes only",
    SECCOMP: "the seccomp denylist of sandbox/_seccomp.py",
    RLIMITS: "CPU seconds, file size, address space, no core dumps",
    WATCHDOG: "wall clock, resident memory and process count polled from outside; the whole tree SIGKILLed",
}
NAMESPACES = (PID_NS, NET_NS, MOUNT_NS, IPC_NS, UTS_NS)


@dataclass
class Launch:
    """What the executor starts. `runs_as`: the script's uid on the host (the work dir is handed to it);
    `outer_nproc`: an RLIMIT_NPROC set before the layer starts, which binds once the script's uid is taken."""

    argv: list[str]
    env: dict[str, str]
    runs_as: Identity
    protections: tuple[str, ...]
    outer_nproc: int | None = None
    pass_fds: list[int] = field(default_factory=list)

    def close(self) -> None:
        for fd in self.pass_fds:
            os.close(fd)
        self.pass_fds = []


class IsolationLayer(ABC):
    """Turns a command into one that runs fenced off. `rank` orders auto-detection (strongest first);
    `contains_tree` says whether killing the launched process takes every descendant with it."""

    name: ClassVar[str] = ""
    rank: ClassVar[int] = 0
    contains_tree: ClassVar[bool] = True
    setup_error_prefixes: ClassVar[tuple[str, ...]] = ()  # how the layer's own failures start on stderr
    _probe_lock: ClassVar[threading.Lock] = threading.Lock()
    _probe_results: ClassVar[dict[str, str | None]] = {}

    @abstractmethod
    def wrap(self, argv: list[str], workdir: Path, env: dict[str, str], owner: Identity,
             max_processes: int) -> Launch:
        """How to launch `argv` inside the layer, in `workdir`, as `owner` (a leased identity)."""

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
        """Run the interpreter under the layer exactly as a script would be run (uid, filter, process cap)."""
        with tempfile.TemporaryDirectory(prefix="adaptbench-probe-") as tmp, _identity.lease() as owner:
            launch = self.wrap([sys.executable, "-c", "pass"], Path(tmp), {"PATH": SYSTEM_PATH}, owner,
                               PROBE_MAX_PROCESSES)
            try:
                _identity.hand_over(Path(tmp), launch.runs_as)
                nproc = ["prlimit", f"--nproc={launch.outer_nproc}", "--"] if launch.outer_nproc else []
                done = subprocess.run(nproc + launch.argv, cwd=tmp, env=launch.env, capture_output=True,
                                      timeout=PROBE_TIMEOUT_S, check=False, pass_fds=launch.pass_fds)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"probe failed: {exc}"
            finally:
                launch.close()
                if owner.dedicated:
                    _identity.kill_all_of(owner.uid)
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
    path = shutil.which(name, path=SYSTEM_PATH)
    if path is None:
        raise SandboxError(f"'{name}' is not installed", "apt-get install bubblewrap util-linux")
    return path


_SETPRIV_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_DAC_READ_SEARCH")
_seccomp_warned = threading.Event()


def seccomp_program() -> bytes | None:
    program = _seccomp.program()
    if program is None and not _seccomp_warned.is_set():
        _seccomp_warned.set()
        log.warning("sandboxed scripts run WITHOUT a seccomp filter: %s", _seccomp.unavailable_reason())
    return program


def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _nsinit_command(spec: dict, argv: list[str]) -> list[str]:
    return [sys.executable, "-I", "-S", str(NSINIT), json.dumps(spec), "--", *argv]


@isolation_layer("bwrap", rank=30)
class BwrapLayer(IsolationLayer):
    setup_error_prefixes = ("bwrap: ", "setpriv: ", "prlimit: ")

    def wrap(self, argv, workdir, env, owner, max_processes):
        workdir = Path(workdir).resolve()
        fds: list[int] = []
        args = [_binary("bwrap"), "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
        protections = [*NAMESPACES, NO_CAPS, NO_NEW_PRIVS, NON_ROOT, PROCESS_CAP]
        if owner.dedicated:  # root harness: bwrap stays privileged, setpriv takes the leased uid inside
            # only setpriv runs with these: to switch uid, empty the bounding set, and --chdir into a work dir
            # that is the script's (the one reason for DAC_READ_SEARCH)
            args += ["--cap-drop", "ALL"] + [a for cap in _SETPRIV_CAPS for a in ("--cap-add", cap)]
            inner = [_binary("setpriv"), f"--reuid={owner.uid}", f"--regid={owner.gid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--nnp", "--"]
            protections.append(DEDICATED_UID)
        else:  # the harness's uid in a user namespace; the process cap is set inside it
            args += ["--unshare-user", *(["--disable-userns"] if _bwrap_has("--disable-userns") else []),
                     "--cap-drop", "ALL"]
            inner = [_binary("prlimit"), f"--nproc={max_processes}", "--"]
            protections.append(USER_NS)
        mounts = _mounts.plan(workdir, owner)
        for m, parents in zip(mounts, _mounts.missing_parents(mounts)):
            for parent in parents:
                args += ["--perms", "0755", "--dir", parent]
            args += _bwrap_args(m, fds)
        args += ["--remount-ro", "/", "--chdir", str(workdir)]
        program = seccomp_program()
        if program is not None:
            fds.append(_memfd("adaptbench-seccomp", program))
            args += ["--seccomp", str(fds[-1])]
            protections.append(SECCOMP)
        return Launch([*args, "--", *inner, *argv], dict(env), owner, tuple(protections),
                      outer_nproc=max_processes if owner.dedicated else None, pass_fds=fds)

    def probe(self):
        try:
            _binary("bwrap")
        except SandboxError as exc:
            return exc.message
        return super().probe()


@functools.cache
def _bwrap_has(option: str) -> bool:
    """Whether this bubblewrap knows `option` (--disable-userns came with 0.8; the seccomp filter covers older ones)."""
    done = subprocess.run([_binary("bwrap"), "--help"], capture_output=True, text=True, check=False)
    return option in done.stdout + done.stderr


def _bwrap_args(m: _mounts.Mount, fds: list[int]) -> list[str]:
    if m.kind == "ro":
        return ["--ro-bind-try", m.source, m.dest]
    if m.kind == "rw":
        return ["--bind", m.source, m.dest]
    if m.kind == "symlink":
        return ["--symlink", m.source, m.dest]
    if m.kind == "tmpfs":
        return ["--perms", "1777", "--tmpfs", m.dest]
    if m.kind in ("proc", "dev"):
        return [f"--{m.kind}", m.dest]
    if m.kind == "data":
        fds.append(_memfd("adaptbench-data", m.source.encode()))
        return ["--perms", "0644", "--ro-bind-data", str(fds[-1]), m.dest]
    raise SandboxError(f"bwrap layer: unknown mount kind {m.kind!r}")


@isolation_layer("unshare", rank=20)
class UnshareLayer(IsolationLayer):
    setup_error_prefixes = ("adaptbench-sandbox: setup failed: ", "unshare: ", "prlimit: ")

    def wrap(self, argv, workdir, env, owner, max_processes):
        workdir = Path(workdir).resolve()
        mounts = _mounts.plan(workdir, owner)
        spec = {"mode": "namespace", "staging": _staging_dir(workdir, mounts), "cwd": str(workdir),
                "mounts": [m.to_json() for m in mounts]}
        args = [_binary("unshare")]
        protections = [*NAMESPACES, NO_CAPS, NO_NEW_PRIVS, NON_ROOT, PROCESS_CAP]
        if owner.dedicated:  # root harness: no user namespace needed; PID 1 hands the script the leased uid
            spec["become"] = {"uid": owner.uid, "gid": owner.gid}
            protections.append(DEDICATED_UID)
        else:
            args += ["--user", "--map-root-user"]
            spec["nested_user"] = {"uid": owner.uid, "gid": owner.gid}
            spec["nproc"] = max_processes
            protections.append(USER_NS)
        program = seccomp_program()
        if program is not None:
            spec["seccomp"] = program.hex()
            protections.append(SECCOMP)
        args += ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--"]
        return Launch(args + _nsinit_command(spec, argv), dict(env), owner, tuple(protections),
                      outer_nproc=max_processes if owner.dedicated else None)

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
    """No namespaces. The script sees the whole filesystem, the network and the harness's processes."""

    contains_tree = False
    setup_error_prefixes = ("adaptbench-sandbox: setup failed: ", "prlimit: ")
    _warned = False
    _root_warned = False

    def wrap(self, argv, workdir, env, owner, max_processes):
        spec: dict = {"mode": "exec"}
        protections = [NO_CAPS, NO_NEW_PRIVS]
        runs_as, outer_nproc = _identity.harness_identity(), None
        if owner.dedicated and _reachable_by_anyone(Path(workdir)):
            spec["become"] = {"uid": owner.uid, "gid": owner.gid}
            runs_as, outer_nproc = owner, max_processes
            protections += [NON_ROOT, DEDICATED_UID, PROCESS_CAP]
        elif not owner.dedicated:
            protections.append(NON_ROOT)  # the harness's own uid; RLIMIT_NPROC would count all its processes
        elif not PlainLayer._root_warned:
            PlainLayer._root_warned = True
            log.warning("plain layer: scripts run as root (without capabilities): the interpreter or the work dir "
                        "cannot be reached by an unprivileged uid")
        program = seccomp_program()
        if program is not None:
            spec["seccomp"] = program.hex()
            protections.append(SECCOMP)
        return Launch(_nsinit_command(spec, list(argv)), dict(env), runs_as, tuple(protections),
                      outer_nproc=outer_nproc)

    def prepare(self):
        if not PlainLayer._warned:
            PlainLayer._warned = True
            log.warning("!!! SANDBOX DISABLED: isolation layer 'plain' runs candidate scripts with NO filesystem, "
                        "network or process isolation. Install bubblewrap (apt-get install bubblewrap) or allow "
                        "user namespaces before running untrusted code. !!!")
            _proctree.become_subreaper()


def _reachable_by_anyone(workdir: Path) -> bool:
    """Whether a uid with no access rights of its own can run the interpreter and walk down to the work dir."""
    targets = [Path(os.path.realpath(sys.executable)), *map(Path, _mounts.interpreter_dirs()), workdir.resolve()]
    for target in targets:
        for directory in target.parents:
            if not os.stat(directory).st_mode & stat.S_IXOTH:
                return False
    return all(os.stat(d).st_mode & (stat.S_IROTH | stat.S_IXOTH) == stat.S_IROTH | stat.S_IXOTH
               for d in _mounts.interpreter_dirs())


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
                               f"set {ENV_VAR} to another layer, or unset it to pick the strongest one that works")
        return cls()
    for cls in sorted((LAYERS.get(n) for n in LAYERS.names()), key=lambda c: -c.rank):
        reason = cls.unavailable_reason()
        if reason is None:
            return cls()
        log.info("isolation layer %s unavailable: %s", cls.name, reason)
    raise SandboxError("no isolation layer works here", "check the logs for each layer's probe failure")
