"""`adaptbench adapt` and `adaptbench task new` as a user meets them, on the shortest real-world-shaped sklearn
script with a scripted model: a failed first attempt repaired in round 2, the verified script, its diff and report
written beside the input, a rerun that does no work, the same input made into a task that the written script
passes with `adaptbench check`, and a task proved by `task new` + `validate`. A handful of sandbox runs in all:
the baseline is cached in a session-wide cache, as it is for a user."""

import json
import shutil

from benchmark.tasks import load_task

from .conftest import CRASHES, REPAIR, answer, rules_for

TRACKING = "train_iris.tracking-mlflow.py"


def _adapt(cli, folder, cache, rules, *extra):
    return cli("adapt", folder / "train_iris.py", "--to", "tracking:mlflow", "--model", "mock", "-M",
               f"rules_file={rules}", "--cache-dir", cache, *extra)


def test_adapt_repairs_verifies_writes_and_reruns_from_cache(cli, real_world, shared_cache, tmp_path):
    folder = real_world("sklearn_iris_cli")
    original = (folder / "train_iris.py").read_text()
    rules = rules_for(tmp_path / "rules.json", (REPAIR, answer(TRACKING)), CRASHES)

    code, out, err = _adapt(cli, folder, shared_cache, rules)
    assert code == 0, out + err
    assert "VERIFIED: train_iris.py -> tracking:mlflow (attempt 2 of sample 1, mock)" in out
    assert "sample 1/3, attempt 1 (mock): FAIL [import_error]" in err  # progress as it goes
    assert "sample 1/3, attempt 2 (mock): PASS [ok]" in err
    assert "train_iris.py: sklearn (detected from its imports: sklearn)" in err
    written = folder / "train_iris.mlflow.py"
    assert written.read_text() == answer(TRACKING)
    assert (folder / "train_iris.py").read_text() == original  # never overwritten
    diff = (folder / "train_iris.mlflow.diff").read_text()
    assert diff.startswith("--- a/train_iris.py\n+++ b/train_iris.mlflow.py\n") and "+import mlflow\n" in diff
    report = (folder / "train_iris.mlflow.report.md").read_text()
    assert "**VERIFIED**" in report
    assert "params C=1.0, max_iter=200, seed=7, test_size=0.25" in report  # read back from the run's store
    assert "final metrics: test_accuracy=" in report
    assert "| 1 | 1 | mock | fail [import_error]" in report and "| 1 | 2 | mock | pass [ok]" in report
    assert "fails with `mlflow.no_store`" in report  # the baseline, judged as the task's input

    code, out, err = _adapt(cli, folder, shared_cache, rules)  # the same command again: everything is reused
    assert code == 0
    assert "this invocation: 0 generated, 0 from cache, 0 executed, 0 executions from cache" in out
    assert "reusing the recorded run of the untouched train_iris.py" in err

    # the same input as a task (its baseline is reused: no run), and the written script graded on it
    tasks = tmp_path / "my-tasks"
    code, out, err = cli("task", "new", folder / "train_iris.py", "--to", "tracking:mlflow", "--tasks-dir", tasks,
                         "--cache-dir", shared_cache)
    assert code == 0, out + err
    assert "input fails with mlflow.no_store" in out and "warning: no --reference" in out
    task = load_task(tasks / "train-iris-tracking-mlflow")
    assert [c.name for c in task.checks] == ["mlflow_tracking", "behaviour"]
    code, out, _ = cli("--tasks-dir", tasks, "check", task.id, written, "--workdir", tmp_path / "check")
    assert code == 0 and "train-iris-tracking-mlflow: PASS" in out


def test_task_new_with_a_reference_then_validate_proves_the_task(cli, real_world, shared_cache, tmp_path):
    folder = real_world("sklearn_iris_cli")
    reference = tmp_path / "reference.py"
    reference.write_text(answer(TRACKING))
    tasks = tmp_path / "tasks"
    code, out, err = cli("task", "new", folder / "train_iris.py", "--to", "tracking:mlflow", "--reference", reference,
                         "--id", "iris-tracking", "--tasks-dir", tasks, "--cache-dir", shared_cache)
    assert code == 0, out + err
    assert "reference passes" in out and f"next: adaptbench --tasks-dir {tasks} validate iris-tracking" in out
    assert (tasks / "iris-tracking" / "reference.py").read_text() == answer(TRACKING)
    code, out, _ = cli("--tasks-dir", tasks, "validate", "iris-tracking", "--workers", "1")
    assert code == 0, out
    assert "ok   iris-tracking" in out and "input -> mlflow.no_store" in out and "1/1 tasks valid" in out

    # a broken spec is refused by every command, naming the file and the field
    broken = tmp_path / "broken-tasks"
    shutil.copytree(tasks / "iris-tracking", broken / "iris-tracking")
    spec = broken / "iris-tracking" / "task.toml"
    spec.write_text(spec.read_text().replace('framework = "sklearn"', 'framework = "scikit"'))
    code, _, err = cli("--tasks-dir", broken, "validate", "iris-tracking")
    assert code == 2 and "task.toml: field 'framework'" in err and "expected one of: pytorch" in err


