"""The MLflow checkers and the six MLflow tasks, judged end to end: references and differently-written
correct adaptations pass, untouched inputs fail as their task says, and broken adaptations (mutants made
by small text edits of the reference) fail with the right code.

Scripts really run (grade()). Some defects are cheaper to make by altering a copy of a passing work dir, or
by judging it against stricter checker args (judge()), which is how stored executions are re-judged anyway.
Keras and Lightning scripts take over 30 s each on 2 cores (imports dominate): those tests are marked slow."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError

from benchmark.tasks import load_task
from benchmark.types import CheckSpec, Task
from sandbox.checkers import CHECKERS
from sandbox.checkers.mlflow_checks import (
    Candidate,
    MlflowTrackingChecker,
    RegistrationArgs,
    RunFacts,
    TrackingArgs,
    find_stores,
    probe_source,
)
from sandbox.grading import Graded, grade, judge

from .grading_helpers import describe, mutate

TASKS = Path(__file__).resolve().parents[3] / "tasks"
TRACK_TREE, REG_TREE = "mlflow-tracking-sklearn-tree", "mlflow-registration-sklearn-tree"
TRACK_KERAS, REG_KERAS = "mlflow-tracking-keras-mnist", "mlflow-registration-keras-mnist"
TRACK_LIGHTNING, REG_LIGHTNING = "mlflow-tracking-lightning-classifier", "mlflow-registration-lightning-classifier"
ALL_TASKS = (TRACK_TREE, REG_TREE, TRACK_KERAS, REG_KERAS, TRACK_LIGHTNING, REG_LIGHTNING)
SLOW_TASKS = {TRACK_KERAS, REG_KERAS, TRACK_LIGHTNING, REG_LIGHTNING}


def task(task_id: str) -> Task:
    return load_task(TASKS / task_id)


def run(task_id: str, code: str, root: Path) -> Graded:
    return grade(task(task_id), code, root / "work")


def rejudge(graded: Graded, with_task: Task, root: Path, alter=None) -> Graded:
    """Judge a copy of a finished work dir again, optionally altered first and/or under other checks."""
    copy = root / "copy"
    shutil.copytree(graded.execution.workdir, copy, symlinks=True)
    if alter is not None:
        alter(copy)
    execution = graded.execution.model_copy(update={"workdir": copy})
    return Graded(execution, judge(with_task, execution))


def with_checks(task_id: str, *checks: CheckSpec) -> Task:
    return task(task_id).model_copy(update={"checks": checks})


# ---------------------------------------------------------------- all tasks: reference passes, input fails


def _task_params():
    return [pytest.param(t, marks=pytest.mark.slow) if t in SLOW_TASKS else t for t in ALL_TASKS]


@pytest.mark.parametrize("task_id", _task_params())
def test_reference_passes(task_id, tmp_path):
    graded = run(task_id, task(task_id).reference_code(), tmp_path)
    assert graded.verdict.passed, describe(graded)


@pytest.mark.parametrize("task_id", _task_params())
def test_untouched_input_fails_as_declared(task_id, tmp_path):
    t = task(task_id)
    graded = run(task_id, t.input_code(), tmp_path)
    assert graded.execution.exit_code == 0, describe(graded)  # the original job itself works
    assert graded.verdict.code == t.input_fails_with, describe(graded)


# ---------------------------------------------------------------- tracking (sklearn: fast)


@pytest.fixture(scope="module")
def tree_reference(tmp_path_factory) -> Graded:
    graded = run(TRACK_TREE, task(TRACK_TREE).reference_code(), tmp_path_factory.mktemp("tree-ref"))
    assert graded.verdict.passed, describe(graded)
    return graded


TREE_INPUT = (TASKS / "examples/sklearn/tree_regression.py").read_text()
TREE_TRACKING_MUTANTS = {
    # imports mlflow but never logs anything: no store is ever created
    "never_logs": ("mlflow.no_store", TREE_INPUT, [("import numpy as np\n", "import mlflow\nimport numpy as np\n")]),
    # creates the experiment, never starts a run
    "experiment_only": ("mlflow.no_run", TREE_INPUT, [
        ("import numpy as np\n", "import mlflow\nimport numpy as np\n"),
        ("def main():\n", "def main():\n    mlflow.set_experiment('tree-regression')\n")]),
    "no_metrics": ("mlflow.no_metrics", None, [('mlflow.log_metrics({"test_mse": mse, "test_r2": r2})', "pass")]),
    "no_params": ("mlflow.no_params", None, [("mlflow.log_params(", "dict(")]),
    # dies without ending the run: os._exit skips the `with` block's end_run and mlflow's atexit hook
    "run_left_running": ("mlflow.run_not_finished", None, [
        ('        mlflow.log_artifact("predictions.csv")\n',
         '        mlflow.log_artifact("predictions.csv")\n        os._exit(0)\n')]),
}


@pytest.mark.parametrize("mutant", sorted(TREE_TRACKING_MUTANTS))
def test_tracking_mutant_fails_with_its_code(mutant, tmp_path):
    code, base, edits = TREE_TRACKING_MUTANTS[mutant]
    graded = run(TRACK_TREE, mutate(base or task(TRACK_TREE).reference_code(), *edits), tmp_path)
    assert graded.execution.exit_code == 0, describe(graded)
    assert graded.verdict.code == code, describe(graded)


TREE_TRACKING_VARIANTS = {
    # autologging instead of manual calls: params of the estimator, training metrics, post-training metrics
    "autolog": (TREE_INPUT, [("import numpy as np\n", "import mlflow\nimport numpy as np\n"),
                             ("def main():\n", "def main():\n    mlflow.autolog()\n")]),
    # a file store the script chose itself, as older tutorials do
    "file_store": (None, [('    mlflow.set_experiment("tree-regression")\n',
                           ('    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"\n'
                            '    mlflow.set_tracking_uri("file:./mlruns")\n'
                            '    mlflow.set_experiment("tree-regression")\n'))]),
    # a sqlite store under another name, in the default experiment, fluent calls without a `with` block
    "other_db_no_with": (None, [('    mlflow.set_experiment("tree-regression")\n',
                                 '    mlflow.set_tracking_uri("sqlite:///runs.db")\n'),
                                ("    with mlflow.start_run():\n", "    if mlflow.start_run():\n")]),
}


@pytest.mark.parametrize("variant", sorted(TREE_TRACKING_VARIANTS))
def test_tracking_variant_passes(variant, tmp_path):
    base, edits = TREE_TRACKING_VARIANTS[variant]
    graded = run(TRACK_TREE, mutate(base or task(TRACK_TREE).reference_code(), *edits), tmp_path)
    assert graded.verdict.passed, describe(graded)


def test_a_single_final_metric_is_no_training_history(tree_reference, tmp_path):
    strict = with_checks(TRACK_TREE, CheckSpec(name="mlflow_tracking", args={"min_metric_steps": 2}))
    assert rejudge(tree_reference, strict, tmp_path).verdict.code == "mlflow.no_metric_history"


def test_the_required_experiment_name_is_enforced(tree_reference, tmp_path):
    named = with_checks(TRACK_TREE, CheckSpec(name="mlflow_tracking", args={"experiment_name": "other"}))
    assert rejudge(tree_reference, named, tmp_path / "a").verdict.code == "mlflow.no_run"
    named = with_checks(TRACK_TREE, CheckSpec(name="mlflow_tracking", args={"experiment_name": "tree-regression"}))
    assert rejudge(tree_reference, named, tmp_path / "b").verdict.passed


def test_a_failed_run_is_not_finished(tree_reference, tmp_path):
    def mark_failed(workdir: Path) -> None:
        with sqlite3.connect(workdir / "mlflow.db") as db:
            db.execute("UPDATE runs SET status = 'FAILED'")

    graded = rejudge(tree_reference, task(TRACK_TREE), tmp_path, mark_failed)
    assert graded.verdict.code == "mlflow.run_not_finished", describe(graded)


def test_judging_never_changes_the_store(tree_reference, tmp_path):
    db = tree_reference.execution.workdir / "mlflow.db"
    before = db.read_bytes()
    assert judge(task(TRACK_TREE), tree_reference.execution).passed
    assert db.read_bytes() == before


# ---------------------------------------------------------------- registration (sklearn: fast)


REG_TREE_MUTANTS = {
    # the model is logged but never registered
    "logged_not_registered": ("mlflow.no_registered_model", [('            registered_model_name="tree-regressor",\n', "")]),
    "wrong_name": ("mlflow.no_registered_model", [('registered_model_name="tree-regressor"',
                                                   'registered_model_name="TreeRegressor"')]),
    # plain pickle stores a reference to __main__.identity, which the loading process does not have
    "pickles_a_function_from_main": ("mlflow.model_not_loadable", [
        ("from sklearn.tree import DecisionTreeRegressor\n",
         ("from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import FunctionTransformer\n"
          "from sklearn.tree import DecisionTreeRegressor\n\n\ndef identity(x):\n    return x\n")),
        ("            model,\n            name=", "            make_pipeline(FunctionTransformer(identity), model),\n            name="),
        ("SERIALIZATION_FORMAT_CLOUDPICKLE", "SERIALIZATION_FORMAT_PICKLE")]),
}


@pytest.mark.parametrize("mutant", sorted(REG_TREE_MUTANTS))
def test_registration_mutant_fails_with_its_code(mutant, tmp_path):
    code, edits = REG_TREE_MUTANTS[mutant]
    graded = run(REG_TREE, mutate(task(REG_TREE).reference_code(), *edits), tmp_path)
    assert graded.execution.exit_code == 0, describe(graded)
    assert graded.verdict.code == code, describe(graded)


def fresh_probes(graded) -> list[Path]:
    return sorted((graded.execution.workdir / ".adaptbench").glob("probe*.py"))


def test_the_reference_is_judged_by_the_warm_probe_alone(tmp_path):
    graded = run(REG_TREE, task(REG_TREE).reference_code(), tmp_path)
    assert graded.verdict.passed, describe(graded)
    assert graded.verdict.checks[0].details["probe"] == "warm" and not fresh_probes(graded)


def test_a_model_that_needs_the_scripts_main_fails_in_the_warm_probe_too(tmp_path):
    """The warm child was forked before the script ran: it has no `identity`, so the fresh probe judges."""
    graded = run(REG_TREE, mutate(task(REG_TREE).reference_code(), *REG_TREE_MUTANTS["pickles_a_function_from_main"][1]),
                 tmp_path)
    assert graded.verdict.code == "mlflow.model_not_loadable", describe(graded)
    assert fresh_probes(graded)


BROKEN_PYFUNC = '''
import mlflow
import mlflow.pyfunc


class Broken(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        BREAK_LOAD

    def predict(self, context, model_input, params=None):
        raise RuntimeError("this model cannot predict")


with mlflow.start_run():
    mlflow.log_param("kind", "broken")
    mlflow.pyfunc.log_model(name="model", python_model=Broken(), pip_requirements=["mlflow"],
                            registered_model_name="tree-regressor")
open("predictions.csv", "w").write("x")
open("model.pkl", "w").write("x")
'''


@pytest.mark.parametrize("break_load, code, says", [
    ("pass", "mlflow.predict_failed", "cannot predict"),
    # loading kills the probe process: still the model's fault, not the harness's
    ("import os; os._exit(3)", "mlflow.model_not_loadable", "process ended while loading"),
])
def test_a_registered_model_that_breaks_fails(break_load, code, says, tmp_path):
    graded = run(REG_TREE, BROKEN_PYFUNC.replace("BREAK_LOAD", break_load), tmp_path)
    assert graded.verdict.code == code, describe(graded)
    assert says in graded.verdict.reason


def test_registration_with_skops_trusted_types_and_register_model_passes(tmp_path):
    """No input example, no signature: the probe falls back to the task's input_shape."""
    code = mutate(task(REG_TREE).reference_code(), (
        '''        mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            input_example=X_test[:5],
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", "cloudpickle"],
            registered_model_name="tree-regressor",
        )
''', '''        info = mlflow.sklearn.log_model(model, name="model", skops_trusted_types=["sklearn.tree._tree.Tree"],
                                        pip_requirements=["scikit-learn", "skops"])
        mlflow.register_model(info.model_uri, "tree-regressor")
'''))
    graded = run(REG_TREE, code, tmp_path)
    assert graded.verdict.passed, describe(graded)
    assert graded.verdict.checks[0].details["input_from"] == "task args"


