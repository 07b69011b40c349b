"""Launcher of the `unshare` and `plain` layers: builds the sandbox's root from a mount plan, gives up every
privilege and execs the script. Standard library only: the harness's packages are not importable here.

Runs as `python -I -S _nsinit.py SPEC_JSON -- ARGV...`. SPEC["mode"]:
- "namespace" (unshare layer): PID 1 inside fresh mount, PID, network, IPC and UTS namespaces (plus a user
  namespace when the harness is not root). It builds the root, brings loopback up, forks the script and reaps;
  when the script exits it exits with its status, and the kernel kills whatever is left in the PID namespace.
- "exec" (plain layer): no namespaces; drops privileges and execs the script in place.

How the script stops being root: a root harness hands over a dedicated uid (SPEC["become"]), taken with
setresuid after the capability bounding set is emptied; in a user namespace made by an unprivileged harness the
script moves into a nested user namespace where the harness's uid maps to itself (SPEC["nested_user"]), so it
holds no capability over the namespaces PID 1 set up. Then no_new_privs, the process cap (SPEC["nproc"], set
inside the user namespace so it counts the sandbox's processes only), and the seccomp filter, last."""

import ctypes
import fcntl
import json
import os
import resource
import socket
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
ST_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC}
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
CLONE_NEWUSER = 0x10000000
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
PR_SET_DUMPABLE, PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_SECUREBITS = 4, 22, 24, 28
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
SECCOMP_MODE_FILTER = 2
# NOROOT (+lock): uid 0 gains no capability on exec; NO_SETUID_FIXUP locked *off*: leaving uid 0 clears the
# capability sets; KEEP_CAPS locked off; no ambient capability can be raised (+lock)
SECUREBITS = 0x01 | 0x02 | 0x08 | 0x20 | 0x40 | 0x80
SETUP_FAILED = "adaptbench-sandbox: setup failed: "  # the executor matches this prefix


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


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
    for name, dest in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                       ("stderr", "/proc/self/fd/2")):
        os.symlink(dest, f"{target}/{name}")


def write_data(target, content):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as fh:
        fh.write(content)
    os.chmod(target, 0o644)


def build_root(root, mounts):
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for m in mounts:
        target = root + m["dest"]
        if m["kind"] in ("ro", "rw"):
            bind(m["source"], target, readonly=m["kind"] == "ro")
        elif m["kind"] == "symlink":
            os.symlink(m["source"], target)
        elif m["kind"] == "data":
            write_data(target, m["source"])
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


def enter_nested_user_namespace(uid, gid):
    """From root of the outer user namespace to `uid` of a new, inner one (mapped to that root)."""
    check(libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} 0 1\n"),
                       ("/proc/self/gid_map", f"{gid} 0 1\n")):
        with open(path, "w") as fh:
            fh.write(text)


def drop_capabilities():
    check(libc.prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0), "securebits")
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        last = int(fh.read())
    for cap in range(last + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"drop capability {cap}")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def become(uid, gid):
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getgroups():
        raise OSError(f"still not uid {uid} after setresuid")


def load_seccomp(program_hex):
    data = bytes.fromhex(program_hex)
    count = len(data) // ctypes.sizeof(SockFilter)
    insns = (SockFilter * count).from_buffer_copy(data)
    prog = SockFprog(count, ctypes.cast(insns, ctypes.POINTER(SockFilter)))
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp filter")


def give_up_privileges(spec):
    """Everything between the layer's own setup and the script: the order matters (see the module docstring)."""
    nested, target = spec.get("nested_user"), spec.get("become")
    if nested:
        enter_nested_user_namespace(nested["uid"], nested["gid"])
    if os.geteuid() == 0 or nested:
        drop_capabilities()  # an unprivileged process holds none, and may not touch these settings
    if target:
        become(target["uid"], target["gid"])
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if spec.get("nproc"):
        resource.setrlimit(resource.RLIMIT_NPROC, (spec["nproc"], spec["nproc"]))
    if spec.get("seccomp"):
        load_seccomp(spec["seccomp"])


def run_script(spec, argv):
    try:
        give_up_privileges(spec)
    except Exception as exc:  # noqa: BLE001 -- reported with the prefix the executor recognises
        sys.stderr.write(f"{SETUP_FAILED}{type(exc).__name__}: {exc}\n")
        os._exit(125)
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        sys.stderr.write(f"cannot run {argv[0]}: {exc}\n")
        os._exit(127)


def run_as_init(spec, argv):
    child = os.fork()
    if child == 0:
        run_script(spec, argv)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # the script may share our uid: keep it out of our /proc entries
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
    os.umask(0o022)  # directories made on the way to mount points must be walkable by the script's uid
    if spec.get("mode") == "exec":
        run_script(spec, argv)
    try:
        setup(spec)
    except Exception as exc:  # noqa: BLE001 -- the harness, not the script, failed: say so in a way the executor recognises
        sys.stderr.write(f"{SETUP_FAILED}{type(exc).__name__}: {exc}\n")
        sys.exit(125)
    code = run_as_init(spec, argv)
    sys.exit(128 - code if code < 0 else code)


if __name__ == "__main__":
    main()
