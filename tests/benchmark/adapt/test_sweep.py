"""Every functionality on a real-world-shaped script of every framework it applies to (the study's table rows),
with a scripted model answering a correct adaptation: `adapt` verifies it and writes the script, the diff and the
report; `task new` makes a task from the same input; the written script passes `adaptbench check` on that task.
Real trainings in the sandbox, three runs per case (baseline, candidate, check): slow."""

import pytest

from benchmark.tasks import load_task

from .conftest import answer, rules_for

# (folder, script, --to, answer, --fixtures, --env, written file)
CASES = [
    ("sklearn_iris_cli", "train_iris.py", "tracking:mlflow", "train_iris.tracking-mlflow.py", [], [],
     "train_iris.mlflow.py"),
    ("sklearn_housing_csv", "train_housing.py", "registration", "train_housing.registration-mlflow.py", ["data"], [],
     "train_housing.mlflow.py"),
    ("sklearn_iris_cli", "train_iris.py", "hpo:optuna", "train_iris.hpo-optuna.py", [], [], "train_iris.optuna.py"),
    ("lightning_yaml_config", "train.py", "tracking:mlflow", "lightning_train.tracking-mlflow.py", ["config.yaml"], [],
     "train.mlflow.py"),
    ("lightning_yaml_config", "train.py", "registration:mlflow", "lightning_train.registration-mlflow.py",
     ["config.yaml"], [], "train.mlflow.py"),
    ("lightning_yaml_config", "train.py", "hpo", "lightning_train.hpo-optuna.py", ["config.yaml"], [],
     "train.optuna.py"),
    ("keras_notebook", "sales_forecast_notebook.py", "tracking", "sales_forecast_notebook.tracking-mlflow.py", [], [],
     "sales_forecast_notebook.mlflow.py"),
    ("keras_notebook", "sales_forecast_notebook.py", "registration",
     "sales_forecast_notebook.registration-mlflow.py", [], [], "sales_forecast_notebook.mlflow.py"),
    ("keras_notebook", "sales_forecast_notebook.py", "hpo:optuna", "sales_forecast_notebook.hpo-optuna.py", [], [],
     "sales_forecast_notebook.optuna.py"),
    ("pytorch_two_files", "train.py", "tracking:wandb", "pytorch_train.tracking-wandb.py", [], ["EPOCHS=2"],
     "train.wandb.py"),
    ("pytorch_two_files", "train.py", "pruning:nncf", "pytorch_train.pruning-nncf.py", [], ["EPOCHS=2"],
     "train.nncf.py"),
    ("pytorch_two_files", "train.py", "pruning:torch-prune", "pytorch_train.pruning-torch-prune.py", [], ["EPOCHS=2"],
     "train.torch_prune.py"),
    ("gitpython_snapshots", "snapshot_measurements.py", "version-control:dvc",
     "snapshot_measurements.version-control-dvc.py", [], [], "snapshot_measurements.dvc.py"),
]


@pytest.mark.slow
@pytest.mark.parametrize("folder,script,to,reply,fixtures,env,written", CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_adapt_verifies_and_the_script_passes_check_on_the_task_new_task(cli, real_world, tmp_path, folder, script,
                                                                         to, reply, fixtures, env, written):
    project = real_world(folder)
    cache = tmp_path / "cache"
    rules = rules_for(tmp_path / "rules.json", answer(reply))
    fixture_args = ["--fixtures", *[project / f for f in fixtures]] if fixtures else []
    env_args = ["--env", *env] if env else []
    code, out, err = cli("adapt", project / script, "--to", to, "--model", "mock", "-M", f"rules_file={rules}",
                         "-n", "1", "--rounds", "1", "--cache-dir", cache, *fixture_args, *env_args)
    assert code == 0, out + err
    assert "VERIFIED" in out and (project / written).read_text() == answer(reply)
    stem = written.removesuffix(".py")
    assert (project / f"{stem}.diff").read_text().startswith(f"--- a/{script}\n")
    assert "**VERIFIED**" in (project / f"{stem}.report.md").read_text()

    tasks = tmp_path / "tasks"
    code, out, err = cli("task", "new", project / script, "--to", to, "--tasks-dir", tasks, "--cache-dir", cache,
                         *fixture_args)
    assert code == 0, out + err
    task_id = out.split()[1]
    task = load_task(tasks / task_id)
    code, out, err = cli("--tasks-dir", tasks, "check", task.id, project / written, "--workdir", tmp_path / "check")
    assert code == 0, out + err
    assert f"{task.id}: PASS" in out
