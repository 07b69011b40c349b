"""Translation between trackers (W&B <-> MLflow): what the source logged must arrive in the target.

Each translation task lists what its source logs (`expect_runs`); the first test proves each list against the
source's own logs, read from a real run of the untouched input. Then mutants of the references that lose a
parameter, a metric's steps, a final value, a table, an artifact, a tag or the run layout fail with their own code
and a reason that names what is missing, while differently written correct translations pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.tasks import load_task
from benchmark.types import Task
from sandbox.checkers._translation import (
    ExpectedRun,
    LoggedRun,
    judge_translation,
    same_param,
)
from sandbox.checkers.mlflow_checks import collect_runs, find_stores, open_client
from sandbox.checkers.wandb_checks import find_run_dirs, read_run
from sandbox.grading import Graded, grade

from .grading_helpers import describe, mutate

TASKS = Path(__file__).resolve().parents[3] / "tasks"
GBR, GRID, MLP = "mlflow-from-wandb-gradient-boosting", "mlflow-from-wandb-grid-runs", "mlflow-from-wandb-torch-mlp"
KMEANS, PARTIAL, REGRESSION = ("wandb-from-mlflow-kmeans-sweep", "wandb-from-mlflow-mlp-partial-fit",
                               "wandb-from-mlflow-torch-regression")


def task(task_id: str) -> Task:
    return load_task(TASKS / task_id)


def run(task_id: str, code: str, root: Path) -> Graded:
    return grade(task(task_id), code, root / "work")


def expected_runs(t: Task) -> list[ExpectedRun]:
    args = next(c.args for c in t.checks if c.name in ("mlflow_tracking", "wandb_tracking"))
    return [ExpectedRun.model_validate(r) for r in args["expect_runs"]]


# ---------------------------------------------------------------- the lists are what the sources log


def source_runs(workdir: Path) -> list[LoggedRun]:
    """The source tracker's runs, laid out as the instruction asks the target to lay them out: a W&B group
    becomes a parent run of that name; an MLflow parent and its nested runs share a group named after it."""
    runs = [read_run(d, workdir).logged() for d in find_run_dirs(workdir)]
    for group in {r.group for r in runs if r.group}:
        runs.append(LoggedRun(run_id=f"group {group}", name=group))
    for r in runs:
        r.parent = r.group if r.group and r.group != r.name else None
    for store in find_stores(workdir):
        with open_client(store) as client:
            mlflow_runs = collect_runs(client, None, workdir, full=True).logged
        parents = {r.parent for r in mlflow_runs if r.parent}
        for r in mlflow_runs:
            r.group = r.parent or (r.name if r.name in parents else None)
        runs += mlflow_runs
    return runs


@pytest.mark.parametrize("task_id", [GBR, pytest.param(GRID, marks=pytest.mark.slow),
                                     pytest.param(MLP, marks=pytest.mark.slow), pytest.param(KMEANS, marks=pytest.mark.slow),
                                     pytest.param(PARTIAL, marks=pytest.mark.slow),
                                     pytest.param(REGRESSION, marks=pytest.mark.slow)])
def test_the_expected_runs_are_what_the_untouched_source_logs(task_id, tmp_path):
    t = task(task_id)
    graded = run(task_id, t.input_code(), tmp_path)
    assert graded.execution.exit_code == 0, describe(graded)
    assert graded.verdict.code == t.input_fails_with  # the source logs to the other tracker only
    assert judge_translation(expected_runs(t), source_runs(graded.execution.workdir)) == []


# ---------------------------------------------------------------- W&B -> MLflow

GBR_MUTANTS = {
    # name: (edits of the reference, code, evidence the reason must name)
    "metrics_lose_their_steps": ([("test_errors[-1]},\n                               step=stage)",
                                   "test_errors[-1]})")], "translation.steps_changed", "[5, 10, 15"),
    "table_dropped": ([(('    mlflow.log_table({"feature": [f for f, _ in importances], "importance": '
                        '[float(i) for _, i in importances]},\n                     artifact_file="feature_importance.json")\n'),
                        "")], "translation.missing_tables", "feature_importance"),
    "param_dropped": ([("    mlflow.log_params(CONFIG)\n",
                        "    mlflow.log_params({k: v for k, v in CONFIG.items() if k != 'subsample'})\n")],
                      "translation.missing_params", "subsample"),
    "param_changed": ([("    mlflow.log_params(CONFIG)\n", "    mlflow.log_params({**CONFIG, 'max_depth': 4})\n")],
                      "translation.missing_params", "max_depth='4' (source: 3)"),
    "final_value_dropped": ([(('    mlflow.log_metrics({"best_stage": best_stage, "best_test_mse": '
                              'test_errors[best_stage - 1]})\n'), "")], "translation.missing_summary", "best_stage"),
    "model_artifact_dropped": ([('    mlflow.log_artifact("gbr_model.pkl", artifact_path="model")\n', "")],
                               "translation.missing_artifacts", "gbr_model.pkl"),
}
GBR_VARIANTS = {
    # the table as a JSON document of rows, the model through the sklearn flavour
    "log_dict_and_log_model": [
        (('    mlflow.log_table({"feature": [f for f, _ in importances], "importance": '
         '[float(i) for _, i in importances]},\n                     artifact_file="feature_importance.json")\n'),
         '    mlflow.log_dict({"rows": [[f, float(i)] for f, i in importances]}, "tables/feature_importance.json")\n'),
        ('    mlflow.log_artifact("gbr_model.pkl", artifact_path="model")\n',
         ('    mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle",\n'
         '                             pip_requirements=["scikit-learn"])\n'))],
    # a CSV file for the table, metrics logged one by one
    "csv_table_metrics_one_by_one": [
        (('    mlflow.log_table({"feature": [f for f, _ in importances], "importance": '
         '[float(i) for _, i in importances]},\n                     artifact_file="feature_importance.json")\n'),
         ('    mlflow.log_text("feature,importance\\n" + "".join(f"{f},{i}\\n" for f, i in importances), '
         '"feature_importance.csv")\n')),
        (('            mlflow.log_metrics({"train_mse": mean_squared_error(y_train, train_pred), "test_mse": '
         'test_errors[-1]},\n                               step=stage)'),
         ('            mlflow.log_metric("train_mse", mean_squared_error(y_train, train_pred), step=stage)\n'
         '            mlflow.log_metric("test_mse", test_errors[-1], step=stage)'))],
}


FAST_GBR = {"metrics_lose_their_steps", "table_dropped", "param_changed"}  # the rest run with the slow tests


@pytest.mark.parametrize("name", [n if n in FAST_GBR else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(GBR_MUTANTS)])
def test_a_lossy_mlflow_translation_fails_with_its_code(name, tmp_path):
    edits, code, evidence = GBR_MUTANTS[name]
    graded = run(GBR, mutate(task(GBR).reference_code(), *edits), tmp_path)
    assert graded.verdict.code == code, describe(graded)
    assert evidence in graded.verdict.reason, graded.verdict.reason


@pytest.mark.parametrize("name", ["log_dict_and_log_model",
                                  pytest.param("csv_table_metrics_one_by_one", marks=pytest.mark.slow)])
def test_other_faithful_mlflow_translations_pass(name, tmp_path):
    graded = run(GBR, mutate(task(GBR).reference_code(), *GBR_VARIANTS[name]), tmp_path)
    assert graded.verdict.passed, describe(graded)


@pytest.mark.slow
def test_grid_runs_must_be_nested_under_the_group_run(tmp_path):
    """The group run exists but ends before the grid's runs start: they become top-level runs."""
    group = "    with mlflow.start_run(run_name=\"c-grid\", tags={\"group\": \"c-grid\"}):\n        results = "
    code = mutate(task(GRID).reference_code(), (group, group.replace("        results = ", "        pass\n    results = ")))
    graded = run(GRID, code, tmp_path)
    assert graded.verdict.code in ("translation.run_layout", "mlflow.run_not_finished"), describe(graded)


