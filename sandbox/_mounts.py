"""The filesystem a sandboxed script sees, as one ordered plan that each namespace layer renders its own way.

Allowlist: system directories and the interpreter read-only, the work dir read-write, fresh /proc, /dev, /dev/shm
and /tmp, and an /etc/passwd and /etc/group of the sandbox's own (its user, root and nobody; not the host's
accounts). Order matters: a tmpfs hides whatever lies under it, so everything that may live under /tmp is bound
after it. Directories the plan creates on the way to a mount point are world-readable (0755): the script is not
root, and must be able to walk down to the interpreter and its work dir."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ._identity import Identity, group_text, passwd_text

ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/hosts", "/etc/resolv.conf",
    "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/localtime", "/etc/timezone", "/etc/alternatives",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/mime.types", "/etc/protocols",
    "/etc/services", "/etc/os-release", "/etc/debian_version", "/etc/magic", "/etc/fonts",
)
# torch's cpuinfo reads the CPU topology; nothing else from /sys is offered
SYS_FILES = ("/sys/devices/system/cpu",)


@dataclass(frozen=True)
class Mount:
    kind: str  # ro | rw | tmpfs | symlink | proc | dev | data
    dest: str
    source: str = ""  # bind source, the target of a symlink, or a data file's content

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def plan(workdir: Path, owner: Identity) -> list[Mount]:
    """Every mount, in the order it must be made, for a script running as `owner`."""
    workdir = Path(workdir).resolve()
    mounts = [Mount("ro", "/usr", "/usr")]
    mounts += [_root_entry(p) for p in ROOT_LINKS if os.path.lexists(p)]
    mounts += [Mount("ro", p, os.path.realpath(p)) for p in (*ETC_FILES, *SYS_FILES) if os.path.exists(p)]
    mounts += [Mount("data", "/etc/passwd", passwd_text(owner, workdir / ".home")),
               Mount("data", "/etc/group", group_text(owner))]
    mounts += [Mount("proc", "/proc"), Mount("dev", "/dev"), Mount("tmpfs", "/dev/shm"), Mount("tmpfs", "/tmp")]
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


def missing_parents(mounts: list[Mount]) -> list[list[str]]:
    """For each mount, top-down, the directories above its mount point that nothing before it provides: not an
    earlier mount point, not created for an earlier mount, not inside an earlier bind."""
    created: set[str] = set()
    binds: list[str] = []
    out = []
    for m in mounts:
        chain, parent = [], os.path.dirname(m.dest)
        while parent != "/" and parent not in created and not any(_under(parent, b) for b in binds):
            chain.append(parent)
            parent = os.path.dirname(parent)
        out.append(chain[::-1])
        created.update(chain)
        created.add(m.dest)
        if m.kind in ("ro", "rw"):
            binds.append(m.dest)
    return out


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")
