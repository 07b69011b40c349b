"""Results in experiment trackers: one MLflow run per benchmark run (params: the matrix; metrics: Pass@k per cell;
artifacts: the report), and optionally a W&B run (offline unless configured)."""

from __future__ import annotations

import logging
import os
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmark.errors import MissingDependencyError
from benchmark.types import LoopSpec

from ._labels import fmt_temperature, slug
from ._load import Run, load_run
from ._report import REPORT_DIR, ReportContent, build_content, write_report
from ._tables import CellStat

log = logging.getLogger(__name__)

EXPERIMENT = "adaptbench"
RUN_TAG = "adaptbench.run_id"
METRIC_NAME_MAX = 250
_METRIC_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]")
LOOP_DEFAULTS = LoopSpec().model_dump()


def default_tracking_uri(run_dir: str | Path) -> str:
    """sqlite:///<runs-root>/mlflow.db, where runs-root is the run folder's parent."""
    return f"sqlite:///{(Path(run_dir).resolve().parent / 'mlflow.db').as_posix()}"


def run_params(run: Run, k: int) -> dict[str, str]:
    spec = run.spec
    params = {"run_id": spec.run_id, "models": ",".join(spec.models),
              "temperatures": ",".join(fmt_temperature(t) for t in spec.temperatures),
              "settings": ",".join(s.value for s in spec.settings), "retrievals": ",".join(spec.retrievals),
              "n": str(spec.n), "k": str(k), "ks": ",".join(map(str, spec.k)), "task_count": str(len(spec.tasks)),
              "git_sha": spec.git_sha or "unknown", "max_tokens": str(spec.generation.max_tokens)}
    params.update({f"loop.{name}": str(v) for name, v in spec.loop.model_dump().items()})
    params.update({f"version.{name}": v for name, v in sorted(spec.versions.items())})
    return {key: value[:6000] for key, value in params.items()}


def metric_name(k: int, group: dict[str, Any]) -> str:
    """e.g. pass_at_3/experiment_tracking/mlflow/keras/gpt-3.5-turbo/t0.2/zero-shot/none (MLflow-safe characters);
    loop axes away from their one-shot defaults follow, e.g. .../none/rounds-3/edit_format-udiff."""
    component = group["component"] if not group.get("source_component") else \
        f"{group['source_component']}-to-{group['component']}"
    parts = [f"pass_at_{k}", group["functionality"], component, group["framework"], group["model"],
             f"t{fmt_temperature(group['temperature'])}", group["setting"], group["retrieval"]]
    parts += [f"{axis}-{group[axis]}" for axis, default in LOOP_DEFAULTS.items() if group.get(axis, default) != default]
    return _METRIC_UNSAFE.sub("_", "/".join(str(p) for p in parts))[:METRIC_NAME_MAX]


def run_metrics(content: ReportContent) -> dict[str, float]:
    """Pass@k per cell for every k defined there, the fraction of passing samples per model, and success and mean
    cost per sample (USD, where known) per model or cascade."""
    metrics: dict[str, float] = {}
    for stat in content.stats:
        metrics.update(_cell_metrics(stat))
    passed: dict[str, list[bool]] = defaultdict(list)
    for record in content.run.records:
        passed[record.key.model].append(record.verdict.passed)
    for model, values in passed.items():
        metrics[_METRIC_UNSAFE.sub("_", f"pass_rate/{model}")] = sum(values) / len(values)
    for row in content.loop.costs:  # per model or cascade (and varying setting, retrieval, loop axes)
        path = "/".join(str(v) for v in row.group)
        metrics[_METRIC_UNSAFE.sub("_", f"success_rate/{path}")[:METRIC_NAME_MAX]] = row.success_rate
        if row.mean_usd is not None:
            metrics[_METRIC_UNSAFE.sub("_", f"mean_cost_usd/{path}")[:METRIC_NAME_MAX]] = row.mean_usd
    metrics["samples"] = float(len(content.run.records))
    return metrics


def _cell_metrics(stat: CellStat) -> dict[str, float]:
    return {metric_name(k, stat.group): v for k, v in stat.pass_at.items() if v is not None}


def log_to_mlflow(run_dir: str | Path, tracking_uri: str | None = None, experiment: str = EXPERIMENT,
                  k: int | None = None) -> str:
    """Log the run to MLflow (re-logging the same run updates its MLflow run); returns the MLflow run id."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    run = load_run(run_dir)
    content = build_content(run, k)
    report_dir = run.path / REPORT_DIR
    if not report_dir.is_dir():
        write_report(run.path, k=k)
    uri = tracking_uri or default_tracking_uri(run.path)
    client = MlflowClient(tracking_uri=uri)
    run_id = _find_or_create_run(client, _experiment_id(client, experiment, uri), run)
    now = int(time.time() * 1000)
    metrics = [Metric(name, value, now, 0) for name, value in sorted(run_metrics(content).items())]
    params = [Param(name, value) for name, value in run_params(run, content.k).items()]
    for start in range(0, max(len(metrics), len(params)), 100):
        client.log_batch(run_id, metrics=metrics[start:start + 100], params=params[start:start + 100],
                         tags=[RunTag(RUN_TAG, run.run_id)] if start == 0 else [])
    client.log_artifacts(run_id, str(report_dir), artifact_path=REPORT_DIR)
    client.set_terminated(run_id)
    log.info("logged %s to MLflow %s as run %s (%d metrics)", run.run_id, uri, run_id, len(metrics))
    return run_id


def _experiment_id(client, name: str, uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):  # keep artifacts next to the database, not in the current directory
        location = (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def _find_or_create_run(client, experiment_id: str, run: Run) -> str:
    quoted = run.run_id.replace("'", "\\'")
    existing = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{quoted}'", max_results=1)
    if existing:
        return existing[0].info.run_id
    return client.create_run(experiment_id, run_name=run.run_id, tags={RUN_TAG: run.run_id}).info.run_id


def log_to_wandb(run_dir: str | Path, project: str = EXPERIMENT, mode: str | None = None, k: int | None = None) -> str:
    """Log params, Pass@k metrics and a table of cells to W&B; offline unless WANDB_MODE or WANDB_API_KEY say
    otherwise. Returns the W&B run id."""
    try:
        import wandb
    except ImportError:
        raise MissingDependencyError("wandb", "logging results to Weights & Biases") from None
    run = load_run(run_dir)
    content = build_content(run, k)
    mode = mode or os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    wb = wandb.init(project=project, name=run.run_id, id=slug(run.run_id)[:64], config=run_params(run, content.k),
                    mode=mode, dir=str(run.path), resume="allow")
    try:
        wb.summary.update(run_metrics(content))
        axes = ["functionality", "component", "source_component", "framework", "model", "temperature", "setting",
                "retrieval", *LOOP_DEFAULTS]
        columns = [*axes, "n_tasks", f"pass@{content.k}"]
        data = [[s.group.get(c) for c in axes] + [s.n_tasks, s.pass_at.get(content.k)] for s in content.stats]
        wb.log({"cells": wandb.Table(columns=columns, data=data)})
        return wb.id
    finally:
        wb.finish()
