"""Hyperparameter optimisation with Optuna: the script ran a study that completed enough trials with
suggested parameters, and then trained a final model outside the study.

Judged from two kinds of real artifacts:
- the Optuna storages the studies used. The probe gives every study the script creates without a
  storage (or with an in-memory one) its own sqlite file under `.adaptbench/optuna/`, so in-memory
  studies leave the same trial records a persistent one does; a storage the script chose itself is
  recorded by URL and read back too.
- events the probe records while the script runs: study.optimize begin/end (and ask/tell outside
  optimize), and every top-level training call (sklearn estimators, keras.Model.fit, Lightning
  Trainer.fit, torch.optim steps), each flagged with whether a study trial was running at the time.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchmark.types import CheckResult

from .base import CheckContext, Checker, checker

log = logging.getLogger(__name__)

INJECTED_DIR = ".adaptbench/optuna"  # where the probe puts the storages of studies created without one
HPO_END_KINDS = ("optuna_optimize_end", "optuna_tell")

PROBE = r'''
import functools as _abo_functools
import inspect as _abo_inspect
import os as _abo_os
import threading as _abo_threading

_abo_lock = _abo_threading.Lock()
# depth: study.optimize calls running (any thread); open: trials asked outside optimize and not yet told
_abo_state = {"depth": 0, "open": set(), "studies": 0, "phase": 0, "torch_seen": None}
_abo_fit_depth = _abo_threading.local()
# the events file is <workdir>/.adaptbench/<name>: paths are recorded relative to that work dir, so the
# harness finds them again whatever the script's cwd was and wherever the sandbox mounted the work dir
_abo_events = _abo_os.environ.get("ADAPTBENCH_EVENTS") or _abo_os.path.join(_abo_os.getcwd(), ".adaptbench", "x")
_abo_root = _abo_os.path.dirname(_abo_os.path.dirname(_abo_os.path.abspath(_abo_events)))
_abo_db_dir = _abo_os.path.join(_abo_os.path.dirname(_abo_os.path.abspath(_abo_events)), "optuna")


def _abo_in_study():
    return _abo_state["depth"] > 0 or bool(_abo_state["open"])


def _abo_rel(path):
    path = _abo_os.path.abspath(path)
    inside = path.startswith(_abo_root.rstrip("/") + "/")
    return _abo_os.path.relpath(path, _abo_root) if inside else None


def _abo_describe_storage(storage):
    """(url or None, kind) for a storage argument, as the checker can find it again."""
    if storage is None:
        return None, "none"
    if isinstance(storage, str):
        url = storage
    else:
        inner = getattr(storage, "_backend", storage)  # optuna's _CachedStorage wraps an RDBStorage
        url = getattr(inner, "url", None)
        if url is None:
            return None, type(inner).__name__
    info = {"url": url, "kind": "url"}
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].split("?")[0]
        info.update(kind="sqlite", path=_abo_os.path.abspath(path), rel=_abo_rel(path))
    return info, info["kind"]


def _abo_fresh_storage():
    """One sqlite file per study: in-memory studies may share a name, a shared file would refuse that."""
    with _abo_lock:
        _abo_state["studies"] += 1
        n = _abo_state["studies"]
    _abo_os.makedirs(_abo_db_dir, exist_ok=True)
    name = "study-%s-%d.db" % (__import__("uuid").uuid4().hex[:8], n)
    return "sqlite:///" + _abo_os.path.join(_abo_db_dir, name)


def _abo_wrap_create_study(optuna, original):
    @_abo_functools.wraps(original)
    def create_study(*args, **kwargs):
        try:
            bound = _abo_inspect.signature(original).bind_partial(*args, **kwargs)
        except TypeError:  # the script's own mistake: let optuna report it exactly as it would
            return original(*args, **kwargs)
        storage = bound.arguments.get("storage")
        in_memory = storage is None or isinstance(storage, optuna.storages.InMemoryStorage)
        if in_memory:
            try:
                bound.arguments["storage"] = _abo_fresh_storage()
                study = original(*bound.args, **bound.kwargs)
                info, kind = _abo_describe_storage(bound.arguments["storage"])
                _adaptbench_event("optuna_study", call="create_study", study=study.study_name, injected=True,
                                  storage=info, storage_kind=kind)
                return study
            except Exception as exc:  # never let the observer break the script: fall back to its own call
                _adaptbench_event("probe_error", probe="optuna_hpo", error="storage injection: %r" % (exc,))
        study = original(*args, **kwargs)
        info, kind = _abo_describe_storage(storage)
        _adaptbench_event("optuna_study", call="create_study", study=study.study_name, injected=False,
                          storage=info, storage_kind=kind)
        return study
    create_study._abo_wrapped = True
    return create_study


def _abo_wrap_load_study(original):
    @_abo_functools.wraps(original)
    def load_study(*args, **kwargs):
        study = original(*args, **kwargs)
        bound = _abo_inspect.signature(original).bind_partial(*args, **kwargs)
        info, kind = _abo_describe_storage(bound.arguments.get("storage"))
        _adaptbench_event("optuna_study", call="load_study", study=study.study_name, injected=False,
                          storage=info, storage_kind=kind)
        return study
    load_study._abo_wrapped = True
    return load_study


def _abo_trial_summary(study):
    try:
        trials = study.get_trials(deepcopy=False)
    except Exception as exc:
        return {"summary_error": repr(exc)}
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    return {"n_trials": len(trials), "n_complete": len(complete),
            "n_complete_with_params": sum(1 for t in complete if t.params)}


def _abo_storage_of(study):
    return _abo_describe_storage(getattr(study, "_storage", None))[0]


def _abo_patch_study_class(Study):
    optimize, ask, tell = Study.optimize, Study.ask, Study.tell

    @_abo_functools.wraps(optimize)
    def wrapped_optimize(self, *args, **kwargs):
        with _abo_lock:
            _abo_state["depth"] += 1
            _abo_state["phase"] += 1
        _adaptbench_event("optuna_optimize_begin", study=self.study_name)
        try:
            return optimize(self, *args, **kwargs)
        finally:
            with _abo_lock:
                _abo_state["depth"] -= 1
                _abo_state["phase"] += 1
            _adaptbench_event("optuna_optimize_end", study=self.study_name, storage=_abo_storage_of(self),
                              **_abo_trial_summary(self))

    @_abo_functools.wraps(ask)
    def wrapped_ask(self, *args, **kwargs):
        trial = ask(self, *args, **kwargs)
        if _abo_state["depth"] == 0:  # ask/tell interface used by hand
            with _abo_lock:
                _abo_state["open"].add((id(self), trial.number))
                _abo_state["phase"] += 1
        return trial

    @_abo_functools.wraps(tell)
    def wrapped_tell(self, trial, *args, **kwargs):
        try:
            return tell(self, trial, *args, **kwargs)
        finally:
            number = trial if isinstance(trial, int) else getattr(trial, "number", None)
            key = (id(self), number)
            if key in _abo_state["open"]:
                with _abo_lock:
                    _abo_state["open"].discard(key)
                    _abo_state["phase"] += 1
                _adaptbench_event("optuna_tell", study=self.study_name, storage=_abo_storage_of(self),
                                  **_abo_trial_summary(self))

    Study.optimize, Study.ask, Study.tell = wrapped_optimize, wrapped_ask, wrapped_tell


def _abo_patch_optuna(optuna):
    import optuna.study as study_pkg
    import optuna.study.study as study_mod
    create = _abo_wrap_create_study(optuna, study_mod.create_study)
    load = _abo_wrap_load_study(study_mod.load_study)
    for module in (optuna, study_pkg, study_mod):
        module.create_study, module.load_study = create, load
    _abo_patch_study_class(study_mod.Study)


def _abo_record_fit(framework, target, func, args, kwargs, predictor=True):
    """Call a training entry point; record it once it returns, if it is the outermost one in this thread."""
    depth = getattr(_abo_fit_depth, "n", 0)
    if depth:
        return func(*args, **kwargs)
    in_study, start = _abo_in_study(), __import__("time").time()
    _abo_fit_depth.n = 1
    try:
        result = func(*args, **kwargs)
    finally:
        _abo_fit_depth.n = 0
    _adaptbench_event("fit", framework=framework, target=target, in_study=in_study, start=start,
                      predictor=predictor)
    return result


def _abo_wrap_fit(framework, func):
    if getattr(func, "_abo_wrapped", False):
        return func

    @_abo_functools.wraps(func)
    def fit(self, *args, **kwargs):
        # a scaler or encoder fitted after the study is preprocessing, not the final model
        predictor = framework != "sklearn" or hasattr(self, "predict")
        return _abo_record_fit(framework, type(self).__name__, func, (self,) + args, kwargs, predictor)
    fit._abo_wrapped = True
    return fit


_ABO_SKLEARN_METHODS = ("fit", "partial_fit", "fit_transform", "fit_predict")


def _abo_wrap_sklearn_class(cls):
    for name in _ABO_SKLEARN_METHODS:
        func = cls.__dict__.get(name)
        if _abo_inspect.isfunction(func):  # leave descriptors (e.g. available_if) and inherited methods alone
            setattr(cls, name, _abo_wrap_fit("sklearn", func))


def _abo_patch_sklearn_base(base):
    """Every estimator class defined from now on gets its own fit methods wrapped as it is created."""
    estimator = base.BaseEstimator
    own = estimator.__dict__.get("__init_subclass__")
    own = own.__func__ if isinstance(own, classmethod) else None

    def __init_subclass__(cls, **kwargs):
        if own is not None:
            own(cls, **kwargs)
        else:
            super(estimator, cls).__init_subclass__(**kwargs)
        try:
            _abo_wrap_sklearn_class(cls)
        except Exception as exc:
            _adaptbench_event("probe_error", probe="optuna_hpo", error="sklearn %s: %r" % (cls.__name__, exc))

    estimator.__init_subclass__ = classmethod(__init_subclass__)


def _abo_patch_method(framework, cls, name="fit"):
    setattr(cls, name, _abo_wrap_fit(framework, getattr(cls, name)))


def _abo_patch_torch(torch):
    """Plain PyTorch loops have no fit(): one event per phase in which optimizer steps happen."""
    def after_step(optimizer, args, kwargs):
        if getattr(_abo_fit_depth, "n", 0):
            return
        key = (_abo_state["phase"], _abo_in_study())
        if _abo_state["torch_seen"] != key:
            _abo_state["torch_seen"] = key
            _adaptbench_event("fit", framework="torch", target=type(optimizer).__name__, in_study=key[1],
                              start=__import__("time").time())
    __import__("importlib").import_module("torch.optim.optimizer").register_optimizer_step_post_hook(after_step)


_adaptbench_on_import("optuna", _abo_patch_optuna)
_adaptbench_on_import("sklearn.base", _abo_patch_sklearn_base)
_adaptbench_on_import("keras", lambda m: _abo_patch_method("keras", m.Model))
_adaptbench_on_import("lightning.pytorch", lambda m: _abo_patch_method("lightning", m.Trainer))
_adaptbench_on_import("pytorch_lightning", lambda m: _abo_patch_method("lightning", m.Trainer))
_adaptbench_on_import("torch", _abo_patch_torch)
'''


class OptunaHpoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_trials: int = Field(default=2, ge=1)  # completed trials a study needs
    require_final_training: bool = True  # a model trained outside the study, after it finished


@dataclass(frozen=True)
class StudyFacts:
    name: str
    source: str  # the storage the trials were read from, or "events" when only the probe saw them
    n_trials: int
    n_complete: int
    n_complete_with_params: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@checker("optuna_hpo")
class OptunaHpoChecker(Checker):
    Args = OptunaHpoArgs
    version = 2
    probe = PROBE

    def check(self, ctx: CheckContext) -> CheckResult:
        studies = collect_studies(ctx.workdir, ctx.events)
        details = {"studies": [s.as_dict() for s in studies]}
        if not studies:
            return self.fail("optuna.no_study", "no Optuna study was created", **details)
        enough = [s for s in studies if s.n_complete >= self.args.min_trials]
        if not enough:
            best = max(s.n_complete for s in studies)
            return self.fail("optuna.too_few_trials", f"the study completed {best} trial(s); at least "
                             f"{self.args.min_trials} are needed", **details)
        tuned = [s for s in enough if s.n_complete_with_params == s.n_complete]
        if not tuned:
            return self.fail("optuna.no_params", "completed trials suggest no hyperparameters "
                             "(the objective never calls trial.suggest_*)", **details)
        study = max(tuned, key=lambda s: s.n_complete)
        summary = f"study '{study.name}' completed {study.n_complete} trials with suggested parameters"
        if self.args.require_final_training:
            fits = final_fits(ctx.events)
            details["fits"] = fit_summary(ctx.events)
            if not fits:
                return self.fail("optuna.no_final_training", f"{summary}, but no model was trained after "
                                 "the study finished (retrain on study.best_params)", **details)
            summary += f"; then trained {fits[-1].get('target')} ({fits[-1].get('framework')})"
        return self.ok(summary, **details)


# ---------------------------------------------------------------- studies


def collect_studies(workdir: Path, events: list[dict[str, Any]]) -> list[StudyFacts]:
    """Studies read from every sqlite storage the script used; the probe's own records stand in for
    studies whose storage cannot be read back (another backend, or a file outside the work dir)."""
    studies: list[StudyFacts] = []
    read: set[Path] = set()
    for db in storage_files(workdir, events):
        found = read_sqlite(db)
        if found is not None:
            studies.extend(found)
            read.add(db)
    seen: set[str] = set()
    for event in reversed(events):  # the last summary of each study is the complete one
        if event.get("kind") not in HPO_END_KINDS or "n_complete" not in event:
            continue
        key = json.dumps([event.get("study"), event.get("storage"), event.get("pid")], sort_keys=True, default=str)
        if key in seen or _sqlite_path(workdir, event.get("storage")) in read:
            continue
        seen.add(key)
        studies.append(StudyFacts(name=event["study"], source="events", n_trials=event.get("n_trials", 0),
                                  n_complete=event["n_complete"],
                                  n_complete_with_params=event.get("n_complete_with_params", 0)))
    return studies


def storage_files(workdir: Path, events: list[dict[str, Any]]) -> list[Path]:
    found = sorted(p.resolve() for p in (workdir / INJECTED_DIR).glob("*.db"))
    for event in events:
        if event.get("kind") in ("optuna_study", *HPO_END_KINDS):
            path = _sqlite_path(workdir, event.get("storage"))
            if path is not None and path.is_file() and path not in found:
                found.append(path)
    return found


def _sqlite_path(workdir: Path, storage: Any) -> Path | None:
    """The file of a recorded sqlite storage, re-rooted in `workdir`; None when it lies outside it."""
    if not isinstance(storage, dict) or storage.get("kind") != "sqlite":
        return None
    root = workdir.resolve()
    rel = storage.get("rel")
    path = (root / rel).resolve() if rel else Path(storage.get("path", "")).resolve()
    return path if path.is_relative_to(root) else None


def read_sqlite(db: Path) -> list[StudyFacts] | None:
    """Every study in an Optuna sqlite file, read without writing to it; None if it is not readable."""
    import optuna

    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{db}", skip_table_creation=True)
    except Exception as exc:  # noqa: BLE001 -- a file the script wrote: not Optuna's, another version...
        log.warning("cannot open Optuna storage %s: %r", db, exc)
        return None
    try:
        return [_study_facts(storage, name, str(db)) for name in optuna.study.get_all_study_names(storage)]
    except Exception as exc:  # noqa: BLE001 -- same: judged from the probe's records instead
        log.warning("cannot read Optuna storage %s: %r", db, exc)
        return None
    finally:
        storage.remove_session()
        storage.engine.dispose()


def _study_facts(storage: Any, name: str, source: str) -> StudyFacts:
    import optuna

    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    return StudyFacts(name=name, source=source, n_trials=len(trials), n_complete=len(complete),
                      n_complete_with_params=sum(1 for t in complete if t.params))


# ---------------------------------------------------------------- final training


def final_fits(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Training calls made outside any trial, starting after the study's last trial ended, of a model: a
    predictor, or any estimator class the trials themselves trained (a tuned KernelPCA has no `predict`, but a
    scaler fitted after the study that no trial trained is preprocessing)."""
    last_end = max((e.get("t", 0.0) for e in events if e.get("kind") in HPO_END_KINDS), default=0.0)
    tuned = {e.get("target") for e in events if e.get("kind") == "fit" and e.get("in_study")} - {None}
    return [e for e in events if e.get("kind") == "fit" and not e.get("in_study")
            and (e.get("predictor", True) or e.get("target") in tuned)
            and e.get("start", e.get("t", 0.0)) >= last_end]


def fit_summary(events: list[dict[str, Any]]) -> dict[str, int]:
    fits = [e for e in events if e.get("kind") == "fit"]
    inside = sum(1 for e in fits if e.get("in_study"))
    return {"total": len(fits), "in_study": inside, "after_study": len(final_fits(events))}
