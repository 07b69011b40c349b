"""Hyperparameter optimisation with Optuna: the script ran a study that completed enough trials with suggested
parameters, and then trained a final model outside the study with the study's best values.

Judged from two kinds of evidence:
- the Optuna storages the studies used (real artifacts): a sqlite storage the script chose is recorded by URL and
  read back. Only storages named by the probe's authenticated records are read. Trials, their parameters and the
  best trial come from there. A study in memory (Optuna's default) leaves no storage: its trials, their parameters
  and its best trial come from the probe's records, written by the script's own process as the sqlite file would
  be, so they are no less trustworthy. (The probe used to give such studies a sqlite file: that cost 1.5-2.5 s per
  run, half the run time of a short scikit-learn study; issue 15.)
- the probe's records (sandbox/checkers/_optuna_probe.py): every top-level training call, the trial it ran in and
  the configuration it trained under (estimator parameters, optimizer settings, module/layer attributes, hparams,
  fit arguments).

Best values. Where each tuned name went is learnt from the trials themselves: a configuration key (say
`Adam.lr` for a suggestion named "learning_rate") is a slot of a name when, in every trial that trained, it held
the value that trial suggested. The final training must hold the best trial's value in a slot of every tuned name
whose slots it has. A name whose value never shows up as such (it is transformed before use, or steers code
rather than a setting) cannot be followed and is not judged; the reason says so.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from benchmark.types import CheckResult

from ._optuna_probe import PROBE
from .base import CheckContext, Checker, checker

log = logging.getLogger(__name__)

HPO_END_KINDS = ("optuna_optimize_end", "optuna_tell")
REL_TOL = 1e-5  # Keras keeps a learning rate as float32
SHOWN = 4  # names quoted in a reason


class OptunaHpoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_trials: int = Field(default=2, ge=1)  # completed trials a study needs
    require_final_training: bool = True  # a model trained outside the study, after it finished
    require_best_params: bool = True  # ... with the best trial's values for the tuned names it can be followed in


@dataclass(frozen=True)
class StudyFacts:
    name: str
    source: str  # the storage the trials were read from, or "events" when only the probe saw them
    n_trials: int
    n_complete: int
    n_complete_with_params: int
    trials: dict[int, dict[str, Any]] = field(default_factory=dict)  # trial number -> suggested params
    best: tuple[dict[str, Any], ...] = ()  # the best trial's params (the Pareto front's, with several objectives)
    best_number: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "n_trials": self.n_trials, "n_complete": self.n_complete,
                "n_complete_with_params": self.n_complete_with_params, "best_number": self.best_number,
                "best": list(self.best)[:3]}


@checker("optuna_hpo")
class OptunaHpoChecker(Checker):
    Args = OptunaHpoArgs
    version = 4
    probe = PROBE

    def check(self, ctx: CheckContext) -> CheckResult:
        studies = collect_studies(ctx.workdir, ctx.events)
        details: dict[str, Any] = {"studies": [s.as_dict() for s in studies]}
        if not studies:
            return self.fail("optuna.no_study", _no_study_reason(ctx.events), **details)
        enough = [s for s in studies if s.n_complete >= self.args.min_trials]
        if not enough:
            best = max(studies, key=lambda s: s.n_complete)
            return self.fail("optuna.too_few_trials", f"study '{best.name}' completed {best.n_complete} of "
                             f"{best.n_trials} trial(s); at least {self.args.min_trials} must complete: run "
                             f"study.optimize(objective, n_trials={max(self.args.min_trials, 3)}) and let the "
                             "objective return a value", **details)
        tuned = [s for s in enough if s.n_complete_with_params == s.n_complete]
        if not tuned:
            study = max(enough, key=lambda s: s.n_complete)
            return self.fail("optuna.no_params", f"study '{study.name}' completed {study.n_complete} trials, but "
                             f"{study.n_complete - study.n_complete_with_params} of them suggested no "
                             "hyperparameter: the objective must take its values from trial.suggest_int/"
                             "suggest_float/suggest_categorical", **details)
        study = max(tuned, key=lambda s: s.n_complete)
        summary = f"study '{study.name}' completed {study.n_complete} trials with suggested parameters"
        if not self.args.require_final_training:
            return self.ok(summary, **details)
        fits = final_fits(ctx.events)
        details["fits"] = fit_summary(ctx.events)
        if not fits:
            return self.fail("optuna.no_final_training", _no_final_reason(summary, ctx.events), **details)
        summary += f"; then trained {fits[-1].get('target')} ({fits[-1].get('framework')})"
        if not self.args.require_best_params:
            return self.ok(summary, **details)
        return self._judge_best(study, fits, ctx.events, summary, details)

    def _judge_best(self, study: StudyFacts, fits: list[dict[str, Any]], events: list[dict[str, Any]],
                    summary: str, details: dict[str, Any]) -> CheckResult:
        slots = tuned_slots(study, events)
        details["slots"] = {name: sorted(keys)[:6] for name, keys in slots.items()}
        untraced = sorted(set().union(*(p.keys() for p in study.trials.values())) - set(slots)) if study.trials else []
        details["untraced"] = untraced
        outcome = compare_final(fits, slots, study.best)
        details["final_check"] = outcome.as_dict()
        if outcome.verdict == "mismatch":
            return self.fail("optuna.not_best_params", _mismatch_reason(study, outcome), **details)
        if outcome.verdict == "ok":
            names = ", ".join(f"{n}={_show(v)}" for n, v in list(outcome.used.items())[:SHOWN])
            return self.ok(f"{summary}, with the best trial's {names}", **details)
        why = ("the trials' training configurations do not show any tuned value" if not slots else
               "the final training's configuration holds none of the tuned settings")
        return self.ok(f"{summary} (whether it used the best values could not be checked: {why})", **details)


# ---------------------------------------------------------------- reasons


def _no_study_reason(events: list[dict[str, Any]]) -> str:
    fits = sum(1 for e in events if e.get("kind") == "fit")
    trained = f" (the script trained {fits} model(s), none of them inside a study)" if fits else ""
    return (f"no Optuna study was created{trained}: create one with optuna.create_study() and run "
            "study.optimize(objective, n_trials=...)")


def _no_final_reason(summary: str, events: list[dict[str, Any]]) -> str:
    before = sum(1 for e in final_candidates(events) if e.get("start", 0.0) < last_study_end(events))
    where = (f" ({before} training call(s) ran before the study ended, none after)" if before else
             " (no training call ran outside the trials)")
    return (f"{summary}, but no model was trained after the study finished{where}: build the final model from "
            "study.best_params and train it once the study is done")


def _mismatch_reason(study: StudyFacts, outcome: FinalCheck) -> str:
    wrong = list(outcome.wrong.items())[:SHOWN]
    found = "; ".join(f"{name}={_show_values(values)} ({slot})" for name, (slot, values) in wrong)
    expected = ", ".join(f"{name}={_show(outcome.best[name])}" for name, _ in wrong)
    trial = f" (trial {study.best_number})" if study.best_number is not None else ""
    return (f"the final training of {outcome.target} did not use the study's best values: it trained with {found}, "
            f"but the best trial{trial} found {expected}; build the final model from study.best_params")


def _show(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def _show_values(values: list[Any]) -> str:
    shown = [_show(v) for v in values[:3]]
    return shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + ("..." if len(values) > 3 else "") + "]"


# ---------------------------------------------------------------- studies


def collect_studies(workdir: Path, events: list[dict[str, Any]]) -> list[StudyFacts]:
    """Studies read from every sqlite storage the probe saw the script use; the probe's own records stand in
    for studies whose storage cannot be read back (another backend, or a file outside the work dir)."""
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
        key = _study_key(event)
        if key in seen or _sqlite_path(workdir, event.get("storage")) in read:
            continue
        seen.add(key)
        studies.append(_study_from_events(event, events))
    for event in events:  # created (or loaded) but never optimized nor told: a study without trials
        if event.get("kind") != "optuna_study":
            continue
        key = _study_key(event)
        if key in seen or _sqlite_path(workdir, event.get("storage")) in read:
            continue
        seen.add(key)
        studies.append(StudyFacts(name=str(event.get("study")), source="events", n_trials=0, n_complete=0,
                                  n_complete_with_params=0))
    return studies


def _study_key(event: dict[str, Any]) -> str:
    """One study in the records: its name, its storage (a URL, or an in-memory storage's number) and process."""
    return json.dumps([event.get("study"), event.get("storage"), event.get("pid")], sort_keys=True, default=str)


def _study_from_events(end: dict[str, Any], events: list[dict[str, Any]]) -> StudyFacts:
    storage = end.get("storage")
    trials = {int(e["number"]): dict(e.get("params") or {}) for e in events
              if e.get("kind") == "optuna_trial" and e.get("study") == end.get("study")
              and e.get("storage", storage) == storage and isinstance(e.get("number"), int)}
    best = tuple(b for b in end.get("best_params") or [] if isinstance(b, dict))
    return StudyFacts(name=str(end.get("study")), source="events", n_trials=end.get("n_trials", 0),
                      n_complete=end["n_complete"], n_complete_with_params=end.get("n_complete_with_params", 0),
                      trials=trials, best=best, best_number=end.get("best_number"))


def storage_files(workdir: Path, events: list[dict[str, Any]]) -> list[Path]:
    """The sqlite files the probe's records name (a file merely lying in the work dir is no evidence)."""
    found: list[Path] = []
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
    except Exception as exc:
        log.warning("cannot open Optuna storage %s: %r", db, exc)
        return None
    try:
        return [_study_facts(storage, name, str(db)) for name in optuna.study.get_all_study_names(storage)]
    except Exception as exc:
        log.warning("cannot read Optuna storage %s: %r", db, exc)
        return None
    finally:
        storage.remove_session()
        storage.engine.dispose()


def _study_facts(storage: Any, name: str, source: str) -> StudyFacts:
    import optuna

    study = optuna.load_study(study_name=name, storage=storage)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best, number = _best_of(study, complete)
    return StudyFacts(name=name, source=source, n_trials=len(trials), n_complete=len(complete),
                      n_complete_with_params=sum(1 for t in complete if t.params),
                      trials={t.number: dict(t.params) for t in trials if t.params}, best=best, best_number=number)


def _best_of(study: Any, complete: list[Any]) -> tuple[tuple[dict[str, Any], ...], int | None]:
    if not complete:
        return (), None
    if len(study.directions) == 1:
        best = study.best_trial
        return (dict(best.params),), best.number
    return tuple(dict(t.params) for t in study.best_trials), None


# ---------------------------------------------------------------- final training


def last_study_end(events: list[dict[str, Any]]) -> float:
    return max((e.get("t", 0.0) for e in events if e.get("kind") in HPO_END_KINDS), default=0.0)


def final_candidates(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Training calls made outside any trial, of a model: a predictor, or any estimator class the trials
    themselves trained (a tuned KernelPCA has no `predict`, but a scaler no trial trained is preprocessing)."""
    tuned = {e.get("target") for e in events if e.get("kind") == "fit" and e.get("in_study")} - {None}
    return [e for e in events if e.get("kind") == "fit" and not e.get("in_study")
            and (e.get("predictor", True) or e.get("target") in tuned)]


def final_fits(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates that started after the study's last trial ended."""
    last_end = last_study_end(events)
    return [e for e in final_candidates(events) if e.get("start", e.get("t", 0.0)) >= last_end]


def fit_summary(events: list[dict[str, Any]]) -> dict[str, int]:
    fits = [e for e in events if e.get("kind") == "fit"]
    inside = sum(1 for e in fits if e.get("in_study"))
    return {"total": len(fits), "in_study": inside, "after_study": len(final_fits(events))}


# ---------------------------------------------------------------- best values: where each name went


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12)
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a is None and b is None


def _holds(config: dict[str, list[Any]], key: str, value: Any) -> bool:
    return any(same_value(value, v) for v in config.get(key, []))


def _config(fit: dict[str, Any]) -> dict[str, list[Any]]:
    config = fit.get("config")
    return {k: v for k, v in config.items() if isinstance(v, list)} if isinstance(config, dict) else {}


def tuned_slots(study: StudyFacts, events: list[dict[str, Any]]) -> dict[str, set[str]]:
    """name -> the configuration keys that held the suggested value in every trial that trained."""
    by_trial: dict[int, list[dict[str, list[Any]]]] = {}
    for e in events:
        trial = e.get("trial")
        if (e.get("kind") == "fit" and e.get("in_study") and isinstance(trial, list) and len(trial) == 2
                and trial[0] == study.name and isinstance(trial[1], int) and trial[1] in study.trials):
            by_trial.setdefault(trial[1], []).append(_config(e))
    slots: dict[str, set[str]] = {}
    for name in sorted(set().union(*(p.keys() for p in study.trials.values())) if study.trials else ()):
        common: set[str] | None = None
        for number, configs in by_trial.items():
            if name not in study.trials[number]:
                continue
            value = study.trials[number][name]
            keys = {k for config in configs for k in config if _holds(config, k, value)}
            common = keys if common is None else common & keys
        if common:
            slots[name] = common
    return slots


@dataclass
class FinalCheck:
    verdict: str  # "ok" | "mismatch" | "unverified"
    target: str = ""
    used: dict[str, Any] = field(default_factory=dict)  # name -> best value found in the final training
    wrong: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)  # name -> (slot, values found there)
    best: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "target": self.target, "used": self.used,
                "wrong": {n: {"slot": s, "values": v[:5]} for n, (s, v) in self.wrong.items()}}


