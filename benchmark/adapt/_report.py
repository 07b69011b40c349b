"""The short report `adapt` writes beside the adapted script: what was verified and the evidence the checkers
read from real stores (runs, registered model versions, studies, saved weights, DVC remotes), every attempt, and
the untouched script's baseline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..types import Attempt, CheckResult, SampleRecord

log = logging.getLogger(__name__)
MAX_SHOWN = 12


def evidence_lines(attempt: Attempt) -> list[str]:
    """One line per check of the attempt's verdict, with the facts behind it."""
    lines = []
    for check in attempt.verdict.checks:
        mark = "ok" if check.passed else "FAILED"
        lines.append(f"- **{check.name}** ({mark}): {check.reason}")
        lines += [f"  - {fact}" for fact in _facts(check, attempt)]
    return lines


def _facts(check: CheckResult, attempt: Attempt) -> list[str]:
    d = check.details
    if check.name == "mlflow_tracking" and d.get("run_id") and attempt.execution is not None:
        return _mlflow_run(Path(attempt.execution.workdir), d["run_id"])
    if check.name == "mlflow_registration" and d.get("version"):
        return [(f"registered model '{d.get('name')}' version {d.get('version')} loaded with mlflow.pyfunc and "
                f"predicted an output of shape {d.get('output_shape')} (input from {d.get('input_from')})")]
    if check.name == "optuna_hpo":
        return [f"study '{s['name']}': {s['n_complete']} of {s['n_trials']} trials complete, best trial "
                f"#{s.get('best_number')} with {_params(s.get('best') or [{}])}" for s in d.get("studies", [])[:3]]
    if check.name == "pruning" and d.get("saved"):
        seen, saved = d.get("observed", {}), d["saved"]
        return [(f"{seen.get('optimizer_steps')} optimizer steps observed; pruned at {seen.get('steps_pruned')} "
                f"sampled steps (first: {seen.get('first_pruned_step')})"),
                f"saved weights: {saved.get('sparsity', 0):.1%} sparse over {saved.get('weights')} prunable weights"]
    if check.name == "wandb_tracking":
        return [f"run {r.get('run')}: {r.get('history_rows')} history rows of {', '.join(r.get('metrics', [])[:8])};"
                f" config {', '.join(r.get('config_keys', [])[:8])}" for r in d.get("runs", [])[:3]]
    if check.name == "dvc_tracking" and d.get("files"):
        return [f"tracked by {', '.join(d.get('tracking', []))}: {', '.join(d['files'][:MAX_SHOWN])}",
                "DVC's own status against the remote (cloud=True), run in the sandbox: in sync"]
    return []


def _params(best: list[dict[str, Any]]) -> str:
    first = best[0] if best else {}
    return ", ".join(f"{k}={_short(v)}" for k, v in list(first.items())[:MAX_SHOWN]) or "no parameters"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _mlflow_run(workdir: Path, run_id: str) -> list[str]:
    """Params and final metrics of the judged run, read back from the store the script wrote."""
    try:
        from sandbox.checkers.mlflow_checks import find_stores, open_client

        for store in find_stores(workdir):
            with open_client(store) as client:
                run = client.get_run(run_id)
                params = ", ".join(f"{k}={v}" for k, v in sorted(run.data.params.items())[:MAX_SHOWN])
                metrics = ", ".join(f"{k}={_short(v)}" for k, v in sorted(run.data.metrics.items())[:MAX_SHOWN])
                experiment = client.get_experiment(run.info.experiment_id).name
                return [f"run {run_id} in experiment '{experiment}': params {params or 'none'}",
                        f"final metrics: {metrics or 'none'}"]
    except Exception as exc:
        log.debug("could not read run %s back: %s", run_id, exc)
    return []


def attempt_rows(records: list[SampleRecord]) -> list[str]:
    rows = ["| sample | attempt | model | verdict | reason |", "|---|---|---|---|---|"]
    for record in sorted(records, key=lambda r: r.key.sample_index):
        for attempt in record.all_attempts():
            v = attempt.verdict
            reason = v.reason.replace("|", "\\|").replace("\n", " ")[:200]
            rows.append(f"| {record.key.sample_index + 1} | {attempt.round} | {attempt.model} | "
                        f"{v.status.value} [{v.code}] | {reason} |")
    return rows


def render_report(*, title: str, verified: bool, summary: list[str], attempt: Attempt | None,
                  records: list[SampleRecord], baseline: list[str], next_steps: list[str]) -> str:
    head = "VERIFIED" if verified else "NOT VERIFIED"
    lines = [f"# {title}", "", f"**{head}**" + (
        ": the adapted script ran in the sandbox and every check passed." if verified else
        f": {attempt.verdict.reason if attempt else 'no attempt produced a script'}"), ""]
    lines += summary
    if attempt is not None:
        lines += ["", "## Evidence" if verified else "## The best attempt's checks", ""]
        lines += evidence_lines(attempt) or [f"- no check ran: {attempt.verdict.code} ({attempt.verdict.reason})"]
    lines += ["", "## Attempts", ""] + attempt_rows(records)
    lines += ["", "## Baseline (the untouched script)", ""] + baseline
    if next_steps:
        lines += ["", "## Next", ""] + next_steps
    return "\n".join(lines) + "\n"
