"""The seccomp filter: every call it denies fails inside every layer, because of the filter, and what a script
needs (threads, fork, subprocesses) still works.

How a test tells the filter from a missing privilege: the script is unprivileged anyway, so most denied calls
would fail with EPERM without any filter. Each layer is therefore also run under a variant of the filter that
differs only in its errno (ENOTRECOVERABLE, which none of these calls returns by itself): a call that fails with
that errno was stopped by the filter, in the real kernel, inside the real sandbox."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap

import pytest

from benchmark.types import Limits
from sandbox import _seccomp, layers
from sandbox.environment import make_dirs
from tests.sandbox.test_isolation import last_json, run_script

MARK = errno.ENOTRECOVERABLE
LIMITS = Limits(timeout_s=60, memory_mb=1024)
NS = _seccomp.NAMESPACE_FLAGS
NULL, BAD_FD, BAD_FLAGS = 0, -1, 0xFFFFFFFF

# arguments that make each call fail harmlessly even if nothing denied it (bad pointers, fds, flags, magic)
ARGS = {
    "ptrace": (16, 0, 0, 0), "process_vm_readv": (0, 0, 0, 0, 0, 1), "process_vm_writev": (0, 0, 0, 0, 0, 1),
    "mount": (NULL, NULL, NULL, 0, NULL), "umount": (NULL,), "umount2": (NULL, 0xFFFF),
    "pivot_root": (NULL, NULL), "chroot": (NULL,),
    "open_tree": (BAD_FD, NULL, BAD_FLAGS), "move_mount": (BAD_FD, NULL, BAD_FD, NULL, BAD_FLAGS),
    "fsopen": (NULL, BAD_FLAGS), "fsconfig": (BAD_FD, 0, NULL, NULL, 0), "fsmount": (BAD_FD, 0, 0),
    "fspick": (BAD_FD, NULL, BAD_FLAGS), "mount_setattr": (BAD_FD, NULL, BAD_FLAGS, NULL, 0),
    "reboot": (0, 0, 0, NULL), "kexec_load": (0, 0, NULL, BAD_FLAGS), "kexec_file_load": (BAD_FD, BAD_FD, 0, NULL, BAD_FLAGS),
    "init_module": (NULL, 0, NULL), "finit_module": (BAD_FD, NULL, 0), "delete_module": (NULL, 0),
    "swapon": (NULL, 0), "swapoff": (NULL,), "acct": (1,), "quotactl": (0, NULL, 0, NULL),
    "quotactl_fd": (BAD_FD, 0, 0, NULL), "syslog": (0xFFFF, NULL, 0), "vhangup": (), "iopl": (99,),
    "ioperm": (0, 0, 0), "_sysctl": (NULL,), "uselib": (NULL,), "nfsservctl": (0, NULL, NULL),
    "lookup_dcookie": (0, NULL, 0),
    "bpf": (0xFFFF, NULL, 0), "perf_event_open": (NULL, 0, -1, -1, 0), "keyctl": (0xFFFF, 0, 0, 0, 0),
    "add_key": (NULL, NULL, NULL, 0, 0), "request_key": (NULL, NULL, NULL, 0), "userfaultfd": (BAD_FLAGS,),
    "open_by_handle_at": (BAD_FD, NULL, 0), "io_uring_setup": (0, NULL), "io_uring_enter": (BAD_FD, 0, 0, 0, NULL, 0),
    "io_uring_register": (BAD_FD, 0, NULL, 0), "setns": (BAD_FD, 0),
}
assert set(ARGS) == set(_seccomp.DENIED), "every denied call needs probe arguments"
SIGCHLD = 17


def planned_calls() -> dict[str, tuple[str, tuple[int, ...]]]:
    """label -> (system call, arguments); labels name the flag for the calls denied only with some flags."""
    calls = {name: (name, args) for name, args in ARGS.items()}
    calls |= {f"unshare:{flag}": ("unshare", (bit,)) for flag, bit in NS.items()}
    calls |= {f"clone:{flag}": ("clone", (bit | SIGCHLD, 0, 0, 0, 0)) for flag, bit in _seccomp.CLONE_NAMESPACE_FLAGS.items()}
    calls |= {f"ioctl:{name}": ("ioctl", (0, request, NULL)) for name, request in _seccomp.TTY_INJECTION.items()}
    calls["clone3"] = ("clone3", (NULL, 0))
    return calls


# what must keep working: no namespace flag, harmless requests
ALLOWED = {
    "unshare:CLONE_FILES": ("unshare", (0x400,)), "clone:SIGCHLD": ("clone", (SIGCHLD, 0, 0, 0, 0)),
    "ioctl:FIONREAD": ("ioctl", (0, 0x541B, NULL)),
}
DENIED_CALLS = planned_calls()

# Each call runs in a forked child that exits with its errno (0: it succeeded), so nothing that gets through
# (a new namespace, a clone) changes the probe itself.
PROBE = """
    import ctypes, json, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    calls, numbers = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    out = {}
    for label, (name, args) in calls.items():
        if name not in numbers:
            out[label] = "absent"
            continue
        pid = os.fork()
        if pid == 0:
            ret = libc.syscall(ctypes.c_long(numbers[name]), *[ctypes.c_long(a) for a in args])
            os._exit(0 if ret >= 0 else ctypes.get_errno())
        _, status = os.waitpid(pid, 0)
        out[label] = os.waitstatus_to_exitcode(status)
    status = dict(l.split(":", 1) for l in open("/proc/self/status") if l.startswith("Seccomp"))
    print(json.dumps({"errno": out, "seccomp": status["Seccomp"].strip()}))