# ---------------------------------------------------------------- MLflow -> W&B

REGRESSION_MUTANTS = {
    "tags_dropped": ([('name="mlp-baseline", tags=["mlp"], config=PARAMS', 'name="mlp-baseline", config=PARAMS')],
                     "translation.missing_tags", "model_type=mlp"),
    "steps_renumbered": ([('run.log({"train_mse": loss.item(), "val_mse": val_loss}, step=epoch)',
                           'run.log({"train_mse": loss.item(), "val_mse": val_loss}, step=epoch - 1)')],
                         "translation.steps_changed", "[0, 1, 2, 3, 4]"),
    "run_renamed": ([('name="mlp-baseline"', 'name="baseline"')], "translation.run_layout", "'baseline'"),
}
REGRESSION_VARIANTS = {
    # the model file saved with the run instead of an artifact; key:value tags; an epoch axis instead of step=
    "save_file_and_epoch_axis": [
        ('tags=["mlp"]', 'tags=["model_type:mlp"]'),
        ('run.log({"train_mse": loss.item(), "val_mse": val_loss}, step=epoch)',
         'run.log({"train_mse": loss.item(), "val_mse": val_loss, "epoch": epoch})'),
        (('        artifact = wandb.Artifact("diabetes-regressor", type="model")\n'
         '        artifact.add_file("regressor.pt")\n        run.log_artifact(artifact)\n'),
         '        wandb.save("regressor.pt", policy="now")\n')],
    # the tag as config, the final value logged as a last history row
    "tag_in_config_and_logged_final_value": [
        ('tags=["mlp"], config=PARAMS', 'config={**PARAMS, "model_type": "mlp"}'),
        ('        run.summary["test_rmse"] = test_rmse\n', '        run.log({"test_rmse": test_rmse})\n')],
}


