"""What a sandboxed script can and cannot reach, for every isolation layer that works on this machine."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from benchmark.types import ExecutionResult, Limits
from sandbox import _identity, layers
from sandbox.environment import build_env, make_dirs
from sandbox.executor import MAX_PROCESSES, TOKEN_VAR, execute
from sandbox.grading import classify_crash

REPO = Path(__file__).resolve().parents[2]
QUICK = Limits(timeout_s=20, memory_mb=1024, file_size_mb=16)


def run_script(workdir: Path, source: str, *args: str, limits: Limits = QUICK) -> ExecutionResult:
    (workdir / "script.py").write_text(textwrap.dedent(source))
    return execute([sys.executable, "script.py", *args], workdir, limits)


def last_json(result: ExecutionResult) -> dict:
    assert result.exit_code == 0, result.stderr_tail
    return json.loads(result.stdout_tail.strip().splitlines()[-1])


def skip_plain(layer: str, what: str) -> None:
    if layer == "plain":
        pytest.skip(f"the plain layer provides no {what} isolation (by design; it warns loudly)")


def test_records_the_layer_used(layer, workdir):
    result = run_script(workdir, "print('hi')")
    assert result.isolation == layer
    assert result.exit_code == 0 and result.stdout_tail.strip() == "hi"


def test_environment_is_the_allowlist_with_home_and_tmp_inside_workdir(layer, workdir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-leak")
    seen = last_json(run_script(workdir, """
        import json, os, tempfile
        print(json.dumps({"env": dict(os.environ), "home": os.path.expanduser("~"), "tmp": tempfile.gettempdir()}))
    """))
    extra = set(seen["env"]) - set(build_env(workdir)) - {TOKEN_VAR, "PWD"}
    assert not extra, f"variables outside the allowlist: {extra}"
    assert seen["env"].get("PWD", str(workdir.resolve())) == str(workdir.resolve())  # bwrap sets it on --chdir
    for key in ("home", "tmp"):
        assert Path(seen[key]).resolve().is_relative_to(workdir.resolve()), seen[key]
    assert seen["env"]["XDG_CACHE_HOME"].startswith(str(workdir))


SCAN_ENVIRON = """
    import json, os, sys
    secret = sys.argv[1].encode()
    readable, leaks = 0, []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            data = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        readable += bool(data)
        if secret in data:
            leaks.append(pid)
    print(json.dumps({"in_environ": any(sys.argv[1] in v for v in os.environ.values()),
                      "readable": readable, "leaks": leaks}))
"""


def test_host_secrets_are_invisible_even_through_proc(layer, workdir, monkeypatch):
    secret = f"sk-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    # a host process born with the secret in its environment, like a harness started with the key exported
    holder = subprocess.Popen(["sleep", "30"], env={**os.environ, "OPENAI_API_KEY": secret})
    try:
        seen = last_json(run_script(workdir, SCAN_ENVIRON, secret))
    finally:
        holder.kill()
        holder.wait()
    assert not seen["in_environ"]
    assert seen["readable"] >= 1, "the scan read no /proc/<pid>/environ at all: it proves nothing"
    if layer == "plain" and os.geteuid() != 0:
        # control: no PID namespace, and the script has the harness's uid and (no) capabilities
        assert seen["leaks"], "plain has no PID namespace: the scan should see the host process"
    else:
        # in a PID namespace host processes are invisible; under plain as root the script has no capability
        # (or a uid of its own), so the kernel denies it a full-capability root process's environment
        assert seen["leaks"] == []


def test_no_capabilities_inside(layer, workdir):
    skip_plain(layer, "privilege")
    seen = last_json(run_script(workdir, """
        import json
        caps = dict(l.split(":") for l in open("/proc/self/status") if l.startswith("Cap"))
        print(json.dumps({k: int(v, 16) for k, v in caps.items()}))
    """))
    assert seen["CapEff"] == 0 and seen["CapPrm"] == 0, seen


@pytest.fixture
def host_server():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


NET_PROBE = """
    import json, socket, sys, threading
    out = {}
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
        out["host"] = "connected"
    except OSError as exc:
        out["host"] = repr(exc)
    inner = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: inner.accept(), daemon=True).start()
    socket.create_connection(inner.getsockname(), timeout=2).close()
    out["loopback"] = "ok"
    print(json.dumps(out))
