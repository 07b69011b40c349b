"""Static checks on the curated PyTorch examples and their tasks (fast: nothing is run).

Each example compiles, honours ADAPTBENCH_SMOKE, defines an nn.Module subclass (nncf.prune fails on a bare
nn.Sequential), trains with a torch optimizer and saves a state_dict with torch.save; each of its tasks loads,
names that example as input and has a reference that compiles. `adaptbench validate` runs them for real.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from benchmark.tasks import load_task

TASKS = Path(__file__).resolve().parents[2] / "tasks"
PYTORCH = TASKS / "examples" / "pytorch"

# example file -> the slug of its tasks
EXAMPLES = {
    "resnet_training.py": "resnet",
    "dcgan.py": "dcgan",
    "vision_transformer.py": "vit",
    "seq2seq_transformer.py": "seq2seq",
    "gcn.py": "gcn",
    "siamese_network.py": "siamese",
    "fast_neural_style.py": "fast-neural-style",
    "word_language_model.py": "word-lm",
}
KINDS = ("wandb-tracking", "nncf-pruning", "torch-prune")


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def calls(tree: ast.AST) -> list[str]:
    """Dotted names of every call, e.g. 'torch.save', 'model.state_dict', 'torch.optim.Adam'."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
            out.append(".".join(reversed(parts)))
    return out


def saves_state_dict(tree: ast.AST) -> bool:
    return any(isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.save" and node.args
               and any(name.endswith("state_dict") for name in calls(node.args[0])) for node in ast.walk(tree))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_is_a_realistic_training_script(name):
    path = PYTORCH / name
    text = path.read_text(encoding="utf-8")
    tree = parse(path)
    compile(tree, str(path), "exec")
    assert "ADAPTBENCH_SMOKE" in text
    modules = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
               and any(ast.unparse(b) in ("nn.Module", "torch.nn.Module") for b in n.bases)]
    assert modules, f"{name} defines no nn.Module subclass"
    names = calls(tree)
    assert any(n.startswith("torch.optim.") and n.split(".")[2][:1].isupper() for n in names), "no torch optimizer"
    assert any(n.endswith(".backward") for n in names) and any(n.endswith(".step") for n in names)
    assert saves_state_dict(tree), f"{name} never saves a state_dict with torch.save"
    assert "torchvision" not in text and "urlretrieve" not in text and "requests" not in text


def test_the_suite_spans_short_and_long_examples():
    lengths = {name: len((PYTORCH / name).read_text(encoding="utf-8").splitlines()) for name in EXAMPLES}
    assert lengths["seq2seq_transformer.py"] >= 600
    assert min(lengths.values()) < 250


@pytest.mark.parametrize("task_id", [f"{kind}-pytorch-{slug}" for slug in EXAMPLES.values() for kind in KINDS])
def test_task_loads_and_names_its_example(task_id):
    folder = TASKS / task_id
    if not (folder / "task.toml").exists():
        pytest.skip(f"{task_id} is not part of the suite")
    task = load_task(folder)
    assert task.id == task_id and task.framework == "pytorch"
    assert Path(task.input_path).resolve().parent == PYTORCH.resolve()
    assert task_id.endswith("-pytorch-" + EXAMPLES[Path(task.input_path).name])
    reference = Path(task.reference_path)
    compile(parse(reference), str(reference), "exec")
    assert saves_state_dict(parse(reference))
