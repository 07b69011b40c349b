"""Task specs: every shipped task loads; malformed specs are rejected naming the file, the field and what is expected."""

import shutil
from pathlib import Path

import pytest

from benchmark.errors import TaskSpecError, UnknownNameError
from benchmark.tasks import load_task, load_tasks

GOOD = """
id = "demo"
version = 1
title = "Demo"
category = "inlining"
functionality = "experiment_tracking"
component = "mlflow"
framework = "sklearn"
input = "input.py"
input_fails_with = "mlflow.no_run"

[[checks]]
name = "behaviour"
"""


@pytest.fixture
def task_dir(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "input.py").write_text("print('hi')\n")
    (folder / "reference.py").write_text("print('hi')\n")
    (folder / "task.toml").write_text(GOOD)
    return folder


def test_good_spec_loads(task_dir):
    task = load_task(task_dir)
    assert task.id == "demo" and task.entrypoint == "input.py" and task.checks[0].name == "behaviour"


@pytest.mark.parametrize("edit,field,expected", [
    (("framework = \"sklearn\"", "framework = \"scikit\""), "framework", "sklearn"),
    (("version = 1", "version = \"one\""), "version", "integer"),
    (("title = \"Demo\"", "title = \"Demo\"\ncolour = \"red\""), "colour", "Extra inputs"),
    (("id = \"demo\"", "id = \"other\""), "id", "folder name"),
    (("name = \"behaviour\"", "name = \"behavior\""), "checks.0.name", "did you mean 'behaviour'"),
    (("input = \"input.py\"", "input = \"missing.py\""), "input", "does not exist"),
    (("input_fails_with = \"mlflow.no_run\"", ""), "input_fails_with", "required"),
])
def test_malformed_spec_names_file_field_and_expectation(task_dir, edit, field, expected):
    spec = task_dir / "task.toml"
    spec.write_text(GOOD.replace(*edit))
    with pytest.raises(TaskSpecError) as exc:
        load_task(task_dir)
    assert exc.value.field == field
    assert str(spec) in str(exc.value)
    assert expected in str(exc.value)


def test_translation_needs_source(task_dir):
    (task_dir / "task.toml").write_text(GOOD.replace('"inlining"', '"translation"'))
    with pytest.raises(TaskSpecError, match="source"):
        load_task(task_dir)


def test_invalid_toml_is_reported(task_dir):
    (task_dir / "task.toml").write_text("id = ")
    with pytest.raises(TaskSpecError, match="not valid TOML"):
        load_task(task_dir)


def test_unknown_task_id_suggests(tmp_path, task_dir):
    with pytest.raises(UnknownNameError, match="unknown task"):
        load_tasks(["dem"], tasks_dir=task_dir.parent)
    assert [t.id for t in load_tasks(["de*"], tasks_dir=task_dir.parent)] == ["demo"]


def test_every_shipped_task_loads():
    tasks = load_tasks()
    assert tasks, "the repository ships tasks"
    for task in tasks:
        assert task.input_path.is_file() and task.reference_path.is_file()
        assert task.reference_code() != task.input_code()


def test_fingerprint_ignores_where_the_checkout_lives_but_not_the_content(tasks_dir, tmp_path):
    import shutil

    from benchmark.tasks import load_task

    moved = tmp_path / "elsewhere" / "tasks"
    shutil.copytree(tasks_dir, moved)
    here, there = load_task(tasks_dir / "synthetic-0"), load_task(moved / "synthetic-0")
    assert here.input_path != there.input_path and here.fingerprint() == there.fingerprint()
    there.input_path.write_text(there.input_code() + "\n# changed\n")
    assert load_task(moved / "synthetic-0").fingerprint() != here.fingerprint()
