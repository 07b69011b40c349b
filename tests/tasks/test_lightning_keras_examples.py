"""Static checks on the curated Lightning and Keras examples of the study's breadth and their tasks
(fast: nothing is run; `adaptbench validate` runs them for real).

Each example compiles, honours ADAPTBENCH_SMOKE and saves its trained model (torch.save of a state_dict for
Lightning, model.save(".keras") for Keras); each of its three tasks loads, names that example as its input,
writes that model file as the behaviour check and has a reference that compiles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from benchmark.tasks import load_task

TASKS = Path(__file__).resolve().parents[2] / "tasks"
EXAMPLES = TASKS / "examples"

# (framework, example file) -> (task slug, the model file the example writes)
CASES = {
    ("lightning", "language_model.py"): ("language-model", "language_model.pt"),
    ("lightning", "dqn.py"): ("dqn", "dqn.pt"),
    ("lightning", "gan.py"): ("gan", "gan.pt"),
    ("keras", "asr_transformer.py"): ("asr-transformer", "asr_transformer.keras"),
    ("keras", "dqn.py"): ("dqn", "dqn.keras"),
    ("keras", "super_resolution.py"): ("super-resolution", "super_resolution.keras"),
}
KINDS = ("mlflow-tracking", "mlflow-registration", "optuna-hpo")
IDS = [f"{fw}/{name}" for fw, name in CASES]


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def call_name(node: ast.Call) -> str:
    return ast.unparse(node.func)


def string_args(node: ast.Call) -> list[str]:
    return [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def saved_files(tree: ast.AST, framework: str) -> set[str]:
    """File names the script saves its model to."""
    out = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = call_name(node)
        if framework == "lightning" and name == "torch.save" and node.args:
            if "state_dict" in ast.unparse(node.args[0]):
                out.update(string_args(node))
        if framework == "keras" and name.endswith(".save"):
            out.update(s for s in string_args(node) if s.endswith(".keras"))
    return out


@pytest.mark.parametrize(("framework", "example"), list(CASES), ids=IDS)
def test_example_is_smoke_aware_and_saves_its_model(framework, example):
    path = EXAMPLES / framework / example
    source = path.read_text(encoding="utf-8")
    tree = parse(path)
    compile(source, str(path), "exec")
    assert "ADAPTBENCH_SMOKE" in source
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert ("lightning" if framework == "lightning" else "keras") in imported
    assert not imported & {"mlflow", "optuna", "wandb", "gym", "gymnasium", "torchvision", "tensorflow"}
    assert CASES[(framework, example)][1] in saved_files(tree, framework)
    assert '__name__ == "__main__"' in source


@pytest.mark.parametrize(("framework", "example"), list(CASES), ids=IDS)
def test_lightning_examples_keep_the_quiet_trainer_defaults(framework, example):
    if framework != "lightning":
        pytest.skip("Keras example")
    trainers = [node for node in ast.walk(parse(EXAMPLES / framework / example))
                if isinstance(node, ast.Call) and call_name(node) == "L.Trainer"]
    assert trainers
    for trainer in trainers:
        kwargs = {k.arg: ast.unparse(k.value) for k in trainer.keywords}
        assert kwargs.get("logger") == "False"
        assert kwargs.get("enable_progress_bar") == "False"
        assert kwargs.get("enable_checkpointing") == "False"


@pytest.mark.parametrize(("framework", "example"), list(CASES), ids=IDS)
@pytest.mark.parametrize("kind", KINDS)
def test_tasks_use_the_example(framework, example, kind):
    slug, model_file = CASES[(framework, example)]
    folder = TASKS / f"{kind}-{framework}-{slug}"
    task = load_task(folder)
    assert task.id == folder.name
    assert task.input_path.resolve() == (EXAMPLES / framework / example).resolve()
    reference = task.reference_path.read_text(encoding="utf-8")
    compile(reference, str(task.reference_path), "exec")
    behaviour = [c for c in task.checks if c.name == "behaviour"]
    assert behaviour and model_file in behaviour[0].args["files"]
    if kind == "mlflow-registration":
        registration = next(c for c in task.checks if c.name == "mlflow_registration")
        name = registration.args["name"]
        assert f"'{name}'" in task.instruction
        assert f'"{name}"' in reference
