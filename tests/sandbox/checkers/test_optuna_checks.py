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
from sandbox.checkers.optuna_checks import (
    OptunaHpoChecker,
    StudyFacts,
    compare_final,
    final_fits,
    tuned_slots,
)
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


IN_MEMORY = "events"  # a study without a storage is judged from the probe's records
# name -> (study and final training, where the checker must have read the trials from)
SKLEARN_PASSING = {
    "in_memory_study": (STUDY_THEN_RETRAIN, IN_MEMORY),
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
''', IN_MEMORY),
    "ask_tell_loop": ('''\
study = optuna.create_study(direction="minimize")
for _ in range(3):
    trial = study.ask()
    study.tell(trial, objective(trial))
model = DecisionTreeRegressor(random_state=0, **study.best_params).fit(X_train, y_train)
''', IN_MEMORY),
    # two in-memory studies may share a name: each is its own study in the records
    "two_in_memory_studies_with_one_name": ('''\
study = optuna.create_study(direction="minimize", study_name="tree")
study.optimize(objective, n_trials=3)
second = optuna.create_study(direction="minimize", study_name="tree")
second.optimize(objective, n_trials=1)
model = DecisionTreeRegressor(random_state=0, **study.best_params).fit(X_train, y_train)
''', IN_MEMORY),
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


# ---------------------------------------------------------------- the final training uses the best values

# enqueued trials make the best one certain: depth 6 fits sin(x) far better than 1 or 2, and 3 is never tried
ENQUEUED = '''\
study = optuna.create_study(direction="minimize")
for depth in (6, 1, 2):
    study.enqueue_trial({"max_depth": depth})
study.optimize(objective, n_trials=3)
'''
BEST_PARAMS_PASSING = {
    "set_params_from_best_trial": ENQUEUED + '''\
model = DecisionTreeRegressor(random_state=0)
model.set_params(**study.best_trial.params)
model.fit(X_train, y_train)
''',
    "best_values_by_hand": ENQUEUED + '''\
best = study.best_params
model = DecisionTreeRegressor(max_depth=best["max_depth"], random_state=0).fit(X_train, y_train)
''',
}
BEST_PARAMS_FAILING = {
    # name: (main, evidence the reason must quote: what the final training used, and the best value)
    "retrains_with_the_original_values": (ENQUEUED + '''\
model = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X_train, y_train)
''', ("max_depth=3", "max_depth=6")),
    "retrains_with_the_last_trials_values": (ENQUEUED + '''\
model = DecisionTreeRegressor(random_state=0, **study.trials[-1].params).fit(X_train, y_train)
''', ("max_depth=2", "max_depth=6")),
    "retrains_with_the_first_trial_of_a_renamed_suggestion": ('''\
study = optuna.create_study(direction="minimize")
for depth in (1, 6, 2):
    study.enqueue_trial({"depth": depth})
study.optimize(objective, n_trials=3)
model = DecisionTreeRegressor(max_depth=study.trials[0].params["depth"], random_state=0).fit(X_train, y_train)
''', ("depth=1", "depth=6")),
}
RENAMED_OBJECTIVE = TUNED_OBJECTIVE.replace('trial.suggest_int("max_depth", 1, 8)', 'trial.suggest_int("depth", 1, 8)')


@pytest.mark.parametrize("name", ["best_values_by_hand",
                                  pytest.param("set_params_from_best_trial", marks=pytest.mark.slow)])
def test_final_training_with_the_best_values_passes(name, tmp_path):
    verdict = run(SKLEARN_TASK, sklearn_script(BEST_PARAMS_PASSING[name]), tmp_path)
    assert verdict.passed, verdict.reason
    assert "max_depth=6" in verdict.reason
    assert optuna_details(verdict)["slots"] == {"max_depth": ["DecisionTreeRegressor.max_depth"]}


@pytest.mark.parametrize("name", [n if "original" in n else pytest.param(n, marks=pytest.mark.slow)
                                  for n in sorted(BEST_PARAMS_FAILING)])
def test_final_training_with_other_values_fails_and_says_which(name, tmp_path):
    main, evidence = BEST_PARAMS_FAILING[name]
    objective = RENAMED_OBJECTIVE if "renamed" in name else TUNED_OBJECTIVE
    verdict = run(SKLEARN_TASK, sklearn_script(main, objective), tmp_path)
    assert verdict.code == "optuna.not_best_params", verdict.reason
    assert all(e in verdict.reason for e in evidence), verdict.reason
    assert "study.best_params" in verdict.reason


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
    """No fit() to wrap: optimizer steps after the study are the final training, with the best lr."""
    verdict = run(SKLEARN_TASK, TORCH_SCRIPT, tmp_path)
    assert verdict.passed, verdict.reason
    assert "(torch)" in verdict.reason and "with the best trial's lr=" in verdict.reason
    assert "optimizer.lr" in optuna_details(verdict)["slots"]["lr"]


@pytest.mark.slow
def test_plain_torch_loop_written_with_param_groups_passes(tmp_path):
    code = mutate(TORCH_SCRIPT, "    opt = torch.optim.SGD(model.parameters(), lr=lr)\n",
                  '    opt = torch.optim.Adam([{"params": model[0].parameters()}, {"params": model[2].parameters()}],'
                  " lr=lr)\n")
    code = mutate(code, "model = train(**study.best_params)", 'model = train(lr=study.best_trial.params["lr"])')
    verdict = run(SKLEARN_TASK, code, tmp_path)
    assert verdict.passed, verdict.reason


def test_plain_torch_loop_retrained_with_another_lr_fails(tmp_path):
    code = mutate(TORCH_SCRIPT, "model = train(**study.best_params)", "model = train(lr=0.05)")
    verdict = run(SKLEARN_TASK, code, tmp_path)
    assert verdict.code == "optuna.not_best_params", verdict.reason
    assert "lr=0.05" in verdict.reason


KERAS_BATCH_SCRIPT = '''\
import keras
import numpy as np
import optuna

