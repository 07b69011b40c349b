"""The checks a task made from a user's script gets are those the shipped tasks of its kind have (checked
against every task.toml), filled in from the baseline run; the task folder goes through the shipped loader."""

import tomllib

import pytest

from benchmark.adapt import read_script
from benchmark.adapt._errors import ScriptDoesNotRunError
from benchmark.adapt._spec import BaselineFacts, behaviour_files, choose
from benchmark.adapt._target import Target, parse_target
from benchmark.adapt._taskdir import TaskDraft, load_script_task, write_task_folder
from benchmark.tasks import load_tasks
from benchmark.types import Framework

from .conftest import REAL_WORLD

# the arguments a shipped task of the same kind sets the same way whatever its script (the others are derived:
# names from the instruction, model files and data paths from what the script writes)
STRUCTURAL = {
    "mlflow_tracking": ("min_metric_steps",),
    "wandb_tracking": ("min_history_rows", "require_finished"),
    "optuna_hpo": ("min_trials",),
    "pruning": ("method", "min_sparsity"),
    "mlflow_registration": (),
    "dvc_tracking": ("remote", "remote_path"),
}
SHIPPED = load_tasks()


@pytest.mark.parametrize("task", SHIPPED, ids=[t.id for t in SHIPPED])
def test_a_script_gets_the_checks_a_shipped_task_of_its_kind_has(task):
    shipped = {c.name: c.args for c in task.checks}
    capability = next(c for c in task.checks if c.name != "behaviour")
    facts = BaselineFacts(duration_s=5.0, outputs=tuple(shipped["behaviour"].get("files", [])),
                          committed=tuple(capability.args.get("paths", ())))
    target = Target(task.category, task.functionality, task.component, task.source_component)
    choices = choose(target, task.framework, read_script(task.input_path), facts)
    mine = {c.name: c.args for c in choices.checks}
    assert list(mine) == [capability.name, "behaviour"]
    for key in STRUCTURAL[capability.name]:
        assert mine[capability.name].get(key, 0) == capability.args.get(key, 0), key


def test_the_baseline_fills_in_the_checks():
    torch_script = read_script(REAL_WORLD / "pytorch_two_files/train.py")
    facts = BaselineFacts(duration_s=12.0, outputs=("model.pt", "logs/a.txt", "logs/b.txt", "logs/c.txt", "logs/d.txt"))
    choices = choose(parse_target("pruning:torch-prune", torch_script), Framework.pytorch, torch_script, facts)
    pruning, behaviour = choices.checks
    assert pruning.args == {"method": "torch_prune", "min_sparsity": 0.45, "model_file": "model.pt"}
    assert behaviour.args == {"files": ["model.pt", "logs/*"]}
    assert "state_dict to model.pt" in choices.instruction and choices.timeout_s == 180.0
    slow = BaselineFacts(duration_s=100.0, outputs=("model.pt",))
    assert choose(parse_target("hpo", torch_script), Framework.pytorch, torch_script, slow).timeout_s == 560.0


def test_pruning_a_script_that_saves_no_weights_names_the_fix():
    script = read_script(REAL_WORLD / "pytorch_two_files/train.py")
    with pytest.raises(ScriptDoesNotRunError, match="saves no PyTorch weights") as info:
        choose(parse_target("pruning", script), Framework.pytorch, script, BaselineFacts(1.0, ("metrics.json",)))
    assert "torch.save(model.state_dict()" in info.value.hint


def test_version_control_versions_what_the_script_committed():
    script = read_script(REAL_WORLD / "gitpython_snapshots/snapshot_measurements.py")
    target = parse_target("version-control:dvc", script)
    facts = BaselineFacts(3.0, ("data/measurements.csv",), ("data/measurements.csv",), 2, ("snapshot-1", "snapshot-2"))
    choices = choose(target, Framework.none, script, facts)
    assert choices.checks[0].args == {"paths": ["data/measurements.csv"], "remote": "storage",
                                      "remote_path": "dvc-storage", "history": True}
    assert choices.git_init and "snapshot-1, snapshot-2" in choices.instruction
    assert behaviour_files(facts, target) == ["data/measurements.csv"]
    with pytest.raises(ScriptDoesNotRunError, match="committed no data files"):
        choose(target, Framework.none, script, BaselineFacts(3.0, ("x.csv",)))


def test_the_task_folder_is_read_back_by_the_shipped_loader(tmp_path):
    script = read_script(REAL_WORLD / "gitpython_snapshots/snapshot_measurements.py")
    target = parse_target("version-control:dvc", script)
    facts = BaselineFacts(3.0, ("data/measurements.csv",), ("data/measurements.csv",), 1)
    tricky = 'Keep the "snapshot" tags; note: C:\\data\\x is not used.\nSecond line, ünïcode.'
    choices = choose(target, Framework.none, script, facts, user_instruction=tricky)
    draft = TaskDraft("snapshots-dvc", target, Framework.none, script, (), choices, "dvc.not_initialised")
    spec = write_task_folder(tmp_path / "snapshots-dvc", draft)
    assert tomllib.loads(spec.read_text())["instruction"].endswith(tricky)
    task = load_script_task(tmp_path / "snapshots-dvc", env={"ROWS": "10"})
    assert (task.source_component.value, task.git_init, task.entrypoint) == ("gitpython", True, script.path.name)
    assert [f.name for f in task.fixtures] == [".gitignore"] and "/.adaptbench/" in task.fixtures[0].read_text()
    assert task.input_code() == script.code and task.env == {"ROWS": "10"}
    assert task.fingerprint() != load_script_task(tmp_path / "snapshots-dvc").fingerprint()  # env is part of it