# ---------------------------------------------------------------- Keras and Lightning variants (slow)


@pytest.mark.slow
def test_keras_autolog_passes_tracking(tmp_path):
    code = mutate((TASKS / "examples/keras/mnist_convnet.py").read_text(),
                  ("import keras\n", "import keras\nimport mlflow\n"),
                  ("    keras.utils.set_random_seed(SEED)\n", "    mlflow.keras.autolog()\n    keras.utils.set_random_seed(SEED)\n"))
    graded = run(TRACK_KERAS, code, tmp_path)
    assert graded.verdict.passed, describe(graded)


@pytest.mark.slow
def test_keras_final_metrics_only_have_no_history(tmp_path):
    code = mutate(task(TRACK_KERAS).reference_code(), (",\n                  callbacks=[mlflow.keras.MlflowCallback()])", ")"))
    graded = run(TRACK_KERAS, code, tmp_path)
    assert graded.verdict.code == "mlflow.no_metric_history", describe(graded)


LIGHTNING_MANUAL_LOGGING = [
    ("import lightning as L\n", "import lightning as L\nimport mlflow\n"),
    ('        self.log("val_acc", acc)\n',
     ('        self.log("val_acc", acc)\n'
      '        mlflow.log_metric("val_loss", loss.item(), step=self.current_epoch * 1000 + batch_idx)\n')),
    ("    trainer.fit(model, train_loader, val_loader)\n",
     "    mlflow.start_run()\n    mlflow.log_params(vars(args))\n    trainer.fit(model, train_loader, val_loader)\n"),
    ('    torch.save(model.state_dict(), "image_classifier.pt")\n',
     '    torch.save(model.state_dict(), "image_classifier.pt")\n    mlflow.end_run()\n'),
]


