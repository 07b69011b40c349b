"""The `ray` executor on a real multi-node Ray cluster on this machine (ray.cluster_utils.Cluster: a head with no
CPU, so every execution runs on one of two worker nodes of 1 CPU each): the same verdicts and pass@k as the local
executor, executions spread over both nodes, and a node killed while it holds an execution.

All slow: starting the cluster alone takes about a minute on this 2-core machine, and Ray's own start-up times
out when its daemons are starved (see the stack notes)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmark.backends import get_backend
from benchmark.backends.mock import MockBackend
from benchmark.cache import Cache
from benchmark.matrix import make_spec
from benchmark.metrics import cells
from benchmark.runner import Runner
from benchmark.tasks import load_tasks
from benchmark.types import RuntimeConfig, Setting

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

STORE = 200 * 1024 * 1024
NODE_MEMORY = 7 * 1024**3  # logical: room for one task at its 6144 MiB default limit per node
FAST_HEALTH_CHECKS = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000,
                      "health_check_failure_threshold": 3, "health_check_timeout_ms": 1000}


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": STORE, "include_dashboard": False, "_system_config": FAST_HEALTH_CHECKS})
    for _ in range(2):
        c.add_node(num_cpus=1, memory=NODE_MEMORY, object_store_memory=STORE)
    c.wait_for_nodes()
    ray.init(address=c.address, logging_level="WARNING")
    yield c
    ray.shutdown()
    c.shutdown()


def _workers(cluster):
    return [n for n in cluster.list_all_nodes() if n is not cluster.head_node]


def _restore_two_workers(cluster):
    while len(_workers(cluster)) < 2:
        cluster.add_node(num_cpus=1, memory=NODE_MEMORY, object_store_memory=STORE)
    cluster.wait_for_nodes()


def _answer(request, i):
    """A distinct script per sample, the same in every run: sample 0 passes, 1 crashes, 2 writes nothing."""
    tag = f"{request.task.id} {request.config.temperature} {request.prompt.setting.value} {i}"
    body = [f"open('out.txt', 'w').write({tag!r})", f"raise RuntimeError({tag!r})", f"print({tag!r})"][i % 3]
    return f"```python\n{body}\n```"


def _matrix_run(tasks_dir, tmp_path, executor, cache_name, run_id, **runtime):
    tasks = load_tasks(tasks_dir=tasks_dir)
    models = ("oracle", "identity", "mock")
    spec = make_spec(tasks, models, [0.0, 1.0], [Setting.zero_shot, Setting.docprompt], 3, run_id=run_id)
    backends = {"oracle": get_backend("oracle"), "identity": get_backend("identity"),
                "mock": MockBackend.scripted(responder=_answer)}
    runner = Runner(spec, tasks, tmp_path / "runs" / run_id, Cache(tmp_path / cache_name),
                    RuntimeConfig(workers=2, progress=False, executor=executor, **runtime), backends=backends)
    return runner, {r.key.id(): r for r in runner.run()}


def test_a_matrix_on_two_nodes_gives_the_local_verdicts_and_shares_the_cache(cluster, tasks_dir, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("ADAPTBENCH_RAY_SHIP", "always")  # work dirs travel back as tarballs, as from another machine
    _, local = _matrix_run(tasks_dir, tmp_path, "local", "cache-local", "local")
    runner, remote = _matrix_run(tasks_dir, tmp_path, "ray", "cache-ray", "ray", ray_address=cluster.address)

    assert runner.stats["executed"] == 2 + 2 + 2 * 2 * 2 * 3  # oracle, identity: one script per task; mock: 24
    assert local.keys() == remote.keys() and len(remote) == 3 * 2 * 2 * 2 * 3
    assert {k: r.verdict for k, r in local.items()} == {k: r.verdict for k, r in remote.items()}
    assert cells(list(local.values()), ks=(1, 3)) == cells(list(remote.values()), ks=(1, 3))
    by_model = {c.group["model"]: c.pass_at for c in cells(list(remote.values()), ks=(1, 3))}
    assert by_model["oracle"] == {1: 1.0, 3: 1.0} and by_model["identity"] == {1: 0.0, 3: 0.0}
    assert by_model["mock"][3] == 1.0 and abs(by_model["mock"][1] - 1 / 3) < 1e-9

    nodes = {r.execution.node for r in remote.values() if r.execution is not None}
    assert nodes == {n.node_id for n in _workers(cluster)}, "executions ran on both worker nodes, and only there"
    assert all(r.execution.node is None for r in local.values() if r.execution is not None)
    for record in remote.values():  # every graded work dir is back on the driver, where the cache is
        if record.execution is not None:
            assert record.execution.workdir.is_relative_to(tmp_path / "cache-ray")
            assert (record.execution.workdir / ".adaptbench" / "main.stdout").is_file()

    again, shared = _matrix_run(tasks_dir, tmp_path, "local", "cache-ray", "local-after-ray")
    assert again.stats["executed"] == 0, "a local run of the same matrix takes every execution from the Ray run's cache"
    assert {k: r.verdict for k, r in shared.items()} == {k: r.verdict for k, r in remote.items()}


SLOW_SPEC = """
id = "{id}"
version = 1
title = "Slow {id}"
category = "inlining"
functionality = "experiment_tracking"
component = "mlflow"
framework = "sklearn"
input = "input.py"
input_fails_with = "behaviour.missing_output"

