"""The filesystem a sandboxed script sees, as one ordered plan that each namespace layer renders its own way.

Allowlist: system directories and the interpreter read-only, the work dir read-write, fresh /proc, /dev and /tmp.
Order matters: a tmpfs hides whatever lies under it, so everything that may live under /tmp is bound after it."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf",
    "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/localtime", "/etc/timezone", "/etc/alternatives",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/mime.types", "/etc/protocols",
    "/etc/services", "/etc/os-release", "/etc/debian_version", "/etc/magic", "/etc/fonts",
)
# torch's cpuinfo reads the CPU topology; nothing else from /sys is offered
SYS_FILES = ("/sys/devices/system/cpu",)


@dataclass(frozen=True)
class Mount:
    kind: str  # ro | rw | tmpfs | symlink | proc | dev
    dest: str
    source: str = ""  # bind source, or the target of a symlink

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def plan(workdir: Path) -> list[Mount]:
    """Every mount, in the order it must be made."""
    workdir = Path(workdir).resolve()
    mounts = [Mount("ro", "/usr", "/usr")]
    mounts += [_root_entry(p) for p in ROOT_LINKS if os.path.lexists(p)]
    mounts += [Mount("ro", p, os.path.realpath(p)) for p in (*ETC_FILES, *SYS_FILES) if os.path.exists(p)]
    mounts += [Mount("proc", "/proc"), Mount("dev", "/dev"), Mount("tmpfs", "/tmp")]
    mounts += [Mount("ro", p, p) for p in interpreter_dirs()]
    mounts.append(Mount("rw", str(workdir), str(workdir)))
    return mounts


def _root_entry(path: str) -> Mount:
    # on merged-/usr systems /bin, /lib... are symlinks into /usr: recreate the link, do not bind
    if os.path.islink(path):
        return Mount("symlink", path, os.readlink(path))
    return Mount("ro", path, path)


def interpreter_dirs() -> list[str]:
    """The venv and the base interpreter it points to, minus any already under /usr."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    dirs = sorted(os.path.realpath(p) for p in candidates if p)
    kept: list[str] = []
    for d in dirs:
        if not _under(d, "/usr") and not any(_under(d, k) for k in kept):
            kept.append(d)
    return kept


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")
