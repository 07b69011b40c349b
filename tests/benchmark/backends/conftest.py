from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.backends import GenerationRequest
from benchmark.types import GenerationConfig, Prompt, Task

INPUT = "import sklearn\nprint('train')\n"
REFERENCE = "import mlflow\nprint('train with mlflow')\n"


def make_task(folder: Path) -> Task:
    (folder / "input.py").write_text(INPUT)
    (folder / "reference.py").write_text(REFERENCE)
    return Task(id="demo-task", version=1, category="inlining", functionality="experiment_tracking",
                component="mlflow", framework="sklearn", title="demo", input_path=folder / "input.py",
                reference_path=folder / "reference.py", entrypoint="train.py", checks=(),
                input_fails_with="check_failed", folder=folder)


def make_request(task: Task, n: int = 1, temperature: float = 0.0, max_tokens: int = 16, seed: int | None = None,
                 content: str = "Say hello.") -> GenerationRequest:
    prompt = Prompt(task_id=task.id, setting="zero-shot", messages=({"role": "user", "content": content},))
    config = GenerationConfig(temperature=temperature, max_tokens=max_tokens, seed=seed)
    return GenerationRequest(task=task, prompt=prompt, config=config, n=n)


@pytest.fixture
def task(tmp_path: Path) -> Task:
    return make_task(tmp_path)
