"""Building the RunSpec for a benchmark: the matrix of tasks x models x temperatures x settings (x retrieval)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from .backends import DEFAULT_MODEL  # noqa: F401  (the CLI's default model)
from .errors import BadOptionError
from .types import Budget, GenerationConfig, LoopSpec, RunSpec, Setting, Task, stable_hash

DEFAULT_TEMPERATURES = (0.0, 0.2, 1.0)
DEFAULT_SETTINGS = (Setting.zero_shot, Setting.docprompt)
TRACKED_PACKAGES = ("adaptbench", "torch", "transformers", "openai", "mlflow", "wandb", "optuna", "nncf", "dvc",
                    "GitPython", "lightning", "keras", "scikit-learn", "faiss-cpu", "langchain", "selenium", "vllm")


def table_row(task: Task) -> tuple:
    """The row of the study's tables a task belongs to."""
    return (task.category.value, task.functionality.value, task.component.value,
            task.source_component.value if task.source_component else "", task.framework.value)


def quick_profile(tasks: Sequence[Task]) -> list[Task]:
    """One task per table row: the one with the shortest input script (ties by id), so every row of the study's
    tables gets a cell at the smallest cost in prompt tokens."""
    chosen: dict[tuple, Task] = {}
    for task in sorted(tasks, key=lambda t: (len(t.input_code()), t.id)):
        chosen.setdefault(table_row(task), task)
    return sorted(chosen.values(), key=lambda t: t.id)


@dataclass(frozen=True)
class Profile:
    """A named selection of tasks plus the run settings it is meant for; any explicit option overrides them."""

    name: str
    description: str
    select: Callable[[Sequence[Task]], list[Task]]
    defaults: dict[str, Any] = field(default_factory=dict)  # CLI option name -> value


# The rows of the CPU profile: the shortest script of each, on a 1.5B model on 2 cores (see README: make benchmark).
CPU_ROWS = (
    ("inlining", "experiment_tracking", "mlflow", "", "sklearn"),
    ("inlining", "model_registration", "mlflow", "", "sklearn"),
    ("inlining", "hyperparameter_optimization", "optuna", "", "sklearn"),
    ("translation", "experiment_tracking", "wandb", "mlflow", "sklearn"),
)


def cpu_profile(tasks: Sequence[Task]) -> list[Task]:
    return [t for t in quick_profile(tasks) if table_row(t) in CPU_ROWS]


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("cpu", "a few short table rows for one 1.5B model on a 2-core CPU: greedy, zero-shot, whole file, "
            "3 rounds (make benchmark)", cpu_profile,
            {"temperatures": [0.0], "settings": ["zero-shot"], "n": 1, "rounds": 3, "max_tokens": 1536, "workers": 1}),
    Profile("quick", "one task per table row (its shortest input script), the study's temperatures and settings, n=3",
            quick_profile),
    Profile("study", "every task, the study's temperatures and settings, n=3 (the study's Pass@3)", list),
    Profile("full", "the same as study", list),
)}


def parse_settings(values: Sequence[str]) -> tuple[Setting, ...]:
    try:
        return tuple(Setting(v) for v in values)
    except ValueError:
        raise BadOptionError(f"unknown prompt setting in {list(values)}",
                             "choose from: " + ", ".join(s.value for s in Setting)) from None


def parse_model_options(pairs: Sequence[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadOptionError(f"model option '{pair}' is not key=value", "write e.g. -M base_url=http://127.0.0.1:8000/v1")
        options[key.strip()] = value
    return options


def make_spec(tasks: Sequence[Task], models: Sequence[str], temperatures: Sequence[float],
              settings: Sequence[Setting], n: int, retrievals: Sequence[str] = ("none",),
              model_options: dict[str, dict[str, str]] | None = None, generation: GenerationConfig = GenerationConfig(),
              run_id: str | None = None, prefix: str = "run", loop: LoopSpec = LoopSpec(),
              budget: Budget = Budget()) -> RunSpec:
    if n < 1:
        raise BadOptionError(f"-n must be at least 1, got {n}")
    matrix = {"tasks": sorted(t.id for t in tasks), "models": list(models), "temperatures": list(temperatures),
              "settings": [s.value for s in settings], "retrievals": list(retrievals), "n": n,
              "model_options": model_options or {}, "generation": generation.model_dump(mode="json")}
    if loop != LoopSpec():  # one-shot runs keep the run ids of schema version 1
        matrix["loop"] = loop.model_dump(mode="json")
    return RunSpec(
        run_id=run_id or f"{prefix}-{stable_hash(matrix)[:10]}", tasks=tuple(matrix["tasks"]), models=tuple(models),
        temperatures=tuple(float(t) for t in temperatures), settings=tuple(settings), retrievals=tuple(retrievals),
        n=n, k=tuple(k for k in (1, 3, 5, 10) if k <= n), model_options=model_options or {}, generation=generation,
        loop=loop, budget=budget,
        versions=library_versions(), git_sha=git_sha(), created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def library_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_sha() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.strip() or None