def compare_final(fits: list[dict[str, Any]], slots: dict[str, set[str]],
                  best: tuple[dict[str, Any], ...]) -> FinalCheck:
    """ok when some final training holds, for every tuned name it has a slot of, the best value in one of
    them; mismatch when final trainings have such slots but none holds all best values."""
    closest: FinalCheck | None = None
    for fit in reversed(fits):
        config = _config(fit)
        present = {name: sorted(keys & config.keys()) for name, keys in slots.items() if keys & config.keys()}
        if not present:
            continue
        for params in best:
            outcome = _against(fit, config, present, params)
            if outcome.verdict == "ok":
                return outcome
            if closest is None or len(outcome.wrong) < len(closest.wrong):
                closest = outcome
    return closest or FinalCheck("unverified")


def _against(fit: dict[str, Any], config: dict[str, list[Any]], present: dict[str, list[str]],
             params: dict[str, Any]) -> FinalCheck:
    outcome = FinalCheck("ok", target=str(fit.get("target")), best=params)
    for name, keys in present.items():
        if name not in params:
            continue
        if any(_holds(config, k, params[name]) for k in keys):
            outcome.used[name] = params[name]
        else:
            outcome.wrong[name] = (keys[0], config[keys[0]])
    if outcome.wrong:
        outcome.verdict = "mismatch"
    return outcome