rng = np.random.default_rng(0)
x = rng.random((64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)


def train(learning_rate, units, steps=20):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model


def objective(trial):
    model = train(trial.suggest_float("learning_rate", 1e-3, 1e-1, log=True), trial.suggest_categorical("units", [4, 8]))
    return float(model.evaluate(x, y, verbose=0))


study = optuna.create_study(direction="minimize")
study.optimize(objective, n_trials=2)
FINAL
model.save("mnist_convnet.keras")
'''


@pytest.mark.slow
@pytest.mark.parametrize("final, code", [
    ("model = train(**study.best_params)", "ok"),
    ('model = train(learning_rate=0.0123, units=study.best_params["units"])', "optuna.not_best_params"),
    ("model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])\nmodel.predict(x, verbose=0)",
     "optuna.no_final_training"),
])
def test_keras_train_on_batch_counts_as_training(final, code, tmp_path):
    """Keras on torch never steps torch.optim: train_on_batch itself is the training call."""
    verdict = run(KERAS_TASK, KERAS_BATCH_SCRIPT.replace("FINAL", final), tmp_path)
    assert verdict.code == code, verdict.reason
    if code == "ok":
        assert "Dense.units" in optuna_details(verdict)["slots"]["units"]


@pytest.mark.slow
def test_keras_reference_retrained_with_fixed_values_fails(tmp_path):
    code = mutate(load_task(TASKS_DIR / KERAS_TASK).reference_code(), "model = build_model(**study.best_params)",
                  "model = build_model(filters=12, dropout=0.25, learning_rate=1e-3)")
    verdict = run(KERAS_TASK, code, tmp_path)
    assert verdict.code == "optuna.not_best_params", verdict.reason
    assert "filters=[12, 24] (Conv2D.filters)" in verdict.reason, verdict.reason  # the two layers it sets


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
def test_lightning_retrained_with_default_hyperparameters_fails(lightning_reference, tmp_path):
    code = mutate(lightning_reference, "    model = LitClassifier(**study.best_params)\n", "    model = LitClassifier()\n")
    verdict = run(LIGHTNING_TASK, code, tmp_path)
    assert verdict.code == "optuna.not_best_params", verdict.reason
    assert "learning_rate=0.001" in verdict.reason


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


# ---------------------------------------------------------------- where a tuned name went (no sandbox)


def _trial_fit(number, config):
    return {"kind": "fit", "in_study": True, "trial": ["s", number], "config": config}


def _study(trials, best):
    return StudyFacts(name="s", source="test", n_trials=len(trials), n_complete=len(trials),
                      n_complete_with_params=len(trials), trials=trials, best=(best,), best_number=0)


def test_a_slot_is_the_key_that_held_each_trials_value():
    study = _study({0: {"lr": 0.01, "depth": 3}, 1: {"lr": 0.2, "depth": 4}}, {"lr": 0.2, "depth": 4})
    events = [_trial_fit(0, {"Adam.lr": [0.01], "Tree.max_depth": [3], "Tree.min_leaf": [3]}),
              _trial_fit(1, {"Adam.lr": [0.2], "Tree.max_depth": [4], "Tree.min_leaf": [1]})]
    assert tuned_slots(study, events) == {"lr": {"Adam.lr"}, "depth": {"Tree.max_depth"}}  # min_leaf: chance, once


def test_keras_float32_values_and_any_slot_of_a_name_count():
    slots = {"lr": {"optimizer.learning_rate"}, "units": {"Dense.units"}}
    fit = {"target": "Sequential", "config": {"optimizer.learning_rate": [0.0031234566122293472],
                                              "Dense.units": [32, 1]}}
    assert compare_final([fit], slots, ({"lr": 0.0031234567, "units": 32},)).verdict == "ok"
    wrong = compare_final([fit], slots, ({"lr": 0.01, "units": 32},))
    assert wrong.verdict == "mismatch" and set(wrong.wrong) == {"lr"}


def test_a_final_training_without_any_tuned_setting_cannot_be_judged():
    scaler = {"target": "StandardScaler", "config": {"StandardScaler.with_mean": [True]}}
    assert compare_final([scaler], {"lr": {"optimizer.lr"}}, ({"lr": 0.1},)).verdict == "unverified"


def test_several_objectives_accept_any_trial_of_the_front():
    fit = {"target": "SGD", "config": {"optimizer.lr": [0.3]}}
    assert compare_final([fit], {"lr": {"optimizer.lr"}}, ({"lr": 0.1}, {"lr": 0.3})).verdict == "ok"