@pytest.mark.slow
def test_lightning_manual_logging_passes_tracking(tmp_path):
    code = mutate((TASKS / "examples/lightning/image_classifier.py").read_text(), *LIGHTNING_MANUAL_LOGGING)
    graded = run(TRACK_LIGHTNING, code, tmp_path)
    assert graded.verdict.passed, describe(graded)


@pytest.mark.slow
def test_lightning_pickle_format_registration_passes(tmp_path):
    """mlflow.pytorch pickles with cloudpickle, so even the LightningModule class from __main__ travels by value."""
    code = mutate(task(REG_LIGHTNING).reference_code(),
                  ("            input_example=example,\n",
                   '            input_example=example,\n            serialization_format="pickle",\n'))
    graded = run(REG_LIGHTNING, code, tmp_path)
    assert graded.verdict.passed, describe(graded)


# ---------------------------------------------------------------- the checkers' own logic (no execution)


def facts(**kw) -> RunFacts:
    base = {"run_id": "r1", "experiment": "e", "status": "FINISHED", "n_params": 2, "metric_keys": ("loss",),
            "longest_history": 3, "longest_key": "loss"}
    return RunFacts(**{**base, **kw})


@pytest.mark.parametrize("runs, args, code", [
    ([], {}, "mlflow.no_run"),
    ([facts(status="RUNNING"), facts(status="FAILED")], {}, "mlflow.run_not_finished"),
    ([facts(n_params=0)], {}, "mlflow.no_params"),
    ([facts(metric_keys=())], {}, "mlflow.no_metrics"),
    ([facts(longest_history=1)], {"min_metric_steps": 2}, "mlflow.no_metric_history"),
    ([facts(n_params=0), facts(run_id="r2", longest_history=1)], {"min_metric_steps": 5}, "mlflow.no_metric_history"),
    ([facts(n_params=0), facts(run_id="r2")], {"min_metric_steps": 3}, "ok"),
])
def test_judge_runs(runs, args, code):
    result = MlflowTrackingChecker(TrackingArgs(**args)).judge_runs(runs)
    assert result.code == code, result.reason