"""


def test_network_is_cut_but_loopback_works(layer, workdir, host_server):
    port, accepted = host_server
    seen = last_json(run_script(workdir, NET_PROBE, str(port)))
    assert seen["loopback"] == "ok"
    if layer == "plain":
        assert seen["host"] == "connected", "control: without a net namespace the host server is reachable"
        return
    assert seen["host"] != "connected" and not accepted, seen


def test_cannot_write_the_real_home(layer, workdir):
    skip_plain(layer, "filesystem")
    target = Path(os.environ.get("HOME", "/root")) / f".adaptbench-escape-{uuid.uuid4().hex}"
    try:
        result = run_script(workdir, """
            import sys
            try:
                open(sys.argv[1], "w").write("escaped")
                print("wrote")
            except OSError as exc:
                print("refused", exc)
        """, str(target))
        assert result.exit_code == 0, result.stderr_tail
        assert not target.exists(), f"the sandbox wrote {target} on the host"
    finally:
        target.unlink(missing_ok=True)


READ_PROBE = """
    import json, sys
    out = {}
    for path in sys.argv[1:]:
        try:
            open(path, "rb").read(1)
            out[path] = "read"
        except OSError as exc:
            out[path] = type(exc).__name__
    print(json.dumps(out))
"""


def test_cannot_read_siblings_repo_tasks_or_shadow(layer, workdir):
    skip_plain(layer, "filesystem")
    sibling = workdir.parent / "sample-2" / "result.txt"
    sibling.parent.mkdir()
    sibling.write_text("another sample's work")
    forbidden = [sibling, REPO / "tasks" / "README.md", REPO / "pyproject.toml", Path("/etc/shadow")]
    assert all(p.exists() for p in forbidden[:3])
    (workdir / "own.txt").write_text("mine")
    seen = last_json(run_script(workdir, READ_PROBE, "own.txt", *map(str, forbidden)))
    assert seen.pop("own.txt") == "read"
    assert "read" not in seen.values(), seen


@pytest.mark.slow  # ~5 s of imports per layer on an idle machine
def test_tools_work_inside_torch_mlflow_git(layer, workdir):
    result = run_script(workdir, """
        import subprocess, torch, mlflow
        torch.set_num_threads(1)
        print("matmul", float((torch.ones(4, 4) @ torch.ones(4, 4)).sum()))
        open("data.txt", "w").write("x")
        for cmd in (["git", "init", "-q"], ["git", "add", "data.txt"], ["git", "commit", "-q", "-m", "first"],
                    ["git", "log", "--oneline"]):
            subprocess.run(cmd, check=True)
        print("mlflow", mlflow.__version__)
    """, limits=Limits(timeout_s=90, memory_mb=4096))
    assert result.exit_code == 0, result.stderr_tail
    assert "matmul 64.0" in result.stdout_tail and "first" in result.stdout_tail


DAEMON = """
    import os, sys, time
    BEAT = "import sys, time\\nwhile True:\\n    open(sys.argv[1], 'a').write('b\\\\n')\\n    time.sleep(0.05)"
    heartbeat, marker, then = sys.argv[1], sys.argv[2], sys.argv[3]
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", BEAT, heartbeat, marker])
        os._exit(0)
    os.wait()
    while not os.path.exists(heartbeat):
        time.sleep(0.02)
    print("daemon started", flush=True)
    if then == "hang":
        time.sleep(600)
"""


def marked_processes(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def assert_daemon_dead(heartbeat: Path, marker: str) -> None:
    assert heartbeat.exists() and heartbeat.read_text().count("b") >= 1, "the grandchild never ran"
    before = heartbeat.stat().st_size
    time.sleep(0.4)
    assert heartbeat.stat().st_size == before, "the setsid grandchild is still beating"
    assert marked_processes(marker) == []


@pytest.mark.parametrize("then", ["hang", "exit"])
def test_every_descendant_dies_including_setsid_grandchild(layer, workdir, then):
    marker = f"adaptbench-daemon-{uuid.uuid4().hex}"
    limits = Limits(timeout_s=2.5, memory_mb=1024)
    result = run_script(workdir, DAEMON, str(workdir / "heartbeat"), marker, then, limits=limits)
    assert "daemon started" in result.stdout_tail, result.stderr_tail
    if then == "hang":
        assert result.timed_out and result.killed_reason == "timeout" and result.exit_code is None
        assert result.duration_s < limits.timeout_s + 3
    else:
        assert result.exit_code == 0 and not result.timed_out
    assert_daemon_dead(workdir / "heartbeat", marker)
    follow_up = run_script(workdir, "print('still here')")
    assert follow_up.exit_code == 0 and "still here" in follow_up.stdout_tail


# ---------------------------------------------------------------- not root, a process cap, a work dir handed back

UID_PROBE = """
    import getpass, json, os, pwd, resource
    try:
        account = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # plain: the host's accounts, where a sandbox uid has none
        account = None
    print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
                      "user": getpass.getuser(), "account": account,
                      "nproc": resource.getrlimit(resource.RLIMIT_NPROC)}))
