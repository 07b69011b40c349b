"""Process-tree bookkeeping through /proc: who descends from whom, how much memory they hold, and killing them.

A pid alone can be reused, so processes are identified by (pid, start time)."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
from collections.abc import Iterable
from typing import NamedTuple

log = logging.getLogger(__name__)
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PR_SET_CHILD_SUBREAPER = 36


class Proc(NamedTuple):
    pid: int
    start: int  # clock ticks since boot: (pid, start) names one process for its whole life


class Stat(NamedTuple):
    ppid: int
    start: int
    zombie: bool
    threads: int = 1  # tasks, as RLIMIT_NPROC counts them


def read_stat(pid: int) -> Stat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = raw[raw.rfind(b")") + 2:].split()
    return Stat(ppid=int(fields[1]), start=int(fields[19]), zombie=fields[0] == b"Z", threads=int(fields[17]))


def snapshot() -> dict[int, Stat]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                out[int(name)] = stat
    return out


def descendants(root: int, table: dict[int, Stat] | None = None) -> set[Proc]:
    """`root` and everything below it that is still a descendant (orphans reparented elsewhere are lost)."""
    table = snapshot() if table is None else table
    if root not in table:
        return set()
    children: dict[int, list[int]] = {}
    for pid, stat in table.items():
        children.setdefault(stat.ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(Proc(pid, table[pid].start))
        todo.extend(children.get(pid, ()))
    return found


def task_count(procs: Iterable[Proc], table: dict[int, Stat]) -> int:
    """Threads included: the kernel's process cap counts every task."""
    return sum(table[p.pid].threads for p in procs if p.pid in table and not table[p.pid].zombie)


def owned_by(uid: int) -> set[Proc]:
    """Living processes whose real uid is `uid`."""
    found = set()
    for pid, stat in snapshot().items():
        if stat.zombie:
            continue
        try:
            with open(f"/proc/{pid}/status", "rb") as fh:
                uid_line = next(line for line in fh if line.startswith(b"Uid:"))
        except (OSError, StopIteration):
            continue
        if int(uid_line.split()[1]) == uid:
            found.add(Proc(pid, stat.start))
    return found


def alive(proc: Proc) -> bool:
    stat = read_stat(proc.pid)
    return stat is not None and stat.start == proc.start and not stat.zombie


def rss_bytes(procs: Iterable[Proc]) -> int:
    total = 0
    for proc in procs:
        try:
            with open(f"/proc/{proc.pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
    return total


def kill(procs: Iterable[Proc]) -> None:
    """SIGKILL every process that is still the one recorded (never a newcomer that reused a pid)."""
    for proc in procs:
        if alive(proc):
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def with_env_token(token: str) -> set[Proc]:
    """Processes whose environment carries `token` (how the plain layer finds `setsid` escapees)."""
    needle = token.encode()
    found = set()
    for pid, stat in snapshot().items():
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if needle in fh.read():
                    found.add(Proc(pid, stat.start))
        except OSError:
            continue
    return found


def reap_orphans(procs: Iterable[Proc]) -> None:
    """Collect the exit status of recorded processes that became our children (we are a subreaper)."""
    me = os.getpid()
    for proc in procs:
        stat = read_stat(proc.pid)
        if stat is not None and stat.ppid == me and stat.start == proc.start:
            try:
                os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                pass


def become_subreaper() -> bool:
    """Orphaned descendants then reparent to this process instead of init, so they can still be found."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_CHILD_SUBREAPER) failed: errno %d", ctypes.get_errno())
        return False
    return True