def test_a_reference_that_does_not_pass_is_refused_and_nothing_is_written(cli, real_world, shared_cache, tmp_path):
    folder = real_world("sklearn_iris_cli")
    tasks = tmp_path / "tasks"
    not_python = tmp_path / "broken.py"
    not_python.write_text("def main(:\n")
    code, _, err = cli("task", "new", folder / "train_iris.py", "--to", "tracking:mlflow", "--reference", not_python,
                       "--tasks-dir", tasks, "--cache-dir", shared_cache)
    assert code == 2 and "the reference" in err and "is not valid Python" in err
    untracked = tmp_path / "untracked.py"
    untracked.write_text(CRASHES)
    code, _, err = cli("task", "new", folder / "train_iris.py", "--to", "tracking:mlflow", "--reference", untracked,
                       "--tasks-dir", tasks, "--cache-dir", shared_cache)
    assert code == 2 and "the reference does not pass the task's checks: [import_error]" in err
    assert "the task was not written" in err
    assert not (tasks / "train-iris-tracking-mlflow").exists() and not list(tasks.glob(".new-task-*"))


def test_not_verified_keeps_the_best_failing_attempt_and_says_why(cli, real_world, shared_cache, tmp_path):
    folder = real_world("sklearn_iris_cli")
    rules = rules_for(tmp_path / "rules.json", CRASHES)
    code, out, _ = _adapt(cli, folder, shared_cache, rules, "-n", "2", "--rounds", "1")
    assert code == 1
    assert "NOT VERIFIED: train_iris.py -> tracking:mlflow: not verified: [import_error]" in out
    assert "No module named 'mlflow_that_does_not_exist'" in out
    assert not (folder / "train_iris.mlflow.py").exists()
    assert (folder / "train_iris.mlflow.failed.py").read_text() == CRASHES
    report = (folder / "train_iris.mlflow.failed.report.md").read_text()
    assert "**NOT VERIFIED**" in report and "No module named" in report
    assert "--rounds" in report  # what to try next


def test_unreachable_model_is_a_clear_error_and_the_baseline_is_kept(cli, real_world, shared_cache):
    folder = real_world("sklearn_iris_cli")
    code, _, err = cli("adapt", folder / "train_iris.py", "--to", "tracking:mlflow", "--model", "openai/some-model",
                       "-M", "base_url=http://127.0.0.1:9/v1", "-M", "max_retries=0", "-n", "2",
                       "--cache-dir", shared_cache)
    assert code == 2
    assert "error: model 'openai/some-model' is not reachable" in err and "the baseline is kept" in err
    assert not list(folder.glob("train_iris.*.py"))


def test_a_script_that_already_has_the_capability_stops_with_nothing_written(cli, tmp_path, shared_cache):
    script = tmp_path / "tracked.py"
    script.write_text(answer(TRACKING))
    code, out, err = cli("adapt", script, "--to", "tracking:mlflow", "--model", "mock", "--cache-dir", shared_cache)
    assert code == 3, out + err
    assert "nothing to do: tracked.py already has tracking:mlflow: the checks pass on the untouched script" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tracked.py"]


def test_save_task_turns_the_verified_adaptation_into_a_task(cli, real_world, shared_cache, tmp_path):
    folder = real_world("sklearn_iris_cli")
    rules = rules_for(tmp_path / "rules.json", answer(TRACKING))
    tasks = tmp_path / "tasks"
    code, out, err = cli("--tasks-dir", tasks, "adapt", folder / "train_iris.py", "--to", "tracking:mlflow",
                         "--model", "mock", "-M", f"rules_file={rules}", "--cache-dir", shared_cache, "--save-task")
    assert code == 0, out + err
    assert f"saved task train-iris-tracking-mlflow in {tasks / 'train-iris-tracking-mlflow'}" in out
    task = load_task(tasks / "train-iris-tracking-mlflow")
    assert task.reference_code() == answer(TRACKING) and task.input_fails_with == "mlflow.no_store"
    assert json.loads(json.dumps([c.model_dump() for c in task.checks]))[0]["name"] == "mlflow_tracking"


def test_best_of_tries_every_sample_and_keeps_a_verified_one(cli, real_world, shared_cache, tmp_path):
    folder = real_world("sklearn_iris_cli")
    rules = rules_for(tmp_path / "rules.json", answer(TRACKING))
    code, out, err = _adapt(cli, folder, shared_cache, rules, "-n", "2", "--best-of")
    assert code == 0, out + err
    assert "sample 1/2, attempt 1 (mock): PASS" in err and "sample 2/2, attempt 1 (mock): PASS" in err
    assert (folder / "train_iris.mlflow.py").read_text() == answer(TRACKING)
