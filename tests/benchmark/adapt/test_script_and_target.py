"""Reading a user's script (imports, its own modules, the framework) and resolving `--to`: no sandbox run."""

from pathlib import Path

import pytest

from benchmark.adapt import ScriptError, parse_target, read_script, valid_targets
from benchmark.adapt._script import fixture_entries, logs_in_a_loop, string_argument
from benchmark.errors import UnknownNameError
from benchmark.types import Category, Component, Framework, Functionality

from .conftest import REAL_WORLD

FRAMEWORKS = {
    "sklearn_iris_cli/train_iris.py": Framework.sklearn,
    "sklearn_housing_csv/train_housing.py": Framework.sklearn,
    "pytorch_two_files/train.py": Framework.pytorch,
    "lightning_yaml_config/train.py": Framework.lightning,
    "keras_notebook/sales_forecast_notebook.py": Framework.keras,
    "gitpython_snapshots/snapshot_measurements.py": Framework.none,
}


@pytest.mark.parametrize("script,framework", FRAMEWORKS.items())
def test_framework_is_detected_from_the_imports(script, framework):
    assert read_script(REAL_WORLD / script).framework is framework


def test_functions_spread_over_two_files_bring_their_module_and_its_imports():
    info = read_script(REAL_WORLD / "pytorch_two_files/train.py")
    assert info.local_modules == ((REAL_WORLD / "pytorch_two_files/net.py").resolve(),)
    entries = fixture_entries(info, [])
    assert [(e.target, e.auto) for e in entries] == [(Path("net.py"), True)]


def test_fixtures_keep_their_place_relative_to_the_script(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rows.csv").write_text("a\n1\n")
    (tmp_path / "train.py").write_text("import pandas\npandas.read_csv('data/rows.csv')\n")
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere.yaml"
    elsewhere.write_text("lr: 1\n")
    info = read_script(tmp_path / "train.py")
    entries = fixture_entries(info, [tmp_path / "data" / "rows.csv", elsewhere])
    assert [e.target for e in entries] == [Path("data/rows.csv"), Path(elsewhere.name)]
    with pytest.raises(ScriptError, match="fixture '.*missing.csv' does not exist"):
        fixture_entries(info, [tmp_path / "missing.csv"])


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("def train(:\n    pass\n", "is not valid Python: .* \\(line 1\\)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a text file|not a Python script"),
])
def test_a_script_that_is_missing_or_not_python_is_refused(tmp_path, content, message):
    path = tmp_path / "train.py"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ScriptError, match=message):
        read_script(path)


def test_a_notebook_is_refused_with_the_export_command(tmp_path):
    path = tmp_path / "analysis.ipynb"
    path.write_text("{}")
    with pytest.raises(ScriptError, match="notebook") as info:
        read_script(path)
    assert "jupyter nbconvert --to script analysis.ipynb" in info.value.hint


@pytest.mark.parametrize("text,expected", [
    ("tracking", (Category.inlining, Functionality.experiment_tracking, Component.mlflow, None)),
    ("tracking:wandb", (Category.inlining, Functionality.experiment_tracking, Component.wandb, None)),
    ("registration", (Category.inlining, Functionality.model_registration, Component.mlflow, None)),
    ("hpo:optuna", (Category.inlining, Functionality.hyperparameter_optimization, Component.optuna, None)),
    ("pruning", (Category.inlining, Functionality.model_optimization, Component.nncf, None)),
    ("pruning:torch-prune", (Category.inlining, Functionality.model_optimization, Component.torch_prune, None)),
    ("model_optimization:torch_prune", (Category.inlining, Functionality.model_optimization, Component.torch_prune,
                                        None)),
])
def test_to_names_a_functionality_and_an_optional_component(text, expected):
    target = parse_target(text, read_script(REAL_WORLD / "pytorch_two_files/train.py"))
    assert (target.category, target.functionality, target.component, target.source_component) == expected


def test_a_script_using_the_source_component_makes_a_translation(tmp_path):
    gitpython = read_script(REAL_WORLD / "gitpython_snapshots/snapshot_measurements.py")
    target = parse_target("version-control:dvc", gitpython)
    assert (target.category, target.source_component) == (Category.translation, Component.gitpython)
    wandb_script = tmp_path / "train.py"
    wandb_script.write_text("import wandb\nrun = wandb.init(project='churn')\nfor i in range(3):\n    run.log({'x': i})\n")
    info = read_script(wandb_script)
    target = parse_target("tracking:mlflow", info)
    assert (target.category, target.source_component) == (Category.translation, Component.wandb)
    assert string_argument(info.code, "wandb.init", "project") == "churn" and logs_in_a_loop(info.code)


@pytest.mark.parametrize("text,message,hint", [
    ("trackin", "unknown functionality 'trackin' in --to", "did you mean tracking?"),
    ("tracking:neptune", "unknown component 'neptune' in --to", "available: tracking:mlflow"),
    ("version-control:dvc", "offered as a translation of gitpython code, and train.py does not use gitpython",
     "version-control:dvc (on gitpython code)"),
    ("hpo:mlflow", "no prompt template adds mlflow for hyperparameter optimization", "hpo:optuna"),
])
def test_unknown_or_unserved_to_is_an_error_listing_what_exists(text, message, hint):
    with pytest.raises(UnknownNameError) as info:
        parse_target(text, read_script(REAL_WORLD / "pytorch_two_files/train.py"))
    assert message in info.value.message and hint in info.value.hint


def test_every_valid_target_is_served_by_a_template():
    assert {"tracking:mlflow", "tracking:wandb", "registration:mlflow", "hpo:optuna", "pruning:nncf",
            "pruning:torch-prune", "version-control:dvc (on gitpython code)"} <= set(valid_targets())


def test_the_real_world_scripts_are_not_benchmark_tasks():
    from benchmark.tasks import load_tasks

    assert not list(REAL_WORLD.glob("*/task.toml")) and not (REAL_WORLD / "task.toml").exists()
    assert not [t.id for t in load_tasks() if REAL_WORLD in t.input_path.parents]
