"""Every failure code of every checker, with a reason that works as repair feedback: it names what was found and
what was expected (or how to get there), in a sentence or two, without the harness's own paths.

Each case builds the smallest real situation that makes the code fire (a work dir with a git repository and DVC
files, a saved state_dict, probe records, an MLflow store...) and runs the checker on it directly; no candidate
script runs. The end-to-end tests of each checker cover the same codes on real scripts."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import torch

from benchmark.types import CheckResult, ExecutionResult, Task
from sandbox.checkers import CHECKERS, CheckContext
from sandbox.checkers._translation import ExpectedRun, LoggedRun, judge_translation
from sandbox.checkers.mlflow_checks import RunFacts, StoreRuns
from sandbox.checkers.wandb_checks import RunInfo
from sandbox.environment import build_env, make_dirs

MAX_REASON = 420  # characters: one or two sentences


def check(name: str, args: dict, workdir: Path, events: list | None = None, answer: dict | None = None) -> CheckResult:
    cls = CHECKERS.get(name)
    execution = ExecutionResult(exit_code=0, duration_s=1.0, isolation="plain", workdir=workdir)
    ctx = CheckContext(task=Task.model_construct(id="t"), workdir=workdir, execution=execution, events=events or [],
                       run_probe=lambda source: answer or {})
    return cls(cls.Args.model_validate(args)).check(ctx)


def assert_feedback(result: CheckResult, code: str, *evidence: str, workdir: Path | None = None) -> None:
    assert result.code == code, (result.code, result.reason)
    for part in evidence:
        assert part in result.reason, f"{part!r} not in: {result.reason}"
    assert len(result.reason) <= MAX_REASON, result.reason
    if workdir is not None:
        assert str(workdir) not in result.reason, result.reason


# ---------------------------------------------------------------- MLflow tracking


def facts(**kw) -> RunFacts:
    base = {"run_id": "0123456789abcdef", "experiment": "e", "status": "FINISHED", "n_params": 2,
            "metric_keys": ("loss",), "longest_history": 3, "longest_key": "loss", "name": "bold-owl",
            "param_keys": ("lr", "seed")}
    return RunFacts(**{**base, **kw})


def tracking(**args):
    cls = CHECKERS.get("mlflow_tracking")
    return cls(cls.Args.model_validate(args))


def test_runs_in_the_default_experiment_are_named_with_the_fix():
    found = StoreRuns(elsewhere={"Default": 2}, experiments=["Default"])
    result = tracking(experiment_name="sgd-early-stopping").judge_runs([], found)
    assert_feedback(result, "mlflow.no_run", "2 in 'Default'", "mlflow.set_experiment('sgd-early-stopping')")
    assert "start one" not in result.reason


def test_a_store_without_runs_says_which_experiments_it_holds():
    result = tracking().judge_runs([], StoreRuns(experiments=["Default", "mine"]))
    assert_feedback(result, "mlflow.no_run", "'Default', 'mine'", "mlflow.start_run()")


@pytest.mark.parametrize("run, args, code, evidence", [
    (facts(status="RUNNING"), {}, "mlflow.run_not_finished", ("'bold-owl'", "RUNNING", "mlflow.end_run()")),
    (facts(n_params=1, param_keys=("lr",)), {"min_params": 2}, "mlflow.no_params", ("1 parameter(s) (lr)",
                                                                                      "at least 2", "log_params")),
    (facts(metric_keys=()), {}, "mlflow.no_metrics", ("0 metric(s)", "log_metric")),
    (facts(longest_history=1), {"min_metric_steps": 3}, "mlflow.no_metric_history", ("1 value(s) (loss)",
                                                                                      "at least 3", "step=")),
])
def test_each_tracking_requirement_names_the_run_and_the_fix(run, args, code, evidence):
    assert_feedback(tracking(**args).judge_runs([run]), code, *evidence)


def test_no_store_points_to_a_store_in_a_subfolder(tmp_path):
    import sqlite3

    (tmp_path / "logs").mkdir()
    with sqlite3.connect(tmp_path / "logs" / "mlflow.db") as db:
        for table in ("experiments", "runs", "alembic_version"):
            db.execute(f"CREATE TABLE {table} (x)")
    result = check("mlflow_tracking", {}, tmp_path)
    assert_feedback(result, "mlflow.no_store", "./logs/mlflow.db", "MLFLOW_TRACKING_URI", workdir=tmp_path)


# ---------------------------------------------------------------- translation


@pytest.mark.parametrize("want, run, code, evidence", [
    (ExpectedRun(params={"lr": 0.01}), LoggedRun("r", params={"lr": "0.1"}), "translation.missing_params",
     ("lr='0.1' (source: 0.01)",)),
    (ExpectedRun(metrics={"loss": [1, 2]}), LoggedRun("r", steps={"acc": [1, 2]}), "translation.missing_metrics",
     ("loss", "logged: acc")),
    (ExpectedRun(metrics={"loss": [1, 2]}), LoggedRun("r", steps={"loss": [0, 1]}), "translation.steps_changed",
     ("[0, 1]", "[1, 2]")),
    (ExpectedRun(summary=["best"]), LoggedRun("r"), "translation.missing_summary", ("best",)),
    (ExpectedRun(artifacts=["m.pkl"]), LoggedRun("r", files={"notes.txt"}), "translation.missing_artifacts",
     ("m.pkl", "notes.txt")),
    (ExpectedRun(tables=["importance"]), LoggedRun("r"), "translation.missing_tables", ("importance",)),
    (ExpectedRun(tags={"team": "a"}), LoggedRun("r", tags={"team": "b"}), "translation.missing_tags",
     ("team=a", "tags: team")),
    (ExpectedRun(name="sweep"), LoggedRun("r", name="other"), "translation.run_layout", ("'other' instead of 'sweep'",)),
])
def test_each_translation_gap_names_what_the_source_logged(want, run, code, evidence):
    (gap,) = judge_translation([want], [run])
    assert gap.code == code and all(e in gap.text for e in evidence), gap.text


def test_a_missing_run_is_named():
    gaps = judge_translation([ExpectedRun(name="a"), ExpectedRun(name="b")], [LoggedRun("r", name="a")])
    assert [g.code for g in gaps] == ["translation.missing_runs"] and "run 'b'" in gaps[0].text


# ---------------------------------------------------------------- MLflow registration


def registration(**args):
    cls = CHECKERS.get("mlflow_registration")
    return cls(cls.Args.model_validate(args))


@pytest.mark.parametrize("names, logged, args, evidence", [
    (["TreeRegressor"], 1, {"name": "tree-regressor"}, ("registered instead: TreeRegressor", "'tree-regressor'")),
    ([], 2, {"name": "tree-regressor"}, ("2 model(s) were logged", "registered_model_name='tree-regressor'")),
    ([], 0, {}, ("no model was logged", "log_model")),
    (["m"], 0, {}, ("m have no READY version", "register_model")),
])
def test_no_registered_model_says_what_is_there(names, logged, args, evidence):
    assert_feedback(registration(**args).no_model(names, logged), "mlflow.no_registered_model", *evidence)


@pytest.mark.parametrize("stage, error, code, evidence", [
    ("load", "ModuleNotFoundError(\"No module named 'mymodels'\")", "mlflow.model_not_loadable",
     ("load failed", "mymodels", "log_model")),
    ("input", "the model has no input example or signature", "mlflow.no_input", ("input_example",)),
    ("predict", "ValueError('expected 4 features, got 3')", "mlflow.predict_failed", ("4 features",)),
])
def test_a_model_that_does_not_load_or_predict_quotes_the_error(stage, error, code, evidence, tmp_path):
    report = {"ok": False, "attempts": [{"stage": stage, "error": f"{error} in {tmp_path}/mlruns/x",
                                         "name": "m", "version": "1"}]}
    result = registration().judge_probe(report, tmp_path)
    assert_feedback(result, code, "model 'm' version 1", *evidence, workdir=tmp_path)
    assert "./mlruns/x" in result.reason


# ---------------------------------------------------------------- W&B tracking


@pytest.fixture
def wandb_runs(monkeypatch, tmp_path):
    """Runs as the readers would return them, without a W&B log on disk."""
    from sandbox.checkers import wandb_checks

    runs: list[RunInfo] = []
    monkeypatch.setattr(wandb_checks, "find_run_dirs", lambda workdir: [r.path for r in runs])
    monkeypatch.setattr(wandb_checks, "read_run", lambda d, workdir: next(r for r in runs if r.path == d))
    return runs


@pytest.mark.parametrize("run, args, code, evidence", [
    (RunInfo(Path("offline-run-1"), history_rows=1, metrics={"loss"}, name="r"), {}, "wandb.no_history",
     ("'r' logged 1 history row(s) (loss)", "at least 2", "wandb.log")),
    (RunInfo(Path("offline-run-1"), history_rows=3, config={}, name="r"), {"min_config_keys": 1}, "wandb.no_config",
     ("0 key(s)", "wandb.init(config=")),
    (RunInfo(Path("offline-run-1"), history_rows=3, config={"lr": 1}, exit_code=None, name="r"), {},
     "wandb.run_failed", ("never finished", "run.finish()")),
    (RunInfo(Path("offline-run-1"), history_rows=3, config={"lr": 1}, exit_code=1, name="r"), {},
     "wandb.run_failed", ("exit code 1",)),
])
def test_each_wandb_requirement_names_the_run(wandb_runs, tmp_path, run, args, code, evidence):
    wandb_runs.append(run)
    assert_feedback(check("wandb_tracking", args, tmp_path), code, *evidence)


def test_no_wandb_run_says_where_it_looked(wandb_runs, tmp_path):
    assert_feedback(check("wandb_tracking", {}, tmp_path), "wandb.no_run", "offline-run-*", "wandb.init(")


# ---------------------------------------------------------------- Optuna


def study_end(n_complete, with_params=None, t=10.0, best=None):
    return {"kind": "optuna_optimize_end", "study": "tune", "n_trials": n_complete + 1, "n_complete": n_complete,
            "n_complete_with_params": n_complete if with_params is None else with_params, "t": t, "pid": 1,
            "best_params": [best] if best else [], "best_number": 1 if best else None}


def trial_fit(number, depth):
    return {"kind": "fit", "in_study": True, "trial": ["tune", number], "target": "Tree", "start": 5.0, "t": 6.0,
            "config": {"Tree.max_depth": [depth]}}


TRIALS = [{"kind": "optuna_trial", "study": "tune", "number": n, "params": {"max_depth": d}}
          for n, d in ((0, 2), (1, 6))]


@pytest.mark.parametrize("events, code, evidence", [
    ([{"kind": "fit", "in_study": False, "start": 1.0}], "optuna.no_study",
     ("trained 1 model(s), none of them inside a study", "optuna.create_study()")),
    ([study_end(1)], "optuna.too_few_trials", ("'tune' completed 1 of 2", "at least 2", "n_trials=3")),
    ([study_end(3, with_params=0)], "optuna.no_params", ("3 of them suggested no hyperparameter", "trial.suggest_int")),
    ([{"kind": "fit", "in_study": False, "start": 1.0, "t": 1.5}, study_end(3)], "optuna.no_final_training",
     ("1 training call(s) ran before the study ended", "study.best_params")),
    ([*TRIALS, trial_fit(0, 2), trial_fit(1, 6), study_end(2, best={"max_depth": 6}),
      {"kind": "fit", "in_study": False, "target": "Tree", "start": 11.0, "t": 12.0, "config": {"Tree.max_depth": [3]}}],
     "optuna.not_best_params", ("max_depth=3 (Tree.max_depth)", "trial 1", "max_depth=6", "study.best_params")),
])
def test_each_optuna_requirement_says_what_the_study_did(events, code, evidence, tmp_path):
    assert_feedback(check("optuna_hpo", {}, tmp_path, events), code, *evidence)


# ---------------------------------------------------------------- pruning


def save(workdir: Path, state: dict) -> None:
    torch.save(state, workdir / "model.pt")


def masked_step(step, **kw):
    return {"kind": "pruning_step", "step": step, "opt_params": 2, "torch_masked": 0, "torch_sparsity": 0.0,
            "nncf_masked": 0, "nncf_sparsity": 0.0, "zero_fraction": 0.0, **kw}


HALF = torch.cat([torch.zeros(2, 4), torch.ones(2, 4)])


@pytest.mark.parametrize("state, events, args, code, evidence", [
    (None, [], {}, "pruning.no_model_file", ("model.pt", "torch.save(model.state_dict(), 'model.pt')")),
    ({"fc.weight": torch.ones(4, 4)}, [masked_step(1)], {}, "pruning.none",
     ("no torch.nn.utils.prune mask", "0.0% zero weights", "prune.l1_unstructured")),
    ({"fc.weight": HALF}, [{"kind": "pruning_nncf_storage", "step": 0}, masked_step(1)], {}, "pruning.wrong_method",
     ("pruned with NNCF", "asks for torch.nn.utils.prune")),
    ({"fc.weight": HALF}, [{"kind": "pruning_torch_mask", "step": 0}], {}, "pruning.not_during_training",
     ("no torch optimizer step", "optimizer.step()")),
    ({"fc.weight": HALF}, [masked_step(1), masked_step(2), {"kind": "pruning_torch_mask", "step": 2}], {},
     "pruning.not_during_training", ("attached after optimizer step 2 of 2", "before the training loop")),
    ({"fc.weight": HALF, "rnn.weight_ih_l0": torch.ones(4, 4)},
     [{"kind": "pruning_nncf_storage", "step": 0}, masked_step(1, nncf_masked=1, nncf_sparsity=0.5)],
     {"method": "nncf", "min_sparsity": 0.6}, "pruning.low_sparsity",
     ("50.0% sparse over the 16 weights NNCF can prune", "not counted: rnn.weight_ih_l0", "at least 60%")),
    ({"fc.weight": torch.zeros(4, 4)}, [{"kind": "pruning_torch_mask", "step": 0},
                                        masked_step(1, torch_masked=1, torch_sparsity=1.0)], {}, "pruning.too_sparse",
     ("100.0% sparse", "at most 99%", "lower the pruning ratio")),
])
def test_each_pruning_requirement_says_what_was_measured(tmp_path, state, events, args, code, evidence):
    if state is not None:
        save(tmp_path, state)
    result = check("pruning", {"method": "torch_prune", **args}, tmp_path, events)
    assert_feedback(result, code, *evidence, workdir=tmp_path)


# ---------------------------------------------------------------- DVC, on a hand-made repository


def git(workdir: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=workdir, env=build_env(workdir), check=True, capture_output=True)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def dvc_project(workdir: Path, data: bytes = b"a,b\n1,2\n", push: bool = True) -> str:
    """A DVC-tracked data file, committed and (optionally) pushed to ./dvc-storage, written by hand."""
    make_dirs(workdir)
    (workdir / ".dvc").mkdir()
    (workdir / ".dvc" / "config").write_text("[core]\n    remote = storage\n['remote \"storage\"']\n    url = ../dvc-storage\n")
    (workdir / "data").mkdir()
    (workdir / "data" / "x.csv").write_bytes(data)
    digest = md5(data)
    (workdir / "data" / "x.csv.dvc").write_text(f"outs:\n- md5: {digest}\n  size: {len(data)}\n  hash: md5\n"
                                                "  path: x.csv\n")
    (workdir / "data" / ".gitignore").write_text("/x.csv\n")
    if push:
        store(workdir, data)
    git(workdir, "init", "-q", "-b", "main")
    git(workdir, "commit", "-q", "--allow-empty", "-m", "initial state")  # as the tasks' git_init leaves it
    git(workdir, "add", ".dvc/config", "data/x.csv.dvc", "data/.gitignore")
    git(workdir, "commit", "-q", "-m", "v1")
    return digest


def store(workdir: Path, data: bytes) -> None:
    digest = md5(data)
    obj = workdir / "dvc-storage" / "files" / "md5" / digest[:2] / digest[2:]
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)


def second_version(workdir: Path, push: bool) -> None:
    data = b"a,b\n1,2\n3,4\n"
    (workdir / "data" / "x.csv").write_bytes(data)
    (workdir / "data" / "x.csv.dvc").write_text(f"outs:\n- md5: {md5(data)}\n  size: {len(data)}\n  hash: md5\n"
                                                "  path: x.csv\n")
    if push:
        store(workdir, data)
    git(workdir, "commit", "-q", "-am", "v2")


DVC_ARGS = {"paths": ["data/x.csv"], "remote": "storage", "remote_path": "dvc-storage", "cloud_status": False}


def _v1_only_local(w: Path) -> None:
    for obj in (w / "dvc-storage").rglob("*"):
        if obj.is_file():
            obj.unlink()
    store(w, b"a,b\n1,2\n3,4\n")  # the second version reached the remote, the first did not


DVC_CASES = {
    # name: (change after the project is built, extra args, code, evidence)
    "not_initialised": (lambda w: __import__("shutil").rmtree(w / ".dvc"), {}, "dvc.not_initialised", ("dvc init",)),
    "not_tracked": (lambda w: (w / "data" / "x.csv.dvc").unlink(), {}, "dvc.not_tracked", ("data/x.csv", "dvc add")),
    "not_committed": (lambda w: (git(w, "rm", "-q", "--cached", "data/x.csv.dvc"), git(w, "commit", "-qm", "x")),
                      {}, "dvc.not_committed", ("data/x.csv.dvc", "git add")),
    "data_in_git": (lambda w: (git(w, "add", "-f", "data/x.csv"), git(w, "commit", "-qm", "x")), {}, "dvc.data_in_git",
                    ("data/x.csv", "git rm --cached")),
    "no_remote": (lambda w: (w / ".dvc" / "config").write_text("[core]\n"), {}, "dvc.no_remote",
                  ("no DVC remote is configured", "dvc remote add -d storage")),
    "not_pushed": (lambda w: __import__("shutil").rmtree(w / "dvc-storage"), {}, "dvc.not_pushed",
                   ("'storage' (./dvc-storage)", "data/x.csv", "dvc push")),
    "stale": (lambda w: (w / "data" / "x.csv").write_bytes(b"changed\n"), {}, "dvc.stale", ("data/x.csv", "dvc add")),
    "no_tag": (lambda w: git(w, "tag", "v0"), {"tag": "v1.0"}, "dvc.no_tag", ("'v1.0'", "tags: v0")),
    "version_not_pushed": (lambda w: (second_version(w, push=True), _v1_only_local(w)), {"history": True},
                           "dvc.version_not_pushed", ("data/x.csv at commit", "dvc push")),
    "no_such_revision": (lambda w: git(w, "tag", "old", "HEAD"), {"versions": ["old", "missing"]}, "dvc.no_tag",
                         ("'missing'", "tags: old")),
    "version_not_tracked": (lambda w: git(w, "tag", "empty", "HEAD~1"), {"versions": ["empty"]},
                            "dvc.version_not_tracked", ("'empty' holds no DVC file for data/x.csv",)),
    "lfs_left": (lambda w: ((w / ".gitattributes").write_text("*.csv filter=lfs diff=lfs merge=lfs -text\n"),
                            git(w, "add", ".gitattributes"), git(w, "commit", "-qm", "lfs")), {}, "dvc.lfs_left",
                 (".gitattributes: *.csv filter=lfs", "delete those")),
}


@pytest.mark.parametrize("name", sorted(DVC_CASES))
def test_each_dvc_requirement_names_the_file_and_the_fix(name, tmp_path):
    change, args, code, evidence = DVC_CASES[name]
    workdir = tmp_path / "w"
    workdir.mkdir()
    dvc_project(workdir)
    change(workdir)
    result = check("dvc_tracking", {**DVC_ARGS, **args}, workdir)
    assert_feedback(result, code, *evidence, workdir=workdir)


def test_the_hand_made_project_itself_passes(tmp_path):
    dvc_project(tmp_path)
    second_version(tmp_path, push=True)
    git(tmp_path, "tag", "v2")
    assert check("dvc_tracking", {**DVC_ARGS, "history": True, "tag": "v2"}, tmp_path).passed


PIPELINE_YAML = "stages:\n  prepare:\n    cmd: python p.py\n    deps:\n    - p.py\n    params:\n    - seed\n"


@pytest.mark.parametrize("files, code, evidence", [
    ({}, "dvc.no_pipeline", ("dvc.yaml does not exist", "prepare")),
    ({"dvc.yaml": "stages: {}\n"}, "dvc.no_pipeline", ("declares no stage", "prepare")),
    ({"dvc.yaml": PIPELINE_YAML}, "dvc.pipeline_not_run", ("prepare", "dvc repro")),
    ({"dvc.yaml": PIPELINE_YAML, "dvc.lock": "schema: '2.0'\nstages:\n  prepare:\n    cmd: python other.py\n"},
     "dvc.pipeline_stale", ("'python p.py'", "dvc repro")),
    ({"dvc.yaml": PIPELINE_YAML, "params.yaml": "seed: 2\n", "p.py": "print()\n",
      "dvc.lock": "schema: '2.0'\nstages:\n  prepare:\n    cmd: python p.py\n    params:\n      params.yaml:\n"
                  "        seed: 1\n"}, "dvc.pipeline_stale", ("seed in params.yaml changed (1 when it ran, now 2)",)),
    ({"dvc.yaml": PIPELINE_YAML, "params.yaml": "seed: 1\n", "p.py": "print()\n",
      "dvc.lock": "schema: '2.0'\nstages:\n  prepare:\n    cmd: python p.py\n    deps:\n    - path: p.py\n"
                  "    params:\n      params.yaml:\n        seed: 1\n"},
     "dvc.not_pipeline_output", ("data/x.csv (data/x.csv.dvc)", "outs of the stage")),
])
def test_each_pipeline_requirement_says_what_dvc_recorded(files, code, evidence, tmp_path):
    dvc_project(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = check("dvc_tracking", {**DVC_ARGS, "stages": ["prepare"]}, tmp_path)
    assert_feedback(result, code, *evidence, workdir=tmp_path)


def test_dvc_status_disagreeing_is_quoted(tmp_path):
    dvc_project(tmp_path)
    result = check("dvc_tracking", {**DVC_ARGS, "cloud_status": True}, tmp_path,
                   answer={"dvc_error": "ConfigError: bad remote"})
    assert_feedback(result, "dvc.status_error", "ConfigError: bad remote")


# ---------------------------------------------------------------- behaviour


def test_a_missing_output_is_named(tmp_path):
    result = check("behaviour", {"files": ["predictions.csv"]}, tmp_path)
    assert_feedback(result, "behaviour.missing_output", "predictions.csv", "keep saving")


def test_every_code_of_every_checker_is_covered_here():
    """A code added to a checker without a feedback test here fails this test."""
    import re

    root = Path(__file__).resolve().parents[3] / "sandbox"
    codes = set()
    for source in [*root.glob("checkers/*.py"), root / "grading.py"]:
        codes |= set(re.findall(r'"((?:mlflow|wandb|optuna|pruning|dvc|translation|behaviour|probe)\.[a-z_]+)"',
                                source.read_text()))
    codes -= {"dvc.lock", "dvc.yaml", "mlflow.db", "probe.key", "probe.error"}  # file names, not codes
    here = Path(__file__).read_text() + (Path(__file__).parents[1] / "test_probes.py").read_text()
    assert sorted(c for c in codes if c not in here and not _is_module(c)) == []


def _is_module(name: str) -> bool:
    """Module names in the checkers' sources (what a warm probe imports) are not failure codes."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
