"""The executor extension point and what a node does with a grading job, without a Ray cluster: the run's
caches stay with the caller, a work dir comes back from a node whole but without scratch, and nothing in it can
write outside its destination on the way back."""

import io
import sys
import tarfile

import pytest

from benchmark.cache import Cache
from benchmark.errors import MissingDependencyError, UnknownNameError
from benchmark.evaluation import evaluate_code
from benchmark.executors import (
    EXECUTORS,
    Executor,
    LocalExecutor,
    executor,
    open_executor,
)
from benchmark.executors._node import NodeJob, run_job
from benchmark.executors._transfer import pack_task, pack_workdir, task_on_node, unpack
from benchmark.tasks import load_tasks
from benchmark.types import RuntimeConfig
from sandbox.grading import judge


def test_registry_has_local_and_ray_and_answers_a_typo_with_the_names():
    assert {"local", "ray"} <= set(EXECUTORS.names())
    assert isinstance(open_executor(RuntimeConfig()), LocalExecutor)
    with pytest.raises(UnknownNameError, match="did you mean ray"):
        open_executor(RuntimeConfig(executor="rey"))


def test_ray_missing_is_a_one_line_error_that_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(MissingDependencyError) as caught:
        open_executor(RuntimeConfig(executor="ray"))
    assert "\n" not in caught.value.message
    assert "pip install 'adaptbench[ray]'" in caught.value.hint


def test_a_registered_executor_gets_fresh_executions_and_the_cache_stays_with_the_caller(tasks_dir, tmp_path):
    submitted = []

    @executor("counting-test")
    class Counting(LocalExecutor):
        def submit(self, job):
            submitted.append(job)
            return super().submit(job)

    task = load_tasks(["synthetic-0"], tasks_dir=tasks_dir)[0]
    cache = Cache(tmp_path / "cache")
    chosen = open_executor(RuntimeConfig(executor="counting-test"))
    first = evaluate_code(task, task.reference_code(), cache, executor=chosen)
    again = evaluate_code(task, task.reference_code(), cache, executor=chosen)
    assert first.verdict.passed and not first.cached
    assert again.cached and again.verdict == first.verdict
    assert len(submitted) == 1 and submitted[0].workdir.is_relative_to(cache.root)
    assert isinstance(chosen, Executor) and first.execution.node is None


def _node_job(task, code, workdir, marker=None, token="t0"):
    from benchmark.evaluation import checker_versions

    return NodeJob(task=task, fingerprint=task.fingerprint(), code=code, workdir=workdir, timeout_scale=1.0,
                   checkers=checker_versions(task), marker=marker, token=token)


def test_a_node_that_cannot_see_the_driver_ships_the_work_dir_back_and_cleans_up(tasks_dir, tmp_path):
    task = load_tasks(["synthetic-0"], tasks_dir=tasks_dir)[0]
    code = task.reference_code() + "import os\nos.makedirs(os.path.expanduser('~/.cache/big'), exist_ok=True)\n" \
        "open(os.path.expanduser('~/.cache/big/blob'), 'wb').write(b'x' * 100000)\n"
    workdir = tmp_path / "driver" / "executions" / "ab" / "abc" / "work"
    outcome = run_job(_node_job(task, code, workdir), pack_task(task), node="node-1")
    assert outcome.verdict.passed and not outcome.shared
    assert outcome.execution.node == "node-1" and outcome.execution.workdir == workdir
    assert not (tmp_path / "driver").exists(), "the node removes the work dir and the folders it made for it"

    unpack(outcome.packed, workdir)
    assert (workdir / "out.txt").read_text() == "ok"
    assert (workdir / ".adaptbench" / "events.sealed.json").is_file()
    assert not (workdir / ".home" / ".cache").exists(), "scratch no checker reads stays behind"
    assert judge(task, outcome.execution) == outcome.verdict, "the driver re-judges the shipped work dir alike"


def test_a_node_that_sees_the_driver_grades_in_place(tasks_dir, tmp_path):
    task = load_tasks(["synthetic-1"], tasks_dir=tasks_dir)[0]
    workdir = tmp_path / "executions" / "cd" / "cdef" / "work"
    marker = workdir.parent / ".adaptbench-driver"
    marker.parent.mkdir(parents=True)
    marker.write_text("token-1")
    outcome = run_job(_node_job(task, task.input_code(), workdir, marker, "token-1"), pack_task(task), "node-2")
    assert outcome.shared and outcome.packed is None
    assert outcome.verdict.code == "behaviour.missing_output"
    assert (workdir / ".adaptbench" / "main.stdout").read_text().strip() == "trained"


def test_task_files_reach_a_node_that_has_no_copy_of_the_task_folder(tasks_dir, tmp_path):
    task = load_tasks(["synthetic-0"], tasks_dir=tasks_dir)[0]
    fixture = task.folder / "data"
    fixture.mkdir()
    (fixture / "rows.csv").write_text("a,b\n1,2\n")
    task = task.model_copy(update={"fixtures": (fixture,)})
    fingerprint, packed = task.fingerprint(), pack_task(task)
    assert task_on_node(task, fingerprint, packed, tmp_path / "node") is task  # the same files here: used as they are

    import shutil

    shutil.rmtree(task.folder)
    here = task_on_node(task, fingerprint, packed, tmp_path / "node")
    assert here.fingerprint() == fingerprint
    assert (here.fixtures[0] / "rows.csv").read_text() == "a,b\n1,2\n"
    assert "open('out.txt'" in here.reference_code()


def test_unpacking_a_hostile_work_dir_never_writes_outside_it(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (("ok.txt", b"fine"), ("../escaped.txt", b"no"), ("/abs.txt", b"no")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    destination = tmp_path / "work"
    unpack(buffer.getvalue(), destination)
    assert (destination / "ok.txt").read_bytes() == b"fine"
    assert not (tmp_path / "escaped.txt").exists() and not (destination / "passwd").exists()
    assert sorted(p.name for p in destination.iterdir()) == ["abs.txt", "ok.txt"]  # a leading / is dropped


def test_a_work_dir_over_the_bound_is_not_shipped(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"\0" * 4096)
    packed, why = pack_workdir(tmp_path, max_bytes=1024)
    assert packed is None and "over the" in why
    packed, why = pack_workdir(tmp_path, max_bytes=8192)
    assert packed is not None and why == ""
