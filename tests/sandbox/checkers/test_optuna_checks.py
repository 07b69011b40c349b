"""Optuna HPO checker and tasks: the references pass, the untouched inputs fail with optuna.no_study,
mutants that skip one part of the job fail with the matching code, and correct adaptations written
differently pass. Every script really runs in the sandbox; the verdict comes from its storages and
the probe's events."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from benchmark.tasks import load_task
from benchmark.types import Verdict
from sandbox.checkers.optuna_checks import OptunaHpoChecker, final_fits
from sandbox.grading import grade

log = logging.getLogger(__name__)

TASKS_DIR = Path(__file__).resolve().parents[3] / "tasks"
SKLEARN_TASK = "optuna-hpo-sklearn-tree"
KERAS_TASK = "optuna-hpo-keras-mnist"
LIGHTNING_TASK = "optuna-hpo-lightning-classifier"


def run(task_id: str, code: str, tmp_path: Path) -> Verdict:
    verdict = grade(load_task(TASKS_DIR / task_id), code, tmp_path / "w").verdict
    log.info("%s: %s %s (%s)", task_id, verdict.status.value, verdict.code, verdict.reason)
    return verdict


def optuna_details(verdict: Verdict) -> dict:
    return next(c.details for c in verdict.checks if c.name == "optuna_hpo")


def mutate(code: str, old: str, new: str) -> str:
    """Replace exactly one occurrence, so a mutant can never silently equal the original."""
    assert code.count(old) == 1, f"expected exactly one {old!r} in the script"
    return code.replace(old, new)


# ---------------------------------------------------------------- small sklearn scripts

SKLEARN_SCRIPT = '''\
import pickle

import numpy as np
import optuna
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeRegressor

rng = np.random.RandomState(0)
X = np.sort(5 * rng.rand(200, 1), axis=0)
y = np.sin(X).ravel() + 0.1 * rng.randn(200)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
trained = {{}}


def objective(trial):
{objective}


{main}

with open("model.pkl", "wb") as fh:
    pickle.dump(model, fh)
np.savetxt("predictions.csv", model.predict(X_test), delimiter=",")
'''

TUNED_OBJECTIVE = '''\
depth = trial.suggest_int("max_depth", 1, 8)
model = DecisionTreeRegressor(max_depth=depth, random_state=0).fit(X_train, y_train)
trained["last"] = model
return float(np.mean((model.predict(X_test) - y_test) ** 2))
'''

STUDY_THEN_RETRAIN = '''\
study = optuna.create_study(direction="minimize")
study.optimize(objective, n_trials=3)
model = DecisionTreeRegressor(random_state=0, **study.best_params).fit(X_train, y_train)
'''


def sklearn_script(main: str = STUDY_THEN_RETRAIN, objective: str = TUNED_OBJECTIVE) -> str:
    return SKLEARN_SCRIPT.format(objective=textwrap.indent(objective, "    "), main=main)


INJECTED = "/.adaptbench/optuna/study-"  # where the probe persists studies created without a storage
# name -> (study and final training, where the checker must have read the trials from)
SKLEARN_PASSING = {
    "in_memory_study": (STUDY_THEN_RETRAIN, INJECTED),
    "explicit_sqlite_storage": (mutate(STUDY_THEN_RETRAIN, 'create_study(direction="minimize")',
                                       'create_study(direction="minimize", storage="sqlite:///tuning.db", '
                                       'study_name="tree")'), "/w/tuning.db"),
    "retrain_in_helper": ('''\
def tune(n_trials=3):
    study = optuna.create_study(direction="minimize")
    study.optimize(objective, n_trials=n_trials)
    return study.best_params


def fit_best(params):
    return DecisionTreeRegressor(random_state=0, **params).fit(X_train, y_train)


model = fit_best(tune())
''', INJECTED),
    "ask_tell_loop": ('''\
study = optuna.create_study(direction="minimize")
for _ in range(3):
    trial = study.ask()
    study.tell(trial, objective(trial))
model = DecisionTreeRegressor(random_state=0, **study.best_params).fit(X_train, y_train)
''', INJECTED),
    # a storage the harness does not read back: judged from the probe's own trial summary
    "journal_storage_and_pipeline": ('''\
from optuna import create_study
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

study = create_study(direction="minimize", storage=JournalStorage(JournalFileBackend("journal.log")))
study.optimize(objective, n_trials=3)
model = make_pipeline(StandardScaler(), DecisionTreeRegressor(random_state=0, **study.best_params))
model.fit(X_train, y_train)
''', "events"),
}

SKLEARN_FAILING = {
    "never_retrains": ("optuna.no_final_training", mutate(
        STUDY_THEN_RETRAIN, "model = DecisionTreeRegressor(random_state=0, **study.best_params).fit(X_train, y_train)",
        'model = trained["last"]'), TUNED_OBJECTIVE),
    "trains_only_before_study": ("optuna.no_final_training", '''\
model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X_train, y_train)
study = optuna.create_study(direction="minimize")
study.optimize(objective, n_trials=3)
''', TUNED_OBJECTIVE),
    "one_trial": ("optuna.too_few_trials", mutate(STUDY_THEN_RETRAIN, "n_trials=3", "n_trials=1"), TUNED_OBJECTIVE),
    "study_never_optimized": ("optuna.too_few_trials", '''\
study = optuna.create_study(direction="minimize")
model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X_train, y_train)
''', TUNED_OBJECTIVE),
    "objective_never_suggests": ("optuna.no_params", '''\
study = optuna.create_study(direction="minimize")
study.optimize(objective, n_trials=3)
model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X_train, y_train)
''', mutate(TUNED_OBJECTIVE, 'trial.suggest_int("max_depth", 1, 8)', "3")),
    "imports_optuna_without_study": ("optuna.no_study", '''\
model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X_train, y_train)
''', TUNED_OBJECTIVE),
}


@pytest.mark.parametrize("name", sorted(SKLEARN_PASSING))
def test_correct_sklearn_adaptations_pass(name, tmp_path):
    main, source = SKLEARN_PASSING[name]
    verdict = run(SKLEARN_TASK, sklearn_script(main), tmp_path)
    assert verdict.passed, verdict.reason
    details = optuna_details(verdict)
    assert details["fits"]["after_study"] >= 1
    assert [s["source"] for s in details["studies"] if source in s["source"]], details["studies"]


@pytest.mark.parametrize("name", sorted(SKLEARN_FAILING))
def test_sklearn_mutants_fail_with_the_right_code(name, tmp_path):
    code, main, objective = SKLEARN_FAILING[name]
    verdict = run(SKLEARN_TASK, sklearn_script(main, objective), tmp_path)
    assert verdict.status.value == "fail" and verdict.code == code, (verdict.code, verdict.reason)


TORCH_SCRIPT = '''\
import pickle

import numpy as np
import optuna
import torch

torch.manual_seed(0)
X = torch.linspace(0, 5, 200).unsqueeze(1)
y = torch.sin(X)


def train(lr, steps=30):
    model = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(X), y).backward()
        opt.step()
    return model


def objective(trial):
    model = train(trial.suggest_float("lr", 1e-3, 1e-1, log=True))
    return torch.nn.functional.mse_loss(model(X), y).item()


study = optuna.create_study()
study.optimize(objective, n_trials=3)
model = train(**study.best_params)
with open("model.pkl", "wb") as fh:
    pickle.dump(model, fh)
np.savetxt("predictions.csv", model(X).detach().numpy(), delimiter=",")
'''


def test_plain_torch_training_loop_counts_as_final_training(tmp_path):
    """No fit() to wrap: optimizer steps after the study are the final training."""
    verdict = run(SKLEARN_TASK, TORCH_SCRIPT, tmp_path)
    assert verdict.passed, verdict.reason
    assert "(torch)" in verdict.reason


# ---------------------------------------------------------------- the tasks themselves


@pytest.mark.parametrize("task_id", [
    SKLEARN_TASK,
    pytest.param(KERAS_TASK, marks=pytest.mark.slow),
    pytest.param(LIGHTNING_TASK, marks=pytest.mark.slow),
])
def test_reference_passes_and_input_fails(task_id, tmp_path):
    task = load_task(TASKS_DIR / task_id)
    reference = grade(task, task.reference_code(), tmp_path / "ref").verdict
    assert reference.passed, reference.reason
    untouched = grade(task, task.input_code(), tmp_path / "input").verdict
    assert untouched.code == task.input_fails_with == "optuna.no_study", untouched.reason


@pytest.fixture(scope="module")
def lightning_reference() -> str:
    return load_task(TASKS_DIR / LIGHTNING_TASK).reference_code()


@pytest.mark.slow
def test_lightning_integration_free_variant_passes(lightning_reference, tmp_path):
    """Validation accuracy from trainer.validate, an explicit sqlite storage, no optuna.integration."""
    code = mutate(lightning_reference, 'return trainer.callback_metrics["val_acc"].item()',
                  'return trainer.validate(model, val_loader, verbose=False)[0]["val_acc"]')
    code = mutate(code, "sampler=optuna.samplers.TPESampler(seed=args.seed))",
                  'storage="sqlite:///lightning-hpo.db", study_name="lit")')
    assert "optuna.integration" not in code
    verdict = run(LIGHTNING_TASK, code, tmp_path)
    assert verdict.passed, verdict.reason


@pytest.mark.slow
def test_lightning_study_that_only_tests_the_best_params_fails(lightning_reference, tmp_path):
    """Builds the model from best_params but never fits it: trainer.test is not training."""
    code = mutate(lightning_reference, "    trainer.fit(model, train_loader, val_loader)\n    results = trainer.test(",
                  "    results = trainer.test(")
    verdict = run(LIGHTNING_TASK, code, tmp_path)
    assert verdict.code == "optuna.no_final_training", verdict.reason


# ---------------------------------------------------------------- checker units (no sandbox)


def test_args_reject_unknown_fields():
    with pytest.raises(ValidationError):
        OptunaHpoChecker.Args.model_validate({"min_trial": 2})
    assert OptunaHpoChecker.Args.model_validate({}).min_trials == 2


def test_only_fits_outside_and_after_the_study_count():
    events = [
        {"kind": "fit", "in_study": False, "start": 1.0, "t": 1.5},  # the original training, before the study
        {"kind": "optuna_optimize_begin", "t": 2.0},
        {"kind": "fit", "in_study": True, "start": 2.1, "t": 2.2},
        {"kind": "optuna_optimize_end", "t": 3.0},
        {"kind": "fit", "in_study": False, "start": 3.5, "t": 4.0},
    ]
    assert [e["start"] for e in final_fits(events)] == [3.5]
    assert final_fits(events[:4]) == []
    preprocessing_only = events[:4] + [{"kind": "fit", "in_study": False, "start": 3.5, "predictor": False}]
    assert final_fits(preprocessing_only) == []


def test_a_tuned_model_without_predict_counts_as_final_training():
    study = [
        {"kind": "optuna_optimize_begin", "t": 2.0},
        {"kind": "fit", "in_study": True, "start": 2.1, "t": 2.2, "target": "KernelPCA", "predictor": False},
        {"kind": "optuna_optimize_end", "t": 3.0},
    ]
    refit = {"kind": "fit", "in_study": False, "start": 3.5, "t": 4.0, "target": "KernelPCA", "predictor": False}
    scaler = {"kind": "fit", "in_study": False, "start": 3.5, "t": 4.0, "target": "MinMaxScaler", "predictor": False}
    assert final_fits(study + [refit]) == [refit]
    assert final_fits(study + [scaler]) == []