def test_no_store_in_an_empty_workdir(tmp_path):
    (tmp_path / "mlruns").mkdir()  # an artifact folder alone is not a store
    (tmp_path / "notes.db").write_bytes(b"not sqlite")
    assert find_stores(tmp_path) == []


@pytest.mark.parametrize("name", ["mlflow_tracking", "mlflow_registration"])
def test_args_reject_unknown_fields(name):
    with pytest.raises(ValidationError):
        CHECKERS.get(name).Args.model_validate({"min_param": 1, "nme": "x"})


def test_probe_source_never_inlines_store_text_as_code(tmp_path):
    """A hostile model name travels as data inside one JSON string literal."""
    evil = "x'); import os; os.system('touch pwned'); ('"
    source = probe_source([Candidate("sqlite:///mlflow.db", evil, "1")], RegistrationArgs(input_shape=[1, 2]))
    compile(source, "<probe>", "exec")
    literal = source.split("P = json.loads(", 1)[1].split("\n", 1)[0][:-1]
    assert json.loads(eval(literal))["candidates"][0]["name"] == evil


# ---------------------------------------------------------------- Keras models with custom objects (slow)

KERAS_COMPILE = '''    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
                  metrics=["accuracy"])
'''
KERAS_CUSTOM_OBJECTS = {
    # name: (code inserted before main(), compile call, expected code)
    "custom_loss_function": ('''def smoothed_crossentropy(y_true, y_pred):
    return keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.1)


''', KERAS_COMPILE.replace('loss="categorical_crossentropy"', "loss=smoothed_crossentropy"), "ok"),
    "custom_metric_class": ('''class TopTwoAccuracy(keras.metrics.TopKCategoricalAccuracy):
    def __init__(self, name="top2", **kwargs):
        super().__init__(k=2, name=name, **kwargs)


''', KERAS_COMPILE.replace('metrics=["accuracy"]', 'metrics=["accuracy", TopTwoAccuracy()]'), "ok"),
    # a layer nobody registered cannot be rebuilt by anyone loading the model: that stays a failure
    "unregistered_custom_layer": ('''class Scale(layers.Layer):
    def call(self, x):
        return x * 1.0


''', KERAS_COMPILE, "mlflow.model_not_loadable"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KERAS_CUSTOM_OBJECTS))
def test_keras_models_with_custom_objects_load_for_prediction(name, tmp_path):
    helper, compile_call, expected = KERAS_CUSTOM_OBJECTS[name]
    edits = [("def main():\n", helper + "def main():\n"), (KERAS_COMPILE, compile_call)]
    if name == "unregistered_custom_layer":
        edits.append(("            layers.Flatten(),\n", "            layers.Flatten(),\n            Scale(),\n"))
    graded = run(REG_KERAS, mutate(task(REG_KERAS).reference_code(), *edits), tmp_path)
    assert graded.execution.exit_code == 0, describe(graded)
    assert graded.verdict.code == expected, describe(graded)
    if expected != "ok":
        assert "Scale" in graded.verdict.reason and "register" in graded.verdict.reason.lower(), graded.verdict.reason
