"""PID 1 of the `unshare` layer: builds the sandbox's root from a mount plan, then runs the script and reaps.

Runs as `python -I -S _nsinit.py SPEC_JSON -- ARGV...` inside fresh user, mount, PID, network, IPC and UTS
namespaces (as the namespace's root). Standard library only: the harness's packages are not importable here.
When the script exits this process exits with its status, and the kernel kills whatever is left in the
PID namespace."""

import ctypes
import fcntl
import json
import os
import socket
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
ST_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC}
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 28, 38, 47
SECBITS_LOCKED_NOROOT = 0b1111  # NOROOT, NO_SETUID_FIXUP and their locks: uid 0 gains no caps on exec
SETUP_FAILED = "adaptbench-sandbox: setup failed: "  # the executor matches this prefix (UnshareLayer)


def check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, fstype=None, flags=0, data=None):
    enc = lambda s: s.encode() if s is not None else None
    check(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def bind(source, target, readonly):
    if not os.path.exists(source):
        if readonly:
            return  # optional system files (like bwrap's --ro-bind-try)
        raise FileNotFoundError(f"bind source {source} is missing")
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount(source, target, None, MS_BIND | (MS_REC if readonly else 0))
    if readonly:
        # a user namespace may not clear flags the outer mount has locked: keep them
        locked = sum(ms for st, ms in ST_FLAGS.items() if os.statvfs(source).f_flag & st)
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | locked)


def make_dev(target):
    os.makedirs(target, exist_ok=True)
    mount("tmpfs", target, "tmpfs", MS_NOSUID, "mode=0755")
    for node in DEV_NODES:
        bind(f"/dev/{node}", f"{target}/{node}", readonly=False)
    os.makedirs(f"{target}/shm")
    mount("tmpfs", f"{target}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for name, dest in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                       ("stderr", "/proc/self/fd/2")):
        os.symlink(dest, f"{target}/{name}")


def build_root(root, mounts):
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for m in mounts:
        target = root + m["dest"]
        if m["kind"] in ("ro", "rw"):
            bind(m["source"], target, readonly=m["kind"] == "ro")
        elif m["kind"] == "symlink":
            os.symlink(m["source"], target)
        elif m["kind"] == "tmpfs":
            os.makedirs(target, exist_ok=True)
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
        elif m["kind"] == "proc":
            os.makedirs(target, exist_ok=True)
            mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        elif m["kind"] == "dev":
            make_dev(target)
        else:
            raise ValueError(f"unknown mount kind {m['kind']!r}")


def pivot(root):
    os.chdir(root)
    check(libc.syscall(SYS_PIVOT_ROOT[os.uname().machine], b".", b"."), "pivot_root")
    check(libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def loopback_up():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ifreq = struct.pack("16sH14x", b"lo", 0)
    flags = struct.unpack("16sH14x", fcntl.ioctl(sock, 0x8913, ifreq))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(sock, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))  # SIOCSIFFLAGS |= IFF_UP
    sock.close()


def drop_privileges():
    check(libc.prctl(PR_SET_SECUREBITS, SECBITS_LOCKED_NOROOT, 0, 0, 0), "securebits")
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        last = int(fh.read())
    for cap in range(last + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def run_as_init(argv):
    child = os.fork()
    if child == 0:
        try:
            drop_privileges()
            os.execvp(argv[0], argv)
        except OSError as exc:
            sys.stderr.write(f"cannot run {argv[0]}: {exc}\n")
            os._exit(127)
    while True:
        pid, status = os.wait()
        if pid == child:
            return os.waitstatus_to_exitcode(status)


def setup(spec):
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    build_root(spec["staging"], spec["mounts"])
    pivot(spec["staging"])
    loopback_up()
    socket.sethostname("sandbox")
    os.chdir(spec["cwd"])


def main():
    spec = json.loads(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1:]
    try:
        setup(spec)
    except Exception as exc:  # noqa: BLE001 -- the harness, not the script, failed: say so in a way the executor recognises
        sys.stderr.write(f"{SETUP_FAILED}{type(exc).__name__}: {exc}\n")
        sys.exit(125)
    code = run_as_init(argv)
    sys.exit(128 - code if code < 0 else code)


if __name__ == "__main__":
    main()
