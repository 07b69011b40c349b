"""The seccomp filter every sandboxed script runs under: a denylist of system calls no training script needs.

Built with libseccomp through its Python bindings — Debian's `python3-seccomp` (`import seccomp`) when the
interpreter can import it, else PyPI's `pyseccomp` (the same API, ctypes over the system's libseccomp.so.2) —
and exported as a classic BPF program for the native architecture. bubblewrap loads it with `--seccomp FD`;
`_nsinit.py` loads the same bytes itself for the other layers. System calls of a foreign ABI (32-bit x86 on
x86_64, x32) take the bad-architecture action: the process is killed (SIGSYS).

Denied calls fail with EPERM, as they would for a process without privileges, so well-behaved software takes
its usual "not permitted" path. `clone3` fails with ENOSYS instead: its flags sit in memory a filter cannot
read, and ENOSYS makes glibc (threads, posix_spawn) and Go fall back to `clone`, whose flags are checked."""

from __future__ import annotations

import errno
import functools
import logging
import tempfile

log = logging.getLogger(__name__)

# debugging and reading other processes' memory
TRACING = ("ptrace", "process_vm_readv", "process_vm_writev")
# the mount table and the root: a script keeps the file system it was given
MOUNTING = ("mount", "umount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig",
            "fsmount", "fspick", "mount_setattr")
# the machine itself
SYSTEM = ("reboot", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "swapon",
          "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "vhangup", "iopl", "ioperm", "_sysctl", "uselib",
          "nfsservctl", "lookup_dcookie")
# kernel interfaces with a long record of privilege-escalation bugs, and no use in a training script
ATTACK_SURFACE = ("bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "open_by_handle_at",
                  "io_uring_setup", "io_uring_enter", "io_uring_register")
# joining another process's namespaces
NAMESPACES = ("setns",)
DENIED = TRACING + MOUNTING + SYSTEM + ATTACK_SURFACE + NAMESPACES

# flags that make unshare/clone create a namespace (CLONE_NEWTIME shares its bit with clone's exit signal)
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000, "CLONE_NEWTIME": 0x00000080,
}
CLONE_NAMESPACE_FLAGS = {k: v for k, v in NAMESPACE_FLAGS.items() if k != "CLONE_NEWTIME"}
TTY_INJECTION = {"TIOCSTI": 0x5412, "TIOCLINUX": 0x541C}  # push input into a terminal other processes read


def _bindings():
    """The libseccomp module: Debian's official one, else PyPI's drop-in; None (with why) when neither imports."""
    try:
        import seccomp  # Debian: python3-seccomp

        return seccomp, None
    except ImportError:
        pass
    try:
        import pyseccomp

        return pyseccomp, None
    except (ImportError, RuntimeError, OSError) as exc:  # RuntimeError: libseccomp.so.2 not found
        return None, f"no libseccomp Python binding ({exc}): pip install pyseccomp, and apt-get install libseccomp2"


def build(deny_errno: int = errno.EPERM):
    """The compiled filter (classic BPF, native architecture) and None, or None and why it cannot be built."""
    sc, why = _bindings()
    if sc is None:
        return None, why
    filt = sc.SyscallFilter(sc.ALLOW)
    filt.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)  # a foreign ABI's numbers would dodge every rule
    deny = sc.ERRNO(deny_errno)
    for name in DENIED:
        _add(filt, deny, name)
    for flag in NAMESPACE_FLAGS.values():
        _add(filt, deny, "unshare", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    clone_flags_arg = 1 if sc.system_arch() in (sc.Arch.S390, sc.Arch.S390X) else 0
    for flag in CLONE_NAMESPACE_FLAGS.values():
        _add(filt, deny, "clone", sc.Arg(clone_flags_arg, sc.MASKED_EQ, flag, flag))
    for request in TTY_INJECTION.values():
        _add(filt, deny, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
    _add(filt, sc.ERRNO(errno.ENOSYS), "clone3")
    with tempfile.TemporaryFile() as fh:
        filt.export_bpf(fh)
        fh.seek(0)
        return fh.read(), None


def _add(filt, action, name, *args) -> None:
    try:
        filt.add_rule(action, name, *args)
    except (ValueError, OSError, RuntimeError) as exc:  # a call this architecture does not have
        log.debug("seccomp: no rule for %s: %s", name, exc)


@functools.lru_cache(maxsize=1)
def _compiled():
    return build()


def program() -> bytes | None:
    """The production filter, built once per process; None when this machine cannot build one."""
    return _compiled()[0]


def unavailable_reason() -> str | None:
    return _compiled()[1]


def syscall_numbers(names) -> dict[str, int]:
    """Native numbers of the named calls (those this architecture has), for probes that call them by number."""
    sc, _ = _bindings()
    if sc is None:
        return {}
    out = {}
    for name in names:
        try:
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
        except (ValueError, OSError, RuntimeError):
            continue
        if isinstance(nr, int) and nr >= 0:
            out[name] = nr
    return out
