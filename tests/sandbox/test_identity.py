"""Sandbox identities: dedicated uids leased per run, the work dir handed over and back, and the harness's
own folder inside a work dir kept free of planted links."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmark.errors import SandboxError
from benchmark.types import ExecutionResult
from sandbox import _identity, _mounts, _proctree
from sandbox._identity import Identity

REPO = Path(__file__).resolve().parents[2]
TEST_UID_BASE = "62100"  # a range of its own, so concurrent sandbox runs on this machine do not interfere
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="dedicated uids are leased by a root harness only")


@pytest.fixture
def private_range(monkeypatch):
    monkeypatch.setenv(_identity.UID_BASE_VAR, TEST_UID_BASE)
    return _identity.uid_range()


@root_only
def test_concurrent_leases_get_distinct_dedicated_uids(private_range):
    got, release = [], threading.Event()

    def hold():
        with _identity.lease() as owner:
            got.append(owner)
            release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for t in threads:
        t.start()
    while len(got) < 3:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join()
    assert len({o.uid for o in got}) == 3
    assert all(o.dedicated and o.uid == o.gid and o.uid in private_range for o in got)


@root_only
def test_a_lease_held_by_another_process_is_never_shared(private_range):
    hold = "import time\nfrom sandbox import _identity\nwith _identity.lease() as o:\n    print(o.uid, flush=True)\n" \
           "    time.sleep(30)\n"
    holder = subprocess.Popen([sys.executable, "-c", hold], cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        held = int(holder.stdout.readline())
        with _identity.lease() as mine:
            assert mine.uid != held
    finally:
        holder.kill()
        holder.wait()
    with _identity.lease() as after:  # the dead holder's lock went with it
        assert after.uid == held == private_range.start


@root_only
def test_processes_left_under_a_free_uid_are_killed_before_it_is_reused(private_range):
    uid = private_range.start
    stray = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "60"])
    try:
        deadline = time.monotonic() + 5
        while not _proctree.owned_by(uid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _proctree.owned_by(uid), "the stray process never ran"
        with _identity.lease() as owner:
            assert owner.uid == uid
            assert not _proctree.owned_by(uid)
        assert stray.wait(5) == -9
    finally:
        stray.kill()
        stray.wait()


@root_only
def test_uids_that_name_an_account_are_skipped(private_range, monkeypatch):
    taken = {private_range.start, private_range.start + 1}
    monkeypatch.setattr(_identity, "_taken_by_an_account", lambda uid: uid in taken)
    with _identity.lease() as owner:
        assert owner.uid == private_range.start + 2


@root_only
def test_a_lock_dir_others_can_write_is_refused(tmp_path, monkeypatch, private_range):
    unsafe = tmp_path / "locks"
    unsafe.mkdir(mode=0o777)
    unsafe.chmod(0o777)
    monkeypatch.setattr(_identity, "LOCK_DIR", unsafe)
    with pytest.raises(SandboxError, match="only root can write"), _identity.lease():
        pass


@pytest.mark.parametrize("base", ["sixty", "500"])
def test_a_bad_uid_base_is_a_clear_error(monkeypatch, base):
    monkeypatch.setenv(_identity.UID_BASE_VAR, base)
    with pytest.raises(SandboxError, match=_identity.UID_BASE_VAR):
        _identity.uid_range()


@pytest.mark.skipif(os.geteuid() == 0, reason="a root harness leases dedicated uids")
def test_an_unprivileged_harness_runs_scripts_as_itself():
    with _identity.lease() as owner:
        assert owner == Identity(os.getuid(), os.getgid(), dedicated=False)


@root_only
def test_hand_over_and_back_never_follow_links_out_of_the_tree(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "sub" / "f.txt").write_text("x")
    (work / "sub" / "escape").symlink_to(outside)
    (work / "dir-escape").symlink_to(tmp_path)
    sandbox_user = Identity(int(TEST_UID_BASE), int(TEST_UID_BASE), dedicated=True)
    _identity.hand_over(work, sandbox_user)
    inside = [work, work / "sub", work / "sub" / "f.txt", work / "sub" / "escape", work / "dir-escape"]
    assert {os.lstat(p).st_uid for p in inside} == {sandbox_user.uid}
    assert os.stat(outside).st_uid == os.stat(tmp_path).st_uid == 0
    _identity.take_back(work, sandbox_user)
    assert {os.lstat(p).st_uid for p in inside} == {0}


def test_the_harness_folder_is_rebuilt_when_the_script_replaced_it(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / ".adaptbench").symlink_to(tmp_path)
    control = _identity.secure_control_dir(work)
    assert control.is_dir() and not control.is_symlink()
    (control / "site").mkdir()
    (control / "site" / "sitecustomize.py").symlink_to("/etc/passwd")
    (control / "events.jsonl").write_text("{}\n")
    _identity.secure_control_dir(work)
    assert not (control / "site" / "sitecustomize.py").exists() and (control / "events.jsonl").exists()


@pytest.mark.parametrize("planted", ["symlink", "directory", "file"])
def test_private_files_replace_whatever_held_their_name(tmp_path, planted):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    folder = tmp_path / "logs"
    folder.mkdir()
    name = folder / "main.stdout"
    if planted == "symlink":
        name.symlink_to(victim)
    elif planted == "directory":
        (name / "inner").mkdir(parents=True)
    else:
        name.write_text("old output")
    with _identity.create_private_file(folder, "main.stdout") as fh:
        fh.write(b"new output")
    assert name.is_file() and not name.is_symlink() and name.read_bytes() == b"new output"
    assert victim.read_text() == "keep me"


def test_the_sandbox_accounts_name_the_script_root_and_nobody(tmp_path):
    owner = Identity(61003, 61003, dedicated=True)
    passwd = _identity.passwd_text(owner, tmp_path / ".home")
    assert f"sandbox:x:61003:61003:adaptbench sandbox:{tmp_path / '.home'}:/bin/sh" in passwd.splitlines()
    assert [line.split(":")[0] for line in passwd.splitlines()] == ["root", "sandbox", "nobody"]
    assert "sandbox:x:61003:" in _identity.group_text(owner).splitlines()
    plan = _mounts.plan(tmp_path, owner)
    assert [m.dest for m in plan if m.kind == "data"] == ["/etc/passwd", "/etc/group"]
    assert not any(m.source == "/etc/passwd" for m in plan)


def test_parents_of_mount_points_are_created_once_and_not_inside_binds():
    plan = [_mounts.Mount("ro", "/usr", "/usr"), _mounts.Mount("ro", "/usr/lib/x", "/usr/lib/x"),
            _mounts.Mount("tmpfs", "/tmp"), _mounts.Mount("rw", "/tmp/a/b/work", "/tmp/a/b/work"),
            _mounts.Mount("ro", "/root/.pyenv/v", "/root/.pyenv/v"), _mounts.Mount("ro", "/root/.x", "/root/.x")]
    assert _mounts.missing_parents(plan) == [[], [], [], ["/tmp/a", "/tmp/a/b"], ["/root", "/root/.pyenv"], []]


def test_results_stored_before_protections_were_recorded_still_load(tmp_path):
    old = {"exit_code": 0, "timed_out": False, "killed_reason": None, "duration_s": 1.0, "stdout_tail": "",
           "stderr_tail": "", "isolation": "bwrap", "workdir": str(tmp_path)}
    assert ExecutionResult.model_validate(old).protections == ()
