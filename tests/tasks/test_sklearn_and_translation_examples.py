"""Static checks on the scikit-learn examples, the translation inputs and their tasks (fast: nothing is run).

Each script compiles; each curated example mentions ADAPTBENCH_SMOKE; each translation input really uses its
source library and not its target's, while its reference uses the target and has dropped the source (GitPython
stays beside DVC, which runs on top of git); every task loads with the spec the benchmark expects.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from benchmark.tasks import load_task

TASKS = Path(__file__).resolve().parents[2] / "tasks"
EXAMPLES = TASKS / "examples"

SKLEARN_EXAMPLES = {
    "kernel_pca_denoising.py": "kernel-pca",
    "sgd_early_stopping.py": "sgd-early-stopping",
    "gaussian_process_regression.py": "gaussian-process",
}
INLINING_TASKS = [f"{kind}-sklearn-{name}" for name in SKLEARN_EXAMPLES.values()
                  for kind in ("mlflow-tracking", "mlflow-registration", "optuna-hpo")]

# task id -> (input script relative to tasks/examples, source module, target module)
TRANSLATIONS = {
    "dvc-from-gitpython-branches": ("gitpython/version_branches.py", "git", "dvc"),
    "dvc-from-gitpython-pipeline": ("gitpython/version_pipeline.py", "git", "dvc"),
    "dvc-from-gitpython-revision": ("gitpython/compare_revisions.py", "git", "dvc"),
    "mlflow-from-wandb-gradient-boosting": ("wandb/gradient_boosting_tracking.py", "wandb", "mlflow"),
    "mlflow-from-wandb-torch-mlp": ("wandb/torch_mlp_tracking.py", "wandb", "mlflow"),
    "mlflow-from-wandb-grid-runs": ("wandb/grid_runs_tracking.py", "wandb", "mlflow"),
    "wandb-from-mlflow-torch-regression": ("mlflow/torch_regression_tracking.py", "mlflow", "wandb"),
    "wandb-from-mlflow-mlp-partial-fit": ("mlflow/mlp_partial_fit_tracking.py", "mlflow", "wandb"),
    "wandb-from-mlflow-kmeans-sweep": ("mlflow/kmeans_sweep_tracking.py", "mlflow", "wandb"),
}
SOURCE_COMPONENT = {"git": "gitpython", "wandb": "wandb", "mlflow": "mlflow"}

EXAMPLE_SCRIPTS = [EXAMPLES / "sklearn" / name for name in SKLEARN_EXAMPLES] + \
    [EXAMPLES / script for script, _, _ in TRANSLATIONS.values()]
ALL_SCRIPTS = EXAMPLE_SCRIPTS + [TASKS / task_id / "reference.py" for task_id in [*INLINING_TASKS, *TRANSLATIONS]]


def top_modules(path: Path) -> set[str]:
    """Top-level package names the script imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("path", ALL_SCRIPTS, ids=lambda p: str(p.relative_to(TASKS)))
def test_script_compiles(path: Path):
    compile(path.read_text(), str(path), "exec")


@pytest.mark.parametrize("path", EXAMPLE_SCRIPTS, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_mentions_smoke_mode(path: Path):
    assert "ADAPTBENCH_SMOKE" in path.read_text()


def test_sgd_example_is_short():
    lines = (EXAMPLES / "sklearn" / "sgd_early_stopping.py").read_text().splitlines()
    assert 20 <= len(lines) <= 40


@pytest.mark.parametrize("name", SKLEARN_EXAMPLES)
def test_sklearn_example_uses_no_mlops_library(name: str):
    assert not top_modules(EXAMPLES / "sklearn" / name) & {"mlflow", "wandb", "optuna", "dvc", "git"}


@pytest.mark.parametrize("task_id", TRANSLATIONS)
def test_translation_input_uses_source_not_target(task_id: str):
    script, source, target = TRANSLATIONS[task_id]
    modules = top_modules(EXAMPLES / script)
    assert source in modules, f"{script} does not import {source}"
    assert target not in modules, f"{script} already imports the target {target}"


@pytest.mark.parametrize("task_id", TRANSLATIONS)
def test_translation_reference_uses_target(task_id: str):
    _, source, target = TRANSLATIONS[task_id]
    modules = top_modules(TASKS / task_id / "reference.py")
    assert target in modules
    if source != "git":  # DVC works on a git repository: GitPython may stay for the git side
        assert source not in modules


@pytest.mark.parametrize("task_id", [*INLINING_TASKS, *TRANSLATIONS])
def test_task_spec_loads(task_id: str):
    task = load_task(TASKS / task_id)
    assert task.id == task_id
    if task_id in TRANSLATIONS:
        script, source, target = TRANSLATIONS[task_id]
        assert task.category.value == "translation"
        assert task.source_component.value == SOURCE_COMPONENT[source]
        assert task.component.value == target
        assert task.input_path.resolve() == (EXAMPLES / script).resolve()
    else:
        assert task.category.value == "inlining"
        assert task.framework.value == "sklearn"
