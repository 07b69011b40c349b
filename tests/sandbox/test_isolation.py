"""What a sandboxed script can and cannot reach, for every isolation layer that works on this machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from benchmark.types import ExecutionResult, Limits
from sandbox.environment import build_env
from sandbox.executor import TOKEN_VAR, execute

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
    if layer == "plain":
        assert seen["leaks"], "plain has no PID namespace: the scan should see the host process"
    else:
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
