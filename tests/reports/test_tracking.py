from __future__ import annotations

import shutil

import pytest

from reports import build_content, load_run, log_to_mlflow, metric_name, write_report
from reports._tracking import default_tracking_uri, run_metrics


@pytest.fixture
def run_copy(golden_run, tmp_path):
    return shutil.copytree(golden_run, tmp_path / "runs" / golden_run.name)


def test_metric_names_are_mlflow_safe():
    group = {"functionality": "version_control", "component": "dvc", "source_component": "gitpython",
             "framework": "none", "model": "org/model:v1@x", "temperature": 0.2, "setting": "docprompt",
             "retrieval": "llm-docs-search"}
    name = metric_name(3, group)
    assert name == "pass_at_3/version_control/gitpython-to-dvc/none/org/model_v1_x/t0.2/docprompt/llm-docs-search"


def test_default_store_is_sqlite_next_to_the_runs(run_copy):
    assert default_tracking_uri(run_copy) == f"sqlite:///{run_copy.parent.resolve()}/mlflow.db"


def test_log_to_mlflow_and_read_back(run_copy, tmp_path, monkeypatch):
    """A fresh sqlite store costs ~10 s of MLflow's own schema migrations; the report is pre-written (cheap formats)."""
    from mlflow.tracking import MlflowClient

    write_report(run_copy, ("md", "tex", "csv"))
    monkeypatch.chdir(tmp_path)  # nothing may land in the current directory
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    run_id = log_to_mlflow(run_copy, tracking_uri=uri)
    client = MlflowClient(tracking_uri=uri)
    logged = client.get_run(run_id)
    assert logged.data.params["models"] == "wizardcoder_15b,gpt-3.5-turbo"
    assert logged.data.params["n"] == "3" and logged.data.params["k"] == "3"
    assert logged.data.params["task_count"] == "14" and logged.data.params["git_sha"] == "0123456789abcdef"
    expected = run_metrics(build_content(load_run(run_copy)))
    assert logged.data.metrics == pytest.approx(expected)
    assert "pass_at_3/experiment_tracking/mlflow/keras/gpt-3.5-turbo/t0/zero-shot/none" in logged.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run_id, "report")}
    assert {"report/report.md", "report/tables.tex", "report/cells.csv"} <= artifacts
    assert client.get_experiment(logged.info.experiment_id).name == "adaptbench"
    assert not (tmp_path / "mlruns").exists()
    assert log_to_mlflow(run_copy, tracking_uri=uri) == run_id  # re-logging updates the same MLflow run


def test_log_to_wandb_offline(run_copy, monkeypatch):
    pytest.importorskip("wandb")
    from reports import log_to_wandb

    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_id = log_to_wandb(run_copy)
    folder = next((run_copy / "wandb").glob(f"offline-run-*-{run_id}"))
    log_bytes = next(folder.glob("*.wandb")).read_bytes()
    assert b"pass_at_3/experiment_tracking/mlflow/keras/gpt-3.5-turbo/t0/zero-shot/none" in log_bytes
    table = next((folder / "files" / "media" / "table").glob("cells_*.table.json")).read_text()
    assert "llm-docs-search" in table and "wizardcoder_15b" in table