"""


def test_script_is_not_root_and_has_an_account_of_its_own(layer, workdir):
    result = run_script(workdir, UID_PROBE)
    seen = last_json(result)
    if layers.NON_ROOT not in result.protections:  # plain under a root harness that cannot hand over a uid
        assert layer == "plain" and os.geteuid() == 0 and seen["uid"] == 0, (seen, result.protections)
        return
    assert seen["uid"] != 0 and seen["euid"] != 0, seen
    assert seen["groups"] in ([], [seen["gid"]]), "supplementary groups survived: " + str(seen["groups"])
    if layer != "plain":
        assert seen["user"] == seen["account"] == "sandbox"
    if os.geteuid() == 0:
        assert seen["uid"] in _identity.uid_range() and layers.DEDICATED_UID in result.protections
    else:
        assert seen["uid"] == os.getuid()
    if layers.PROCESS_CAP in result.protections:
        assert seen["nproc"] == [MAX_PROCESSES, MAX_PROCESSES]


def test_protections_recorded_match_the_layer(layer, workdir):
    result = run_script(workdir, "pass")
    recorded = set(result.protections)
    assert recorded <= set(layers.PROTECTIONS), recorded - set(layers.PROTECTIONS)
    assert {layers.RLIMITS, layers.WATCHDOG, layers.NO_NEW_PRIVS} <= recorded
    namespaces = set(layers.NAMESPACES)
    assert namespaces <= recorded if layer != "plain" else not namespaces & recorded
    if layer != "plain":
        assert {layers.NON_ROOT, layers.PROCESS_CAP, layers.NO_CAPS} <= recorded
        assert (layers.DEDICATED_UID in recorded) == (os.geteuid() == 0)
        assert (layers.USER_NS in recorded) == (os.geteuid() != 0)


def test_host_sees_the_script_under_its_own_uid(layer, workdir):
    """Sampled from outside: the script's process on the host has the uid it reports inside."""
    marker = f"adaptbench-uid-{uuid.uuid4().hex}"
    found: dict[str, str] = {}
    stop = threading.Event()

    def sample():
        while not stop.is_set() and not found:
            for pid in script_processes(marker):
                with contextlib.suppress(OSError, StopIteration):
                    found["Uid"] = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines()
                                        if l.startswith("Uid:"))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = run_script(workdir, "import os, sys, time; time.sleep(1.5); print(os.getuid())", marker)
    finally:
        stop.set()
        sampler.join()
    inside = int(result.stdout_tail.split()[-1])
    assert found, "the sampler never saw the script"
    assert {int(u) for u in found["Uid"].split()[1:]} == {inside}
    if layers.NON_ROOT in result.protections:
        assert inside != 0


def test_work_dir_is_the_scripts_during_the_run_and_the_harness_after(layer, workdir):
    result = run_script(workdir, """
        import json, os
        os.makedirs("made/deep", exist_ok=True)
        open("made/deep/file.txt", "w").write("x")
        os.symlink("/etc/hostname", "made/link")
        print(json.dumps({"owner": os.stat(".").st_uid, "me": os.getuid()}))
    """)
    seen = last_json(result)
    assert seen["owner"] == seen["me"], "the script does not own its work dir"
    for path in [workdir, *workdir.rglob("*")]:
        assert os.lstat(path).st_uid == os.getuid(), f"{path} still belongs to uid {os.lstat(path).st_uid}"


def test_links_planted_in_the_harness_folder_are_never_followed(layer, workdir, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("harness data")
    run_script(workdir, """
        import os, sys
        os.symlink(sys.argv[1], ".adaptbench/probe7.stdout")
        os.symlink(sys.argv[1], ".adaptbench/probe7.stderr")
        os.symlink(os.path.dirname(sys.argv[1]), ".adaptbench/elsewhere")
    """, str(victim))
    assert not [p for p in (workdir / ".adaptbench").rglob("*") if p.is_symlink()]
    (workdir / "p.py").write_text("print('probe output')")
    result = execute([sys.executable, "p.py"], workdir, QUICK, label="probe7")
    assert result.stdout_tail == "probe output\n"
    assert victim.read_text() == "harness data"
    assert not (workdir / ".adaptbench" / "probe7.stdout").is_symlink()


FORK_BOMBS = {
    "fork-and-retry": """
        import os, sys
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """,
    "fork-until-it-fails": """
        import os, sys
        while True:
            os.fork()
    """,
}


def script_processes(marker: str) -> list[int]:
    """The script's own processes (`python script.py MARKER ...`), not the layer's launchers around it."""
    found = []
    for pid in marked_processes(marker):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if argv[1:3] == [b"script.py", marker.encode()]:
                found.append(pid)
    return found


def tasks_of(marker: str) -> int:
    total = 0
    for pid in script_processes(marker):
        with contextlib.suppress(OSError, StopIteration):
            line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith("Threads:"))
            total += int(line.split()[1])
    return total


