"""MLflow checkers: judge the tracking store and model registry a script left in its work dir.

Tracking is read here, in the harness, from a *copy* of the sqlite store (reading rows runs no code).
Loading a registered model unpickles it, which is code execution: that happens only inside the sandbox, in the
warm probe forked at the script's start-up or through `ctx.run_probe` (sandbox/checkers/_registration_probe.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchmark.types import Task

from ._registration_probe import fresh_probe_source, warm_pass, warm_probe_source
from ._translation import ExpectedRun, LoggedRun, judge_translation
from .base import CheckContext, Checker, checker

log = logging.getLogger(__name__)

DEFAULT_DB = "mlflow.db"
MAX_METRIC_KEYS = 50  # metric histories read per run: enough to find a loop, bounded for autolog floods
MAX_CANDIDATE_VERSIONS = 3  # registered versions the probe tries, newest first


# ---------------------------------------------------------------- finding the stores


@dataclass(frozen=True)
class Store:
    kind: str  # "sqlite" | "file"
    path: Path  # the .db file or the file store's root folder

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.path}" if self.kind == "sqlite" else self.path.as_uri()

    def sandbox_uri(self, workdir: Path) -> str:
        """The URI relative to the work dir, which is the sandbox's current directory (whatever its mount point)."""
        rel = self.path.relative_to(Path(workdir).resolve()).as_posix()
        return f"sqlite:///{rel}" if self.kind == "sqlite" else rel


def find_stores(workdir: Path) -> list[Store]:
    """MLflow stores in the work dir: the sandbox's default `mlflow.db` first, then any other sqlite
    database holding MLflow tables, then file stores (a folder like ./mlruns with `<id>/meta.yaml`)."""
    workdir = Path(workdir).resolve()
    dbs = sorted(workdir.glob("*.db"), key=lambda p: (p.name != DEFAULT_DB, p.name))
    stores = [Store("sqlite", p) for p in dbs if _is_mlflow_db(p)]
    folders = sorted(p for p in workdir.iterdir() if p.is_dir() and not p.name.startswith("."))
    stores += [Store("file", p) for p in folders if _is_file_store(p)]
    return stores


