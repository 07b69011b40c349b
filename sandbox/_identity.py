"""Who a sandboxed script runs as, and handing its work dir to that user and back.

A harness running as root leases a dedicated uid (and the gid of the same number) per run, from a range that
needs no /etc/passwd entry: 61000-61063 by default (`ADAPTBENCH_SANDBOX_UID_BASE` moves it). A lease is an
exclusive flock on /run/lock/adaptbench-uids/<uid>.lock, so concurrent runs in one process, in xdist workers or
in two harnesses never share a uid; the kernel drops the lock if a harness dies, and the next lease kills
whatever that harness left running under the uid. Because nothing else runs under the uid, RLIMIT_NPROC bounds
exactly the run's own processes. A harness that is not root runs its scripts under its own uid (inside a user
namespace, where the layer has one: that is where the process cap then binds).

Before a run the work dir is chowned to the script's uid; after it, once every process of the run is gone,
back to the harness, so nothing kept in the cache belongs to a sandbox uid and checkers read it as the
harness. A work dir is the script's own territory, so the harness treats it as hostile: its own folder in it
(`.adaptbench/`, where logs and probe scripts go) must not hold symlinks, which would redirect the harness's
writes to a file of the script's choosing."""

from __future__ import annotations

import contextlib
import fcntl
import grp
import logging
import os
import pwd
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import SandboxError

from . import _proctree

log = logging.getLogger(__name__)
UID_BASE_VAR = "ADAPTBENCH_SANDBOX_UID_BASE"
DEFAULT_UID_BASE = 61000  # below systemd's DynamicUser range (61184-65519), inside Debian's on-demand 60000-64999
SLOTS = 64
LOCK_DIR = Path("/run/lock/adaptbench-uids")
ACCOUNT_NAME = "sandbox"
CONTROL_DIR = ".adaptbench"
DRAIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Identity:
    """The uid/gid a script runs as on the host (and sees inside). `dedicated`: leased for this run alone."""

    uid: int
    gid: int
    dedicated: bool

    @property
    def is_root(self) -> bool:
        return self.uid == 0


def harness_identity() -> Identity:
    return Identity(os.getuid(), os.getgid(), dedicated=False)


@contextlib.contextmanager
def lease() -> Iterator[Identity]:
    """A dedicated uid when the harness is root, else the harness's own; released when the block ends."""
    if os.geteuid() != 0:
        yield harness_identity()
        return
    fd, uid = _acquire_slot()
    try:
        kill_all_of(uid)  # left over from a harness that died holding this slot
        yield Identity(uid, uid, dedicated=True)
    finally:
        os.close(fd)


def uid_range() -> range:
    raw = os.environ.get(UID_BASE_VAR, "").strip()
    try:
        base = int(raw) if raw else DEFAULT_UID_BASE
    except ValueError:
        raise SandboxError(f"{UID_BASE_VAR}={raw!r} is not a number", f"set it to a free uid, e.g. {DEFAULT_UID_BASE}")
    if base < 1000:
        raise SandboxError(f"{UID_BASE_VAR}={base} would run sandboxes as system users",
                           f"choose a range of {SLOTS} unused uids above 1000")
    return range(base, base + SLOTS)


def _acquire_slot() -> tuple[int, int]:
    lock_dir = _lock_dir()
    for uid in uid_range():
        if _taken_by_an_account(uid):
            continue
        fd = os.open(lock_dir / f"{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return fd, uid
    raise SandboxError(f"all {SLOTS} sandbox uids from {uid_range().start} are in use",
                       "run fewer sandboxes at once, or move the range with " + UID_BASE_VAR)


def _lock_dir() -> Path:
    with contextlib.suppress(FileExistsError):
        LOCK_DIR.mkdir(mode=0o700, parents=True)
    info = os.lstat(LOCK_DIR)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise SandboxError(f"{LOCK_DIR} is not a root-owned directory that only root can write",
                           f"remove it (it is recreated): rm -rf {LOCK_DIR}")
    return LOCK_DIR


def _taken_by_an_account(uid: int) -> bool:
    """A uid or gid that names a real account or group is never borrowed."""
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            pass
    return False


def kill_all_of(uid: int, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
    """SIGKILL every process running under `uid` until none is left (only ever called for a dedicated uid)."""
    deadline = time.monotonic() + timeout_s
    while True:
        living = _proctree.owned_by(uid)
        if not living:
            return
        if time.monotonic() > deadline:
            log.error("uid %d: %d process(es) survived SIGKILL for %.0f s", uid, len(living), timeout_s)
            return
        _proctree.kill(living)
        time.sleep(0.02)


def hand_over(workdir: Path, owner: Identity) -> None:
    """Make the whole work dir `owner`'s, if the script runs as someone else than the harness."""
    if owner != harness_identity():
        _chown_tree(Path(workdir), owner)


def take_back(workdir: Path, owner: Identity) -> None:
    """After a run as `owner`: the work dir belongs to the harness again and its control folder holds no symlink."""
    if owner != harness_identity():
        _chown_tree(Path(workdir), harness_identity())
    secure_control_dir(workdir)


def _chown_tree(root: Path, owner: Identity) -> None:
    """Never following a symlink out of the tree."""
    os.chown(root, owner.uid, owner.gid, follow_symlinks=False)
    for parent, dirs, files in os.walk(root, followlinks=False):
        for name in (*dirs, *files):
            with contextlib.suppress(FileNotFoundError):
                os.chown(os.path.join(parent, name), owner.uid, owner.gid, follow_symlinks=False)


def secure_control_dir(workdir: Path) -> Path:
    """`.adaptbench/` as a real directory with no symlink anywhere inside (the script may have planted some)."""
    control = Path(workdir) / CONTROL_DIR
    with contextlib.suppress(FileNotFoundError):
        info = os.lstat(control)
        if not stat.S_ISDIR(info.st_mode):
            log.warning("%s was replaced by the script (not a directory): recreating it", control)
            control.unlink()
    control.mkdir(parents=True, exist_ok=True)
    for parent, dirs, files in os.walk(control, followlinks=False):
        for name in (*dirs, *files):
            path = os.path.join(parent, name)
            if os.path.islink(path):
                log.warning("removing symlink %s planted in the harness's folder", path)
                os.unlink(path)
    return control


def create_private_file(directory: Path, name: str):
    """A new, empty file in `directory` opened for reading and writing, that no symlink or earlier file can stand in
    for: whatever held the name is removed first, then the file is created exclusively, relative to the directory."""
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            os.unlink(name, dir_fd=dfd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            shutil.rmtree(os.path.join(directory, name))
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.fdopen(os.open(name, flags, 0o644, dir_fd=dfd), "w+b")
    finally:
        os.close(dfd)


def passwd_text(owner: Identity, home: Path) -> str:
    """/etc/passwd inside the sandbox: root, the script's own account (so getpass, git and ssh-style lookups
    find a name and a home) and nobody (what files of unmapped owners show as)."""
    lines = ["root:x:0:0:root:/root:/usr/sbin/nologin"]
    if not owner.is_root:
        lines.append(f"{ACCOUNT_NAME}:x:{owner.uid}:{owner.gid}:adaptbench sandbox:{home}:/bin/sh")
    lines.append("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin")
    return "\n".join(lines) + "\n"


def group_text(owner: Identity) -> str:
    lines = ["root:x:0:"]
    if owner.gid != 0:
        lines.append(f"{ACCOUNT_NAME}:x:{owner.gid}:")
    lines.append("nogroup:x:65534:")
    return "\n".join(lines) + "\n"