@pytest.mark.parametrize("name", ["tags_dropped", pytest.param("steps_renumbered", marks=pytest.mark.slow),
                                  pytest.param("run_renamed", marks=pytest.mark.slow)])
def test_a_lossy_wandb_translation_fails_with_its_code(name, tmp_path):
    edits, code, evidence = REGRESSION_MUTANTS[name]
    graded = run(REGRESSION, mutate(task(REGRESSION).reference_code(), *edits), tmp_path)
    assert graded.verdict.code == code, describe(graded)
    assert evidence in graded.verdict.reason, graded.verdict.reason


@pytest.mark.parametrize("name", ["save_file_and_epoch_axis",
                                  pytest.param("tag_in_config_and_logged_final_value", marks=pytest.mark.slow)])
def test_other_faithful_wandb_translations_pass(name, tmp_path):
    graded = run(REGRESSION, mutate(task(REGRESSION).reference_code(), *REGRESSION_VARIANTS[name]), tmp_path)
    assert graded.verdict.passed, describe(graded)


@pytest.mark.slow
def test_sweep_runs_outside_the_group_fail(tmp_path):
    code = mutate(task(KMEANS).reference_code(), ('name=f"k={k}", group="k-sweep"', 'name=f"k={k}"'))
    graded = run(KMEANS, code, tmp_path)
    assert graded.verdict.code == "translation.run_layout", describe(graded)
    assert "group None instead of 'k-sweep'" in graded.verdict.reason


# ---------------------------------------------------------------- pairing and values (no sandbox)


def test_each_expected_run_takes_its_own_closest_run():
    expected = [ExpectedRun(params={"C": 0.1}, metrics={"acc": [0, 1]}), ExpectedRun(params={"C": 1.0})]
    one = LoggedRun(run_id="a", params={"C": "1.0"})
    other = LoggedRun(run_id="b", params={"C": "0.1"}, steps={"acc": [0.0, 1.0]})
    assert judge_translation(expected, [one, other]) == []
    gaps = judge_translation(expected, [other])
    assert [g.code for g in gaps] == ["translation.missing_runs"]


@pytest.mark.parametrize("a, b, same", [
    ("0.001", 0.001, True), ("(64,)", [64], True), ("1.0", 1, True), ("True", True, True),
    ("3", 4, False), ("adam", "adam", True), ("[64, 32]", [64], False), ("1", True, False),
])
def test_parameters_compare_across_trackers(a, b, same):
    assert same_param(a, b) is same
