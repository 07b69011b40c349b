"""Limits and layer selection: memory, file size, CPU, wall clock, and what happens around a kill."""

from __future__ import annotations

import errno
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from benchmark.errors import SandboxError, UnknownNameError
from benchmark.types import Limits
from sandbox import _mounts, layers
from sandbox.executor import execute, rlimit_prefix
from sandbox.layers import ENV_VAR, LAYERS, select_layer
from tests.sandbox.test_isolation import run_script

MIB = 1024 * 1024


def test_memory_over_the_limit_is_killed_as_memory(layer, workdir):
    limits = Limits(timeout_s=20, memory_mb=200)
    result = run_script(workdir, """
        import time
        hoard = []
        for _ in range(60):
            hoard.append(bytearray(b"x") * (20 * 1024 * 1024))  # written, so resident
            time.sleep(0.02)
        print("survived")
    """, limits=limits)
    assert result.killed_reason == "memory", (result.exit_code, result.stderr_tail)
    assert not result.timed_out and "survived" not in result.stdout_tail
    assert result.duration_s < 10


def test_under_the_memory_limit_runs_to_the_end(layer, workdir):
    result = run_script(workdir, "x = bytearray(b'x') * (50 * 1024 * 1024); print('done')",
                        limits=Limits(timeout_s=20, memory_mb=400))
    assert result.exit_code == 0 and result.killed_reason is None and "done" in result.stdout_tail


def test_file_size_limit(layer, workdir):
    result = run_script(workdir, """
        import errno
        try:
            with open("big.bin", "wb") as fh:
                for _ in range(4):
                    fh.write(b"x" * 1024 * 1024)
            print("wrote all")
        except OSError as exc:
            print("errno", exc.errno)
    """, limits=Limits(timeout_s=20, file_size_mb=2))
    assert f"errno {errno.EFBIG}" in result.stdout_tail, (result.stdout_tail, result.stderr_tail)
    assert (workdir / "big.bin").stat().st_size <= 2 * MIB


def test_cpu_limit_kills_a_busy_loop(layer, workdir):
    result = run_script(workdir, "while True: pass", limits=Limits(timeout_s=30, cpu_s=1))
    assert not result.timed_out and result.exit_code not in (0, None)
    assert result.duration_s < 15


def test_wall_clock_timeout_of_a_sleeping_script(layer, workdir):
    result = run_script(workdir, "import time; print('start', flush=True); time.sleep(600)",
                        limits=Limits(timeout_s=1.0))
    assert result.timed_out and result.killed_reason == "timeout" and result.exit_code is None
    assert 1.0 <= result.duration_s < 4 and "start" in result.stdout_tail


def test_output_goes_to_files_per_label(layer, workdir):
    (workdir / "p.py").write_text("import sys; print('out'); print('err', file=sys.stderr)")
    result = execute([sys.executable, "p.py"], workdir, Limits(timeout_s=20), label="probe7")
    assert (workdir / ".adaptbench" / "probe7.stdout").read_text() == "out\n"
    assert result.stderr_tail == "err\n"


def test_concurrent_runs_do_not_kill_each_other(layer, tmp_path):
    dirs = [tmp_path / name for name in ("a", "b")]
    results = {}

    def go(wd, source, timeout):
        wd.mkdir()
        results[wd.name] = run_script(wd, source, limits=Limits(timeout_s=timeout))

    slow = threading.Thread(target=go, args=(dirs[0], "import time; time.sleep(2); print('slow done')", 20))
    slow.start()
    go(dirs[1], "import os, time\nif os.fork() == 0:\n    os.setsid(); time.sleep(60)\ntime.sleep(60)", 0.5)
    slow.join()
    assert results["b"].timed_out
    assert results["a"].exit_code == 0 and "slow done" in results["a"].stdout_tail


def test_rlimits_follow_the_limits():
    args = rlimit_prefix(Limits(timeout_s=10, memory_mb=1000, file_size_mb=3))
    assert args[0] == "prlimit" and args[-1] == "--"
    assert "--cpu=20" in args and f"--fsize={3 * MIB}" in args and f"--as={5096 * MIB}" in args
    assert "--cpu=7" in rlimit_prefix(Limits(timeout_s=10, cpu_s=7))


def test_unknown_layer_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "bwarp")
    with pytest.raises(UnknownNameError) as info:
        select_layer()
    assert ENV_VAR in str(info.value) and "bwrap" in str(info.value)


def test_forcing_an_unavailable_layer_is_a_sandbox_error(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "bwrap")
    monkeypatch.setitem(layers.IsolationLayer._probe_results, "bwrap", "not installed (simulated)")
    with pytest.raises(SandboxError, match="simulated"):
        select_layer()


def test_auto_detection_takes_the_strongest_working_layer(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    working = [LAYERS.get(n) for n in LAYERS.names() if LAYERS.get(n).available()]
    assert select_layer().name == max(working, key=lambda c: c.rank).name
    monkeypatch.setitem(layers.IsolationLayer._probe_results, "bwrap", "simulated failure")
    assert select_layer().name != "bwrap"


def test_a_sandbox_that_cannot_start_is_a_harness_error(layer, workdir, monkeypatch):
    if layer == "plain":
        pytest.skip("the plain layer builds no sandbox that could fail to start")
    real_plan = _mounts.plan
    monkeypatch.setattr(_mounts, "plan",
                        lambda wd, owner: [*real_plan(wd, owner), _mounts.Mount("rw", "/nonexistent-ab", "/x")])
    with pytest.raises(SandboxError, match="could not start"):
        run_script(workdir, "print('never runs')")


def test_plain_hands_over_a_uid_only_where_an_unprivileged_user_can_reach_everything(monkeypatch):
    open_root = Path(tempfile.mkdtemp(prefix="ab-reach-"))  # in /tmp: walkable by anyone (pytest's tmp is not)
    try:
        venv, work = open_root / "venv", open_root / "work"
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").touch()
        work.mkdir()
        for d in (open_root, venv, venv / "bin", work):
            d.chmod(0o755)
        monkeypatch.setattr(layers.sys, "executable", str(venv / "bin" / "python"))
        monkeypatch.setattr(layers._mounts, "interpreter_dirs", lambda: [str(venv)])
        assert layers._reachable_by_anyone(work)
        open_root.chmod(0o750)
        assert not layers._reachable_by_anyone(work)
        open_root.chmod(0o755)
        venv.chmod(0o711)  # walkable but not readable: the interpreter's files could not be listed
        assert not layers._reachable_by_anyone(work)
    finally:
        shutil.rmtree(open_root)