[[checks]]
name = "behaviour"
args = {{ files = ["out.txt"] }}

[limits]
timeout_s = 120
"""


@pytest.fixture
def slow_tasks(tmp_path):
    root = tmp_path / "slow-tasks"
    for i in range(2):
        folder = root / f"slow-{i}"
        folder.mkdir(parents=True)
        (folder / "task.toml").write_text(SLOW_SPEC.format(id=f"slow-{i}"))
        (folder / "input.py").write_text("print('trained')\n")
        (folder / "reference.py").write_text(
            "import time\nopen('started', 'w').write('1')\ntime.sleep(8)\nopen('out.txt', 'w').write('ok')\n")
    return root


def _slow_runner(slow_tasks, tmp_path, cluster, run_id="slow"):
    tasks = load_tasks(tasks_dir=slow_tasks)
    spec = make_spec(tasks, ["oracle"], [0.0], [Setting.zero_shot], 1, run_id=run_id)
    return Runner(spec, tasks, tmp_path / "runs" / run_id, Cache(tmp_path / "cache"),
                  RuntimeConfig(workers=2, progress=False, executor="ray", ray_address=cluster.address))


def _run_and_kill_a_node(runner, cluster, tmp_path):
    """Run in a thread; once both executions are running (each on its own node), kill one of the two nodes.
    Returns the records and the node that survived."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("records", runner.run()))
    thread.start()
    deadline = time.monotonic() + 300
    while len(list((tmp_path / "cache").glob("executions/*/*/work/started"))) < 2:
        assert time.monotonic() < deadline and thread.is_alive(), "both executions should have started"
        time.sleep(0.1)
    victim, survivor = _workers(cluster)
    cluster.remove_node(victim, allow_graceful=False)
    thread.join(timeout=600)
    assert not thread.is_alive(), "the run must not hang on a lost node"
    return out["records"], survivor


def test_a_node_killed_mid_execution_is_retried_on_the_other_node(cluster, slow_tasks, tmp_path):
    _restore_two_workers(cluster)
    records, survivor = _run_and_kill_a_node(_slow_runner(slow_tasks, tmp_path, cluster), cluster, tmp_path)
    assert [r.verdict.code for r in records] == ["ok", "ok"]
    assert {r.execution.node for r in records} == {survivor.node_id}, "the killed node's execution ran again"
    _restore_two_workers(cluster)


def test_when_the_tries_run_out_it_is_an_infrastructure_error_that_a_resume_completes(cluster, slow_tasks,
                                                                                     tmp_path, monkeypatch):
    _restore_two_workers(cluster)
    monkeypatch.setenv("ADAPTBENCH_RAY_RETRIES", "0")
    records, _ = _run_and_kill_a_node(_slow_runner(slow_tasks, tmp_path, cluster), cluster, tmp_path)
    lost = [r for r in records if r.verdict.code == "executor.lost"]
    assert len(lost) == 1 and len(records) == 2
    assert lost[0].verdict.status.value == "error" and lost[0].verdict.category.value == "harness_error"
    assert lost[0].execution is None and "not the candidate's" in lost[0].verdict.reason

    _restore_two_workers(cluster)
    monkeypatch.delenv("ADAPTBENCH_RAY_RETRIES")
    resumed = _slow_runner(slow_tasks, tmp_path, cluster)
    records = resumed.run()
    assert resumed.stats["executed"] == 1, "only the lost execution runs again"
    assert sorted(r.verdict.code for r in records) == ["ok", "ok"]
    lines = (tmp_path / "runs" / "slow" / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 3  # two first records, then the redone one: nothing finished is repeated


def _cli(tasks_dir, tmp_path, run_id, address):
    return [sys.executable, "-m", "benchmark", "--tasks-dir", str(tasks_dir), "benchmark", "--models", "oracle,identity",
            "--temperatures", "0,1", "-n", "3", "--runs-dir", str(tmp_path / "runs"), "--run-id", run_id,
            "--cache-dir", str(tmp_path / f"cache-{run_id}"), "--no-progress", "--executor", "ray",
            "--ray-address", address]


def _keys(run_dir: Path) -> list[str]:
    return [json.dumps(json.loads(line)["key"], sort_keys=True)
            for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_a_driver_killed_half_way_resumes_to_the_uninterrupted_set(cluster, tasks_dir, tmp_path):
    _restore_two_workers(cluster)
    import benchmark

    env = dict(os.environ, PYTHONPATH=str(Path(benchmark.__file__).parents[1]))  # this checkout
    subprocess.run(_cli(tasks_dir, tmp_path, "whole", cluster.address), check=True, capture_output=True,
                   timeout=600, env=env)
    expected = _keys(tmp_path / "runs" / "whole")

    proc = subprocess.Popen(_cli(tasks_dir, tmp_path, "killed", cluster.address), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    samples = tmp_path / "runs" / "killed" / "samples.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not samples.exists() or not samples.read_text().splitlines()):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(samples.read_text().splitlines())
    assert 1 <= written < len(expected), "the kill must land half-way"

    subprocess.run(_cli(tasks_dir, tmp_path, "killed", cluster.address), check=True, capture_output=True,
                   timeout=600, env=env)
    resumed = _keys(tmp_path / "runs" / "killed")
    assert len(resumed) == len(set(resumed)), "no sample is duplicated"
    assert sorted(resumed) == sorted(expected)