def _is_mlflow_db(path: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error:
        return False
    return {"experiments", "runs", "alembic_version"} <= tables


def _is_file_store(folder: Path) -> bool:
    for meta in folder.glob("*/meta.yaml"):
        try:
            if "experiment_id" in meta.read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


@contextmanager
def open_client(store: Store) -> Iterator[Any]:
    """An MlflowClient on `store`. A sqlite store is copied first (sqlite's backup API) so that opening it
    (MLflow may create the default experiment) never changes the work dir, and the engine is released after."""
    from mlflow import MlflowClient

    if store.kind == "file":
        with _env(MLFLOW_ALLOW_FILE_STORE="true"):  # the file store is in "maintenance mode" in MLflow 3
            yield MlflowClient(tracking_uri=store.uri, registry_uri=store.uri)
        return
    tmp = Path(tempfile.mkdtemp(prefix="adaptbench-mlflow-"))
    copy = tmp / DEFAULT_DB
    try:
        with sqlite3.connect(f"file:{store.path}?mode=ro", uri=True) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        uri = f"sqlite:///{copy}"
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        _release_engines(f"sqlite:///{copy}")
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _release_engines(uri: str) -> None:
    """MLflow caches one SQLAlchemy engine per URI in class attributes, forever; drop ours (private API,
    best effort: a failure here only costs a file handle)."""
    try:
        from mlflow.store.model_registry.sqlalchemy_store import (
            SqlAlchemyStore as RegistryStore,
        )
        from mlflow.store.tracking.sqlalchemy_store import (
            SqlAlchemyStore as TrackingStore,
        )
    except ImportError:
        return
    for cls in (TrackingStore, RegistryStore):
        engine = getattr(cls, "_engine_map", {}).pop(uri, None)
        if engine is not None:
            engine.dispose()


def no_store_result(chk: Checker, workdir: Path):
    nested = nested_stores(workdir)
    found = (f"; an MLflow store lies in a subfolder ({', '.join(nested)}), where the harness does not look"
             if nested else "")
    return chk.fail("mlflow.no_store",
                    f"no MLflow store in the work dir (no mlflow.db, no other MLflow *.db, no ./mlruns with "
                    f"experiments){found}: log to the tracking URI the environment sets (MLFLOW_TRACKING_URI, "
                    "the default) instead of setting another one", nested=nested,
                    workdir_files=sorted(p.name for p in Path(workdir).iterdir())[:30])


def nested_stores(workdir: Path, depth: int = 3) -> list[str]:
    """MLflow stores below the top level of the work dir (a script that set its own tracking URI)."""
    workdir = Path(workdir).resolve()
    found = []
    for path in sorted(workdir.rglob("*")):
        rel = path.relative_to(workdir)
        if len(rel.parts) < 2 or len(rel.parts) > depth or rel.parts[0].startswith("."):
            continue
        if (path.suffix == ".db" and _is_mlflow_db(path)) or (path.is_dir() and path.name == "mlruns"
                                                              and _is_file_store(path)):
            found.append(f"./{rel.as_posix()}")
        if len(found) >= 3:
            break
    return found


# ---------------------------------------------------------------- tracking


class TrackingArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_params: int = Field(1, ge=0)
    min_metrics: int = Field(1, ge=0)
    min_metric_steps: int = Field(0, ge=0)  # >0: the script trains in a loop; some metric needs this many entries
    experiment_name: str | None = None  # only when the task instruction tells the model the name
    expect_runs: list[ExpectedRun] = []  # translation tasks: what the source logged, run by run


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    experiment: str
    status: str
    n_params: int
    metric_keys: tuple[str, ...]
    longest_history: int
    longest_key: str | None
    name: str | None = None
    param_keys: tuple[str, ...] = ()

    def label(self) -> str:
        return f"run '{self.name}' ({self.run_id[:8]})" if self.name else f"run {self.run_id[:8]}"


@dataclass
class StoreRuns:
    """Every run of the stores, split into the ones judged (in the required experiment) and the rest."""

    judged: list[RunFacts] = field(default_factory=list)
    elsewhere: dict[str, int] = field(default_factory=dict)  # experiment -> runs outside the required one
    experiments: list[str] = field(default_factory=list)
    logged: list[LoggedRun] = field(default_factory=list)  # the judged runs in full, for translation tasks


def collect_runs(client, experiment_name: str | None = None, workdir: Path | None = None,
                 full: bool = False) -> StoreRuns:
    out = StoreRuns()
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    out.experiments = sorted(experiments.values())
    if not experiments:
        return out
    runs = client.search_runs(list(experiments), max_results=1000)
    names = {run.info.run_id: run.info.run_name for run in runs}
    models = _models_by_run(client, list(experiments)) if full else set()
    for run in runs:
        experiment = experiments[run.info.experiment_id]
        if experiment_name is not None and experiment != experiment_name:
            out.elsewhere[experiment] = out.elsewhere.get(experiment, 0) + 1
            continue
        out.judged.append(_facts(client, run, experiment))
        if full:
            out.logged.append(logged_run(client, run, names, models, workdir))
    return out


def _facts(client, run, experiment: str) -> RunFacts:
    keys = tuple(sorted(run.data.metrics))
    lengths = {k: len(client.get_metric_history(run.info.run_id, k)) for k in keys[:MAX_METRIC_KEYS]}
    longest = max(lengths, key=lengths.get, default=None)
    return RunFacts(run.info.run_id, experiment, run.info.status, len(run.data.params), keys,
                    lengths.get(longest, 0), longest, run.info.run_name, tuple(sorted(run.data.params)))


def logged_run(client, run, names: dict[str, str], models: set[str], workdir: Path | None) -> LoggedRun:
    run_id, tags = run.info.run_id, run.data.tags
    steps = {k: [m.step for m in client.get_metric_history(run_id, k)] for k in sorted(run.data.metrics)[:MAX_METRIC_KEYS]}
    return LoggedRun(run_id=run_id, name=run.info.run_name, parent=names.get(tags.get("mlflow.parentRunId", "")),
                     tags={k: v for k, v in tags.items() if not k.startswith("mlflow.")},
                     params=dict(run.data.params), steps=steps, summary=set(run.data.metrics),
                     files=set(_artifact_files(run, workdir)), has_model=run_id in models)


def _models_by_run(client, experiment_ids: list[str]) -> set[str]:
    try:
        return {m.source_run_id for m in client.search_logged_models(experiment_ids=experiment_ids, max_results=500)
                if m.source_run_id}
    except Exception:  # an older/newer API shape only costs the logged-model shortcut
        log.debug("search_logged_models failed", exc_info=True)
        return set()


def _artifact_files(run, workdir: Path | None, limit: int = 500) -> list[str]:
    """The run's artifact files, read from the file system (the artifact root is re-rooted in the work dir)."""
    if workdir is None:
        return []
    root = _artifact_root(run, Path(workdir).resolve())
    if root is None:
        return []
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found.append(path.relative_to(root).as_posix())
            if len(found) >= limit:
                break
    return found


def _artifact_root(run, workdir: Path) -> Path | None:
    uri = run.info.artifact_uri or ""
    path = Path(uri.removeprefix("file://")) if "://" not in uri or uri.startswith("file://") else None
    candidates = [path] if path is not None else []
    candidates.append(workdir / "mlruns" / run.info.experiment_id / run.info.run_id / "artifacts")
    for candidate in candidates:
        candidate = candidate if candidate.is_absolute() else workdir / candidate
        if candidate.is_dir() and candidate.resolve().is_relative_to(workdir):
            return candidate.resolve()
    return None


def run_problem(run: RunFacts, args: TrackingArgs) -> tuple[int, str, str] | None:
    """(how far the run got, code, reason) for the first requirement it misses, or None if it meets all."""
    if run.n_params < args.min_params:
        logged = f" ({', '.join(run.param_keys[:5])})" if run.param_keys else ""
        return 0, "mlflow.no_params", (f"{run.label()} logged {run.n_params} parameter(s){logged}, at least "
                                       f"{args.min_params} expected: log the hyperparameters with "
                                       "mlflow.log_params({...})")
    if len(run.metric_keys) < args.min_metrics:
        logged = f" ({', '.join(run.metric_keys[:5])})" if run.metric_keys else ""
        return 1, "mlflow.no_metrics", (f"{run.label()} logged {len(run.metric_keys)} metric(s){logged}, at least "
                                        f"{args.min_metrics} expected: log the evaluation metrics with "
                                        "mlflow.log_metric(name, value)")
    if args.min_metric_steps and run.longest_history < args.min_metric_steps:
        return 2, "mlflow.no_metric_history", (
            f"{run.label()}: the longest metric history is {run.longest_history} value(s) "
            f"({run.longest_key or 'no metric'}), at least {args.min_metric_steps} expected: "
            "log a metric inside the training loop (e.g. per epoch, with step=)")
    return None


@checker("mlflow_tracking")
class MlflowTrackingChecker(Checker):
    """A FINISHED run with enough params and metrics (and a metric history where the script loops); on a
    translation task, the source's runs with their params, metric steps, final values, artifacts and tables."""

    Args = TrackingArgs
    version = 2

    def check(self, ctx: CheckContext):
        stores = find_stores(ctx.workdir)
        if not stores:
            return no_store_result(self, ctx.workdir)
        found = StoreRuns()
        for store in stores:
            with open_client(store) as client:
                part = collect_runs(client, self.args.experiment_name, ctx.workdir, full=bool(self.args.expect_runs))
            found.judged += part.judged
            found.logged += part.logged
            found.experiments += part.experiments
            for name, n in part.elsewhere.items():
                found.elsewhere[name] = found.elsewhere.get(name, 0) + n
        result = self.judge_runs(found.judged, found)
        if not result.passed or not self.args.expect_runs:
            return result
        return self.judge_translation(found.logged, result)

    def judge_runs(self, runs: list[RunFacts], found: StoreRuns | None = None):
        if not runs:
            return self.fail("mlflow.no_run", _no_run_reason(self.args.experiment_name, found or StoreRuns()),
                             elsewhere=(found or StoreRuns()).elsewhere)
        finished = [r for r in runs if r.status == "FINISHED"]
        if not finished:
            statuses = ", ".join(f"{r.label()} {r.status}" for r in runs[:3])
            return self.fail("mlflow.run_not_finished",
                             f"no run ended FINISHED (found: {statuses}): end the run (a `with mlflow.start_run():` "
                             "block or mlflow.end_run()) and let the script complete", statuses=statuses)
        problems = [(run, run_problem(run, self.args)) for run in finished]
        good = [run for run, problem in problems if problem is None]
        if good:
            run = good[0]
            return self.ok(f"{run.label()} ({run.experiment}) finished with {run.n_params} params, "
                           f"{len(run.metric_keys)} metrics, longest history {run.longest_history}",
                           run_id=run.run_id, metrics=list(run.metric_keys), runs=len(runs))
        run, (_, code, reason) = max(problems, key=lambda rp: rp[1][0])
        return self.fail(code, reason, run_id=run.run_id, runs=len(runs))

    def judge_translation(self, logged: list[LoggedRun], basic):
        gaps = judge_translation(self.args.expect_runs, logged)
        if gaps:
            more = f" ({len(gaps) - 1} more gap(s))" if len(gaps) > 1 else ""
            return self.fail(gaps[0].code, f"the MLflow runs do not carry what the source logged: {gaps[0].text}{more}",
                             gaps=[g.text for g in gaps[:10]], runs=[r.describe() for r in logged[:20]])
        return self.ok(f"{basic.reason}; every one of the source's {len(self.args.expect_runs)} run(s) arrived "
                       "with its params, metric steps, final values and artifacts", **basic.details)


def _no_run_reason(experiment: str | None, found: StoreRuns) -> str:
    if experiment is None:
        shown = ", ".join(f"'{e}'" for e in found.experiments[:4]) or "none"
        return f"the MLflow store holds no run (experiments: {shown}): start one with mlflow.start_run()"
    if found.elsewhere:
        where = ", ".join(f"{n} in '{e}'" for e, n in sorted(found.elsewhere.items())[:4])
        return (f"no run in experiment '{experiment}': the script's runs went elsewhere ({where}); call "
                f"mlflow.set_experiment('{experiment}') before mlflow.start_run()")
    return (f"the MLflow store holds no run at all (experiments: {', '.join(repr(e) for e in found.experiments[:4])}): "
            f"call mlflow.set_experiment('{experiment}'), then start a run with mlflow.start_run()")


# ---------------------------------------------------------------- registration


class RegistrationArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None  # required registered model name: only when the task instruction states it
    input_shape: list[int] | None = None  # used when the model has no input example or signature
    input_dtype: str = "float32"


@dataclass(frozen=True)
class Candidate:
    store_uri: str
    name: str
    version: str


def collect_versions(client, store_uri: str) -> tuple[list[Candidate], list[str]]:
    """(READY versions newest first, all registered model names)."""
    names = [m.name for m in client.search_registered_models(max_results=1000)]
    versions = client.search_model_versions(max_results=10_000)  # no filter: names need no quoting
    out = [Candidate(store_uri, v.name, str(v.version)) for v in versions if v.status == "READY"]
    out.sort(key=lambda c: int(c.version) if c.version.isdigit() else 0, reverse=True)
    return out, names


def count_logged_models(client) -> int:
    """Models logged (mlflow.<flavour>.log_model) whether or not they were registered."""
    try:
        ids = [e.experiment_id for e in client.search_experiments()]
        return len(client.search_logged_models(experiment_ids=ids, max_results=100)) if ids else 0
    except Exception:  # an older/newer API shape only costs us a hint
        log.debug("search_logged_models failed", exc_info=True)
        return 0


@checker("mlflow_registration")
class MlflowRegistrationChecker(Checker):
    """A registered model version that loads back (mlflow.pyfunc, inside the sandbox) and predicts."""

    Args = RegistrationArgs
    version = 4

    def probe_for(self, task: Task) -> str:
        return warm_probe_source(task.framework.value, self.args.name, self.args.model_dump(),
                                 MAX_CANDIDATE_VERSIONS)

    def check(self, ctx: CheckContext):
        stores = find_stores(ctx.workdir)
        if not stores:
            return no_store_result(self, ctx.workdir)
        candidates, names, logged = [], [], 0
        for store in stores:
            with open_client(store) as client:
                found, store_names = collect_versions(client, store.sandbox_uri(ctx.workdir))
                candidates += found
                names += store_names
                logged += count_logged_models(client)
        if self.args.name is not None:
            candidates = [c for c in candidates if c.name == self.args.name]
        if not candidates:
            return self.no_model(names, logged)
        shortlist = candidates[:MAX_CANDIDATE_VERSIONS]
        report = (warm_pass(ctx.events, {(c.name, c.version) for c in shortlist})
                  or ctx.run_probe(probe_source(shortlist, self.args)))
        return self.judge_probe(report, ctx.workdir)

    def no_model(self, names: list[str], logged: int):
        wanted = f"'{self.args.name}'" if self.args.name else "a name"
        if names and self.args.name is not None:
            reason = (f"no ready version of the registered model '{self.args.name}' (registered instead: "
                      f"{', '.join(sorted(set(names)))}): register the model under the name '{self.args.name}'")
        elif names:
            reason = (f"the registered model(s) {', '.join(sorted(set(names)))} have no READY version: register a "
                      "logged model (mlflow.register_model(model_uri, name)) and let the script finish")
        elif logged:
            reason = (f"{logged} model(s) were logged but none was registered: pass registered_model_name={wanted} "
                      "to log_model, or call mlflow.register_model(model_info.model_uri, ...)")
        else:
            reason = (f"no model was logged or registered: log it with mlflow.<flavour>.log_model(..., "
                      f"registered_model_name={wanted})")
        return self.fail("mlflow.no_registered_model", reason, registered=sorted(set(names)), logged_models=logged)

    def judge_probe(self, report: dict[str, Any], workdir: Path | None = None):
        if report.get("ok"):
            probe = report.get("probe", "fresh")
            return self.ok(f"model '{report['name']}' version {report['version']} loads and predicts "
                           f"(input from {report['input_from']}, output shape {report.get('output_shape')}; "
                           f"{probe} probe)", probe=probe,
                           **{k: report.get(k) for k in ("name", "version", "input_from", "output_shape")})
        if "attempts" not in report:  # the probe itself did not run to the end
            return self.fail("harness_error", f"the model-loading probe failed: {report.get('error', report)}")
        codes = {"load": "mlflow.model_not_loadable", "input": "mlflow.no_input", "predict": "mlflow.predict_failed"}
        stage_rank = {"load": 0, "input": 1, "predict": 2}
        best = max(report["attempts"], key=lambda a: stage_rank.get(a["stage"], -1))
        hints = {"load": "log it with a flavour's log_model so mlflow.pyfunc.load_model can rebuild it "
                         "(classes defined in the script's __main__ do not unpickle elsewhere)",
                 "input": "log an input_example (or a signature) with the model",
                 "predict": "check that the model accepts its own input example"}
        error = scrub(str(best["error"]), workdir)
        if best["stage"] == "load" and best.get("unregistered"):
            hints["load"] = (f"Keras cannot rebuild the custom class(es) {', '.join(best['unregistered'])}: register "
                             "them with @keras.saving.register_keras_serializable(), as anyone loading the model needs")
        return self.fail(codes.get(best["stage"], "mlflow.model_not_loadable"),
                         f"model '{best['name']}' version {best['version']}: {best['stage']} failed with "
                         f"{error}: {hints.get(best['stage'], '')}", attempts=report["attempts"])


def scrub(text: str, workdir: Path | None, limit: int = 300) -> str:
    """An error as feedback: the sandbox's own paths shown relative to the work dir, and short."""
    if workdir is not None:
        for root in {str(Path(workdir)), str(Path(workdir).resolve())}:
            text = text.replace(root + "/", "./").replace(root, ".")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def probe_source(candidates: list[Candidate], args: RegistrationArgs) -> str:
    return fresh_probe_source([c.__dict__ for c in candidates], args.model_dump())