"""

_results: dict[tuple[str, str], dict] = {}


def probe(layer: str, variant: str, tmp_path_factory, monkeypatch) -> dict:
    """One sandbox run per (layer, filter variant) answers every parametrized test below."""
    key = (layer, variant)
    if key not in _results:
        if variant == "marked":
            marked, why = _seccomp.build(deny_errno=MARK)
            assert marked is not None, why
            monkeypatch.setattr(_seccomp, "program", lambda: marked)
        workdir = tmp_path_factory.mktemp(f"seccomp-{layer}-{variant}")
        make_dirs(workdir)
        calls = {**DENIED_CALLS, **ALLOWED}
        numbers = _seccomp.syscall_numbers({name for name, _ in calls.values()})
        result = run_script(workdir, PROBE, json.dumps(calls), json.dumps(numbers), limits=LIMITS)
        assert layers.SECCOMP in result.protections, result.protections
        _results[key] = last_json(result)
    return _results[key]


@pytest.fixture(autouse=True)
def _needs_bindings():
    if _seccomp.program() is None:
        pytest.skip(f"seccomp unavailable here: {_seccomp.unavailable_reason()}")


def expected_errno(label: str, deny: int) -> int:
    return errno.ENOSYS if label == "clone3" else deny


@pytest.mark.parametrize("label", sorted(DENIED_CALLS))
def test_denied_call_is_stopped_by_the_filter(layer, label, tmp_path_factory, monkeypatch):
    seen = probe(layer, "marked", tmp_path_factory, monkeypatch)
    got = seen["errno"][label]
    if got == "absent":
        pytest.skip(f"{DENIED_CALLS[label][0]} does not exist on this architecture")
    assert got == expected_errno(label, MARK), f"{label}: errno {got}, not the filter's {MARK}"


@pytest.mark.parametrize("label", sorted(DENIED_CALLS))
def test_denied_call_fails_with_eperm_under_the_real_filter(layer, label, tmp_path_factory, monkeypatch):
    seen = probe(layer, "production", tmp_path_factory, monkeypatch)
    assert seen["seccomp"] == "2", "no seccomp filter on the script"
    got = seen["errno"][label]
    if got == "absent":
        pytest.skip(f"{DENIED_CALLS[label][0]} does not exist on this architecture")
    assert got == expected_errno(label, errno.EPERM), f"{label}: errno {got}"


@pytest.mark.parametrize("label", sorted(ALLOWED))
def test_calls_without_namespace_flags_pass(layer, label, tmp_path_factory, monkeypatch):
    got = probe(layer, "marked", tmp_path_factory, monkeypatch)["errno"][label]
    assert got != MARK, f"{label} was denied by the filter"
    if label != "ioctl:FIONREAD":  # /dev/null answers ENOTTY: what matters is that the filter let it through
        assert got == 0, f"{label} failed with errno {got}"


def test_threads_forks_and_subprocesses_work_under_the_filter(layer, workdir):
    result = run_script(workdir, """
        import concurrent.futures, multiprocessing, subprocess, sys

        def square(x):
            return x * x

        if __name__ == "__main__":
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                assert sum(pool.map(square, range(10))) == 285
            for method in ("fork", "spawn"):
                with multiprocessing.get_context(method).Pool(2) as pool:
                    assert pool.map(square, [2, 3]) == [4, 9]
            run = lambda argv: subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
            print(run([sys.executable, "-c", "print('child')"]), run(["sh", "-c", "echo shell | tr a-z A-Z"]))
    """, limits=LIMITS)
    assert result.exit_code == 0, result.stderr_tail
    assert result.stdout_tail.split() == ["child", "SHELL"]


def test_both_bindings_compile_the_same_program():
    sc, _ = _seccomp._bindings()
    try:
        import pyseccomp
    except ImportError:
        pytest.skip("PyPI pyseccomp is not installed")
    if sc is pyseccomp:
        pytest.skip("Debian's python3-seccomp is not importable here: nothing to compare")
    program = _seccomp.program()
    assert program and len(program) % 8 == 0
    saved = sys.modules.pop("seccomp")
    try:
        sys.modules["seccomp"] = None  # what `import seccomp` does when the Debian binding is missing
        assert _seccomp.build()[0] == program
    finally:
        sys.modules["seccomp"] = saved


def test_an_unknown_call_name_is_skipped_not_fatal(monkeypatch):
    monkeypatch.setattr(_seccomp, "DENIED", (*_seccomp.DENIED, "no_such_call_anywhere"))
    program, why = _seccomp.build()
    assert program is not None and why is None


FOREIGN_ABI = """
    import ctypes, mmap, os, sys
    if sys.argv[1] == "i386":  # getpid through the 32-bit entry point: mov eax, 20; int 0x80; ret
        buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        buf.write(bytes([0xB8, 0x14, 0, 0, 0, 0xCD, 0x80, 0xC3]))
        print(ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))() == os.getpid())
    else:  # getpid with the x32 bit set
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        print(libc.syscall(ctypes.c_long(0x40000000 + 39)), ctypes.get_errno())
"""
SIGSYS = 31


@pytest.mark.skipif(__import__("platform").machine() != "x86_64", reason="x86_64's 32-bit and x32 entry points")
@pytest.mark.parametrize("abi", ["i386", "x32"])
def test_calls_through_a_foreign_abi_kill_the_script(layer, workdir, abi, tmp_path):
    control = tmp_path / "control.py"
    control.write_text(textwrap.dedent(FOREIGN_ABI))
    outside = subprocess.run([sys.executable, str(control), abi], capture_output=True, text=True, timeout=30,
                             check=False)
    if outside.returncode != 0:
        pytest.skip(f"this kernel has no {abi} entry point to test (outside the sandbox: {outside.returncode})")
    result = run_script(workdir, FOREIGN_ABI, abi)
    assert result.exit_code in (-SIGSYS, 128 + SIGSYS), (result.exit_code, result.stdout_tail, result.stderr_tail)
    assert result.stdout_tail == ""