@pytest.mark.parametrize("bomb", sorted(FORK_BOMBS))
def test_fork_bomb_is_held_at_the_process_cap_and_killed(layer, workdir, bomb):
    if layers.PROCESS_CAP not in run_script(workdir, "pass").protections:
        pytest.skip(f"no kernel process cap under {layer} here: only the watchdog would stop a real fork bomb, "
                    "too late on a shared machine (test_many_processes_are_killed_as_processes covers it)")
    marker = f"adaptbench-bomb-{uuid.uuid4().hex}"
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tasks_of(marker))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = run_script(workdir, FORK_BOMBS[bomb], marker, limits=Limits(timeout_s=30, memory_mb=4096))
    finally:
        stop.set()
        sampler.join()
    assert not result.timed_out and result.exit_code != 0
    if bomb == "fork-until-it-fails" and result.killed_reason is None:
        # its first process can meet the cap, raise and exit before the watchdog's next look: then the PID
        # namespace dies with it, which is just as final
        assert "BlockingIOError: [Errno 11]" in result.stderr_tail, result.stderr_tail[-500:]
    else:
        assert result.killed_reason == "processes", (result.killed_reason, result.stderr_tail[-500:])
    assert marked_processes(marker) == [], "bomb processes outlived the run"
    if layers.PROCESS_CAP in result.protections:
        assert 0 < peak[0] <= MAX_PROCESSES, f"{peak[0]} processes alive at the peak"
    follow_up = run_script(workdir, "import os; print(os.fork() and 'parent' or 'child')")
    assert follow_up.exit_code == 0 and "parent" in follow_up.stdout_tail


def test_many_processes_are_killed_as_processes(layer, workdir):
    """A bounded crowd of sleepers, over the cap: the kernel refuses the excess (where it caps), the watchdog
    ends the run as "processes" on every layer, and the verdict says so."""
    result = run_script(workdir, """
        import os, sys, time
        started = 0
        for _ in range(int(sys.argv[1])):
            try:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                started += 1
            except BlockingIOError:
                print("refused after", started, flush=True)
                break
        time.sleep(60)
    """, str(MAX_PROCESSES + 40), limits=Limits(timeout_s=30, memory_mb=8192))
    assert result.killed_reason == "processes" and not result.timed_out, (result.killed_reason, result.stdout_tail)
    if layers.PROCESS_CAP in result.protections and "refused after" in result.stdout_tail:
        assert int(result.stdout_tail.split()[-1]) < MAX_PROCESSES
    category, reason = classify_crash(result)
    assert category.value == "runtime_error" and "too many processes" in reason


@pytest.fixture
def short_workdir():
    """A work dir with a short path: torch's file_system strategy puts a unix socket (at most 108 bytes of
    path) under TMPDIR, which pytest's deep tmp_path would overflow (it would outside any sandbox, too)."""
    root = Path(tempfile.mkdtemp(prefix="ab-"))
    make_dirs(root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow  # torch import and worker start-up, per layer
def test_torch_dataloader_workers_share_memory_inside(layer, short_workdir):
    """DataLoader workers hand batches back through shared memory (/dev/shm) and unix sockets."""
    result = run_script(short_workdir, """
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        torch.set_num_threads(1)
        data = TensorDataset(torch.arange(64, dtype=torch.float32).reshape(32, 2))
        for strategy in ("file_descriptor", "file_system"):
            torch.multiprocessing.set_sharing_strategy(strategy)
            total = sum(float(b[0].sum()) for b in DataLoader(data, batch_size=4, num_workers=2))
            print(strategy, total)
    """, limits=Limits(timeout_s=120, memory_mb=4096))
    assert result.exit_code == 0, result.stderr_tail
    assert result.stdout_tail.split() == ["file_descriptor", "2016.0", "file_system", "2016.0"]
