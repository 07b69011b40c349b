"""The run loop end to end on fast synthetic tasks: oracle passes everywhere, identity nowhere; a rerun does no work;
a run killed with SIGKILL half-way resumes to exactly the samples of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import pytest

from benchmark.cache import Cache
from benchmark.matrix import make_spec
from benchmark.metrics import cells
from benchmark.runlog import read_samples
from benchmark.runner import Runner
from benchmark.tasks import load_tasks
from benchmark.types import RuntimeConfig, Setting


def _run(tasks_dir, tmp_path, models=("oracle", "identity"), run_id="r1", cache_name="cache"):
    tasks = load_tasks(tasks_dir=tasks_dir)
    spec = make_spec(tasks, models, [0.0, 1.0], [Setting.zero_shot, Setting.docprompt], 3, run_id=run_id)
    runner = Runner(spec, tasks, tmp_path / "runs" / run_id, Cache(tmp_path / cache_name),
                    RuntimeConfig(workers=2, progress=False))
    return runner, runner.run()


def test_oracle_passes_every_cell_and_identity_none(tasks_dir, tmp_path):
    runner, records = _run(tasks_dir, tmp_path)
    assert len(records) == 2 * 2 * 2 * 2 * 3  # tasks x models x temperatures x settings x n
    by_model = {}
    for cell in cells(records, ks=(3,)):
        by_model.setdefault(cell.group["model"], set()).add(cell.pass_at[3])
    assert by_model == {"oracle": {1.0}, "identity": {0.0}}
    identity = [r for r in records if r.key.model == "identity"]
    assert {r.verdict.code for r in identity} == {"behaviour.missing_output"}
    # identical code is executed once per task and model answer, whatever the temperature/setting/sample
    assert runner.stats["executed"] == 4


def test_rerun_makes_no_model_calls_and_no_executions(tasks_dir, tmp_path):
    _run(tasks_dir, tmp_path)
    again, records = _run(tasks_dir, tmp_path)  # same run: everything already recorded
    assert again.stats == {"generated": 0, "cached_generations": 0, "executed": 0, "cached_executions": 0,
                           "attempts": 0}
    fresh, fresh_records = _run(tasks_dir, tmp_path, run_id="r2")  # a new run reuses the caches
    assert fresh.stats["generated"] == 0 and fresh.stats["executed"] == 0
    assert len(fresh_records) == len(records)


def test_spec_change_in_same_run_folder_is_refused(tasks_dir, tmp_path):
    from benchmark.errors import AdaptbenchError

    _run(tasks_dir, tmp_path, models=("oracle",))
    with pytest.raises(AdaptbenchError, match="different models"):
        _run(tasks_dir, tmp_path, models=("identity",))


def _cli(tasks_dir, tmp_path, run_id):
    return [sys.executable, "-m", "benchmark", "--tasks-dir", str(tasks_dir), "benchmark", "--models", "oracle,identity",
            "--temperatures", "0,1", "-n", "3", "--runs-dir", str(tmp_path / "runs"), "--run-id", run_id,
            "--cache-dir", str(tmp_path / f"cache-{run_id}"), "--workers", "1", "--no-progress"]


def _keys(run_dir: Path) -> list[str]:
    return [json.dumps(json.loads(line)["key"], sort_keys=True) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_sigkill_half_way_then_resume_gives_the_uninterrupted_set(tasks_dir, tmp_path):
    subprocess.run(_cli(tasks_dir, tmp_path, "whole"), check=True, capture_output=True, timeout=300)
    expected = _keys(tmp_path / "runs" / "whole")

    proc = subprocess.Popen(_cli(tasks_dir, tmp_path, "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    samples = tmp_path / "runs" / "killed" / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not samples.exists() or not samples.read_text().splitlines()):
        time.sleep(0.02)  # kill at the first recorded sample: identical work is judged from the cache at once
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(samples.read_text().splitlines())
    assert 1 <= written < len(expected), "the kill must land half-way"

    subprocess.run(_cli(tasks_dir, tmp_path, "killed"), check=True, capture_output=True, timeout=300)
    resumed = _keys(tmp_path / "runs" / "killed")
    assert len(resumed) == len(set(resumed)), "no sample is duplicated"
    assert sorted(resumed) == sorted(expected)
    assert len(read_samples(samples)) == len(expected)


def _mock_runner(tasks_dir, tmp_path, mock, run_id="m1", n=2):
    tasks = load_tasks(["synthetic-0"], tasks_dir=tasks_dir)
    spec = make_spec(tasks, ["mock"], [1.0], [Setting.zero_shot], n, run_id=run_id)
    return Runner(spec, tasks, tmp_path / "runs" / run_id, Cache(tmp_path / "cache"),
                  RuntimeConfig(workers=1, progress=False), backends={"mock": mock})


def test_backend_failure_is_recorded_then_retried_on_resume(tasks_dir, tmp_path):
    from benchmark.backends.mock import MockBackend
    from benchmark.errors import BackendError

    failing = MockBackend.scripted([BackendError("server said 500 after 5 retries")])
    records = _mock_runner(tasks_dir, tmp_path, failing).run()
    assert {r.verdict.status.value for r in records} == {"error"}
    assert all(r.verdict.code == "generation_error" and "500" in r.verdict.reason for r in records)

    good = "```python\nopen('out.txt', 'w').write('ok')\n```"
    healthy = MockBackend.scripted([good, "I would add MLflow here, but I will not write the code."])
    records = _mock_runner(tasks_dir, tmp_path, healthy).run()
    assert sorted(r.verdict.code for r in records) == ["extract.no_code", "ok"]
    assert len(healthy.calls) == 1 and healthy.calls[0].n == 2  # only the errored samples were asked again


def test_a_harness_failure_is_an_error_record_and_the_run_goes_on(tasks_dir, tmp_path, monkeypatch):
    from benchmark.backends.mock import MockBackend
    from benchmark.edits import WholeFile

    good = "```python\nopen('out.txt', 'w').write('ok')\n```"
    calls = []
    real_apply = WholeFile.apply

    def flaky_apply(self, text, current_code, merge_elided=False):
        calls.append(text)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=33, after=27)")
        return real_apply(self, text, current_code, merge_elided)

    monkeypatch.setattr(WholeFile, "apply", flaky_apply)
    records = _mock_runner(tasks_dir, tmp_path, MockBackend.scripted(default=good)).run()
    assert sorted(r.verdict.code for r in records) == ["harness_exception", "ok"]
    [broken] = [r for r in records if r.verdict.status.value == "error"]
    assert broken.verdict.category.value == "harness_error" and "recursion depth" in broken.verdict.reason
    records = _mock_runner(tasks_dir, tmp_path, MockBackend.scripted(default=good)).run()  # resume redoes it
    assert [r.verdict.code for r in records] == ["ok", "ok"]


def test_identical_work_waits_off_the_pool_so_the_workers_run_different_code(tasks_dir, tmp_path, monkeypatch):
    import threading

    from benchmark import runner as runner_module
    from benchmark.backends.mock import MockBackend
    from benchmark.evaluation import Evaluated
    from benchmark.types import FailureCategory, Status, Verdict

    lock, done, started, active, peak = threading.Lock(), set(), [], [0], [0]
    verdict = Verdict(status=Status.passed, category=FailureCategory.ok, code="ok", reason="")

    def timed_evaluate(task, code, cache, timeout_scale=1.0, executor=None):
        with lock:
            if (task.id, code) in done:
                return Evaluated(None, verdict, cached=True)
            started.append(task.id)
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.3)
        with lock:
            active[0] -= 1
            done.add((task.id, code))
        return Evaluated(None, verdict, cached=False)

    monkeypatch.setattr(runner_module, "evaluate_code", timed_evaluate)
    tasks = load_tasks(["synthetic-0", "synthetic-1"], tasks_dir=tasks_dir)
    spec = make_spec(tasks, ["mock"], [0.0], [Setting.zero_shot], 4, run_id="same")
    mock = MockBackend.scripted(default="```python\nopen('out.txt', 'w').write('ok')\n```")
    records = Runner(spec, tasks, tmp_path / "runs" / "same", Cache(tmp_path / "cache"),
                     RuntimeConfig(workers=2, progress=False), backends={"mock": mock}).run()
    assert len(records) == 8 and all(r.verdict.passed for r in records)
    assert sorted(started) == ["synthetic-0", "synthetic-1"]  # each code ran once ...
    assert peak[0] == 2  # ... and the two ran side by side


def test_parse_python_is_safe_from_many_threads():
    """Finalizers run by the garbage collector switch threads inside ast.parse; unguarded, this setup raised
    'AST constructor recursion depth mismatch' about once per run of 600 parses on CPython 3.11.7."""
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from benchmark.pyparse import parse_python

    class Cycle:
        def __del__(self):
            sum(range(200))

    def churn():
        for _ in range(200_000):
            cycle = Cycle()
            cycle.me = cycle

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    code = "\n".join(f"def f{i}(x):\n    return [y for y in range(x) if y % {i + 2}]" for i in range(300))
    churner = threading.Thread(target=churn)
    try:
        churner.start()
        with ThreadPoolExecutor(4) as pool:
            trees = list(pool.map(parse_python, [code] * 600))
    finally:
        churner.join()
        sys.setswitchinterval(previous)
    assert len(trees) == 600 and all(len(tree.body) == 300 for tree in trees)


def test_batching_backend_gets_several_requests_per_call(tasks_dir, tmp_path):
    from benchmark.backends.mock import MockBackend

    class BatchingMock(MockBackend):
        max_batch_requests = 8
        batch_calls = []

        def generate_batch(self, requests):
            self.batch_calls.append(len(requests))
            return super().generate_batch(requests)

    mock = BatchingMock.scripted(default="```python\nprint('no output')\n```")
    tasks = load_tasks(tasks_dir=tasks_dir)
    spec = make_spec(tasks, ["mock"], [0.0, 1.0], [Setting.zero_shot, Setting.docprompt], 2, run_id="b1")
    records = Runner(spec, tasks, tmp_path / "runs" / "b1", Cache(tmp_path / "cache"),
                     RuntimeConfig(workers=1, progress=False), backends={"mock": mock}).run()
    assert len(records) == 2 * 2 * 2 * 2
    assert mock.batch_calls == [8]  # 4 prompt families (task x setting) of 2 temperatures fill one call


def test_batches_keep_prompt_families_whole(tasks_dir):
    from benchmark.backends.mock import MockBackend
    from benchmark.runner import batches, plan

    class Batching(MockBackend):
        max_batch_requests = 4

    tasks = load_tasks(tasks_dir=tasks_dir)
    spec = make_spec(tasks, ["mock"], [0.0, 0.2, 1.0], [Setting.zero_shot, Setting.docprompt], 1, run_id="fam")
    todo = [(group, [0]) for group in plan(spec, tasks)]
    units = batches(todo, {"mock": Batching.scripted(default="x")})
    assert [len(unit) for unit in units] == [3] * 4  # two families of 3 would exceed 4
    for unit in units:
        assert len({(g.task.id, g.setting) for g, _ in unit}) == 1
        assert sorted(g.temperature for g, _ in unit) == [0.0, 0.2, 1.0]
    assert sorted(len(u) for u in batches(todo, {"mock": MockBackend.scripted(default="x")})) == [1] * 12


def test_groups_that_render_one_prompt_ask_the_backend_once(tasks_dir, tmp_path, monkeypatch):
    from benchmark.backends.mock import MockBackend
    from benchmark.prompts import render_prompt

    class CountingMock(MockBackend):
        max_batch_requests = 8
        requests: ClassVar[list] = []

        def generate_batch(self, requests):
            self.requests.extend(requests)
            return super().generate_batch(requests)

    def same_prompt_for_every_setting(self, group):  # as two retrievals that find the same documents would
        return render_prompt(group.task, Setting.zero_shot)

    monkeypatch.setattr(Runner, "_render", same_prompt_for_every_setting)
    mock = CountingMock.scripted(default="```python\nprint('no output')\n```")
    tasks = load_tasks(tasks_dir=tasks_dir)
    spec = make_spec(tasks, ["mock"], [0.0], [Setting.zero_shot, Setting.docprompt], 1, run_id="same")
    runner = Runner(spec, tasks, tmp_path / "runs" / "same", Cache(tmp_path / "cache"),
                    RuntimeConfig(workers=1, progress=False), backends={"mock": mock})
    records = runner.run()
    assert len(records) == 2 * 2  # tasks x settings, every sample recorded
    assert len(mock.requests) == 2  # one request per task: the docprompt group shares the zero-shot answer
    assert runner.stats["generated"] == 2 and runner.stats["cached_generations"] == 2
    by_task = {}
    for record in records:
        by_task.setdefault(record.key.task_id, set()).add(record.completion.text)
    assert all(len(texts) == 1 for texts in by_task.values())
