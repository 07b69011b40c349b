"""The two hooks `adapt` needs from the Runner, on the fast synthetic tasks: `run(samples=...)` does only those
sample indices (the rest later, from the same run log), and `on_attempt` sees every judged attempt in order."""

from benchmark.backends.mock import MockBackend
from benchmark.cache import Cache
from benchmark.matrix import make_spec
from benchmark.runner import Runner
from benchmark.tasks import load_tasks
from benchmark.types import LoopSpec, RuntimeConfig, Setting

GOOD = "```python\nopen('out.txt', 'w').write('ok')\n```"
BAD = "```python\nprint('no output file')\n```"


def _runner(tasks_dir, tmp_path, mock, seen, n=3, rounds=1):
    tasks = load_tasks(["synthetic-0"], tasks_dir=tasks_dir)
    spec = make_spec(tasks, ["mock"], [1.0], [Setting.zero_shot], n, run_id="hooks", loop=LoopSpec(rounds=rounds))
    return Runner(spec, tasks, tmp_path / "runs" / "hooks", Cache(tmp_path / "cache"),
                  RuntimeConfig(workers=1, progress=False), backends={"mock": mock},
                  on_attempt=lambda state, attempt: seen.append((state.key.sample_index, attempt.round,
                                                                 attempt.verdict.code)))


def test_run_limited_to_some_samples_leaves_the_others_for_later(tasks_dir, tmp_path):
    seen = []
    mock = MockBackend.scripted([BAD, GOOD, GOOD])
    runner = _runner(tasks_dir, tmp_path, mock, seen)
    records = runner.run(samples=[0])
    assert [r.key.sample_index for r in records] == [0] and len(mock.calls) == 1 and mock.calls[0].n == 1
    assert seen == [(0, 1, "behaviour.missing_output")]
    records = runner.run(samples=[1, 7])  # an index beyond n is ignored
    assert sorted(r.key.sample_index for r in records) == [0, 1] and seen[-1] == (1, 1, "ok")
    records = runner.run()  # the rest
    assert sorted(r.key.sample_index for r in records) == [0, 1, 2] and len(mock.calls) == 3
    runner.run(samples=[0, 1, 2])
    assert len(mock.calls) == 3 and len(seen) == 3  # all recorded: nothing is asked or judged again


def test_on_attempt_sees_every_round_of_a_repaired_sample(tasks_dir, tmp_path):
    seen = []
    mock = MockBackend.scripted([BAD, GOOD])
    records = _runner(tasks_dir, tmp_path, mock, seen, n=1, rounds=2).run()
    assert seen == [(0, 1, "behaviour.missing_output"), (0, 2, "ok")]
    assert records[0].verdict.passed and len(records[0].attempts) == 2


def test_a_tasks_env_reaches_the_script_but_never_replaces_the_sandboxs(tasks_dir, tmp_path):
    from benchmark.adapt import ScriptTask
    from sandbox.grading import script_env

    task = load_tasks(["synthetic-0"], tasks_dir=tasks_dir)[0]
    plain = script_env(task, tmp_path)
    scripted = ScriptTask(**task.model_dump(), env={"EPOCHS": "1", "HOME": "/root", "MLFLOW_TRACKING_URI": "x"})
    env = script_env(scripted, tmp_path)
    assert env["EPOCHS"] == "1" and "EPOCHS" not in plain
    assert env["HOME"] == plain["HOME"] and env["MLFLOW_TRACKING_URI"] == plain["MLFLOW_TRACKING_URI"]
