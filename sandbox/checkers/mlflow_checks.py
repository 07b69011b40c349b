"""MLflow checkers: judge the tracking store and model registry a script left in its work dir.

Tracking is read here, in the harness, from a *copy* of the sqlite store (reading rows runs no code).
Loading a registered model unpickles it, which is code execution: that happens only inside the sandbox,
through `ctx.run_probe`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
    return chk.fail("mlflow.no_store",
                    f"no MLflow store in the work dir (looked for {DEFAULT_DB}, other *.db files and ./mlruns): "
                    "the script never logged to MLflow; use the tracking URI from MLFLOW_TRACKING_URI (the default)",
                    workdir_files=sorted(p.name for p in Path(workdir).iterdir())[:30])


# ---------------------------------------------------------------- tracking


class TrackingArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_params: int = Field(1, ge=0)
    min_metrics: int = Field(1, ge=0)
    min_metric_steps: int = Field(0, ge=0)  # >0: the script trains in a loop; some metric needs this many entries
    experiment_name: str | None = None  # only when the task instruction tells the model the name


@dataclass(frozen=True)
class RunFacts:
    run_id: str
    experiment: str
    status: str
    n_params: int
    metric_keys: tuple[str, ...]
    longest_history: int
    longest_key: str | None


def collect_runs(client, experiment_name: str | None = None) -> list[RunFacts]:
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    if experiment_name is not None:
        experiments = {i: n for i, n in experiments.items() if n == experiment_name}
    if not experiments:
        return []
    runs = client.search_runs(list(experiments), max_results=1000)
    return [_facts(client, run, experiments[run.info.experiment_id]) for run in runs]


def _facts(client, run, experiment: str) -> RunFacts:
    keys = tuple(sorted(run.data.metrics))
    lengths = {k: len(client.get_metric_history(run.info.run_id, k)) for k in keys[:MAX_METRIC_KEYS]}
    longest = max(lengths, key=lengths.get, default=None)
    return RunFacts(run.info.run_id, experiment, run.info.status, len(run.data.params), keys,
                    lengths.get(longest, 0), longest)


def run_problem(run: RunFacts, args: TrackingArgs) -> tuple[int, str, str] | None:
    """(how far the run got, code, reason) for the first requirement it misses, or None if it meets all."""
    if run.n_params < args.min_params:
        return 0, "mlflow.no_params", (f"run {run.run_id} logged {run.n_params} parameter(s), expected at least "
                                       f"{args.min_params}: log the hyperparameters (mlflow.log_params)")
    if len(run.metric_keys) < args.min_metrics:
        return 1, "mlflow.no_metrics", (f"run {run.run_id} logged {len(run.metric_keys)} metric(s), expected at least "
                                        f"{args.min_metrics}: log the evaluation metrics (mlflow.log_metric)")
    if args.min_metric_steps and run.longest_history < args.min_metric_steps:
        return 2, "mlflow.no_metric_history", (
            f"run {run.run_id}: the longest metric history is {run.longest_history} value(s) "
            f"({run.longest_key or 'no metric'}), expected at least {args.min_metric_steps}: "
            "log a metric inside the training loop (e.g. per epoch, with step=)")
    return None


@checker("mlflow_tracking")
class MlflowTrackingChecker(Checker):
    """A FINISHED run with enough params and metrics (and a metric history where the script loops)."""

    Args = TrackingArgs
    version = 1

    def check(self, ctx: CheckContext):
        stores = find_stores(ctx.workdir)
        if not stores:
            return no_store_result(self, ctx.workdir)
        runs = []
        for store in stores:
            with open_client(store) as client:
                runs += collect_runs(client, self.args.experiment_name)
        return self.judge_runs(runs)

    def judge_runs(self, runs: list[RunFacts]):
        if not runs:
            where = f" in experiment '{self.args.experiment_name}'" if self.args.experiment_name else ""
            return self.fail("mlflow.no_run", f"the MLflow store holds no run{where}: start one with mlflow.start_run()")
        finished = [r for r in runs if r.status == "FINISHED"]
        if not finished:
            statuses = ", ".join(sorted({r.status for r in runs}))
            return self.fail("mlflow.run_not_finished",
                             f"no run ended FINISHED (found: {statuses}): end the run (a `with mlflow.start_run():` "
                             "block or mlflow.end_run()) and let the script complete", statuses=statuses)
        problems = [(run, run_problem(run, self.args)) for run in finished]
        good = [run for run, problem in problems if problem is None]
        if good:
            run = good[0]
            return self.ok(f"run {run.run_id} ({run.experiment}) finished with {run.n_params} params, "
                           f"{len(run.metric_keys)} metrics, longest history {run.longest_history}",
                           run_id=run.run_id, metrics=list(run.metric_keys), runs=len(runs))
        run, (_, code, reason) = max(problems, key=lambda rp: rp[1][0])
        return self.fail(code, reason, run_id=run.run_id, runs=len(runs))


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
    version = 1

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
        return self.judge_probe(ctx.run_probe(probe_source(candidates[:MAX_CANDIDATE_VERSIONS], self.args)))

    def no_model(self, names: list[str], logged: int):
        if names and self.args.name is not None:
            reason = (f"no ready version of the registered model '{self.args.name}' "
                      f"(registered: {', '.join(sorted(set(names)))}): register it under the required name")
        elif logged:
            reason = (f"{logged} model(s) were logged but none registered: pass registered_model_name= to "
                      "log_model or call mlflow.register_model")
        else:
            reason = "no model was registered: log the model with registered_model_name= (or mlflow.register_model)"
        return self.fail("mlflow.no_registered_model", reason, registered=sorted(set(names)), logged_models=logged)

    def judge_probe(self, report: dict[str, Any]):
        if report.get("ok"):
            return self.ok(f"model '{report['name']}' version {report['version']} loads and predicts "
                           f"(input from {report['input_from']}, output shape {report.get('output_shape')})",
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
        return self.fail(codes.get(best["stage"], "mlflow.model_not_loadable"),
                         f"model '{best['name']}' version {best['version']}: {best['stage']} failed: "
                         f"{best['error']} ({hints.get(best['stage'], '')})", attempts=report["attempts"])


# The probe runs inside the sandbox. Its parameters arrive as one JSON string literal: nothing read from
# the store is ever pasted into the source as code.
PROBE = r'''
import json, os, sys
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
P = json.loads(__PARAMS__)


def synthetic_input(meta, args):
    import numpy as np
    sig = meta.signature
    if sig is not None and sig.inputs is not None and len(sig.inputs.inputs):
        if sig.inputs.is_tensor_spec():
            arrays = {s.name: np.zeros([2 if d in (-1, None) else d for d in s.shape], dtype=s.type)
                      for s in sig.inputs.inputs}
            if len(arrays) == 1 and not sig.inputs.has_input_names():
                return next(iter(arrays.values())), "signature"
            return arrays, "signature"
        import pandas as pd
        cols = {}
        for i, s in enumerate(sig.inputs.inputs):
            try:
                cols[s.name or i] = np.zeros(2, dtype=s.type.to_numpy())
            except Exception:
                cols[s.name or i] = ["a", "a"]
        return pd.DataFrame(cols), "signature"
    if args.get("input_shape"):
        rng = np.random.default_rng(0)
        return rng.random(args["input_shape"]).astype(args["input_dtype"]), "task args"
    return None, None


def output_shape(y):
    import numpy as np
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    if isinstance(y, dict):
        return {k: list(np.asarray(v).shape) for k, v in y.items()}
    arr = np.asarray(y)
    if arr.size == 0:
        raise ValueError("the prediction is empty")
    return list(arr.shape)


def attempt(c):
    import mlflow
    mlflow.set_tracking_uri(c["store_uri"])
    mlflow.set_registry_uri(c["store_uri"])
    uri = f"models:/{c['name']}/{c['version']}"
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
        model = mlflow.pyfunc.load_model(local)
    except BaseException as exc:
        return {"stage": "load", "error": repr(exc)[:800]}
    try:
        x = model.metadata.load_input_example(local)
        source = "input example"
        if x is None:
            x, source = synthetic_input(model.metadata, P["args"])
    except BaseException as exc:
        x, source = synthetic_input(model.metadata, P["args"])
    if x is None:
        return {"stage": "input", "error": "the model has no input example or signature, and the task gives no input_shape"}
    try:
        shape = output_shape(model.predict(x))
    except BaseException as exc:
        return {"stage": "predict", "error": repr(exc)[:800], "input_from": source}
    return {"stage": "done", "input_from": source, "output_shape": shape}


def emit(answer):
    """The probe's answer to the harness: one JSON line on stdout, flushed (the last line wins)."""
    sys.stdout.write(json.dumps(answer, default=str) + "\n")
    sys.stdout.flush()


attempts = []
for c in P["candidates"]:
    # written first, so that if loading kills the process (crash, exit, time limit) this is the last word
    died = {"stage": "load", "error": "the process ended while loading or calling this model (crash, exit "
            "or time limit)", "name": c["name"], "version": c["version"]}
    emit({"ok": False, "attempts": attempts + [died]})
    result = attempt(c)
    result.update(name=c["name"], version=c["version"])
    if result["stage"] == "done":
        emit({"ok": True, **result})
        sys.exit(0)
    attempts.append(result)
emit({"ok": False, "attempts": attempts})
'''


def probe_source(candidates: list[Candidate], args: RegistrationArgs) -> str:
    params = {"candidates": [c.__dict__ for c in candidates], "args": args.model_dump()}
    return PROBE.replace("__PARAMS__", repr(json.dumps(params)))
