"""How axis values read in tables (labels) and in which order they appear (the study's order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmark.types import RunSpec, Setting, split_chain

COMPONENT_LABELS = {
    "mlflow": "MLflow", "wandb": "Weights & Biases", "optuna": "Optuna", "nncf": "NNCF",
    "torch_prune": "PyTorch native", "dvc": "DVC", "gitpython": "GitPython",
}
FRAMEWORK_LABELS = {
    "lightning": "PyTorch Lightning", "keras": "Keras", "sklearn": "scikit-learn", "pytorch": "PyTorch", "none": "–",
}
SETTING_LABELS = {"zero-shot": "Zero-Shot", "docprompt": "DocPrompt"}
FUNCTIONALITY_TITLES = {
    "model_optimization": "Model optimisation (during-training pruning)",
    "experiment_tracking": "Experiment tracking",
    "model_registration": "Model registration",
    "hyperparameter_optimization": "Hyperparameter optimisation",
    "version_control": "Translation: version control",
}
AXIS_LABELS = {
    "component": "Component", "framework": "ML training framework", "model": "Model", "temperature": "Temperature",
    "setting": "Setting", "retrieval": "Retrieval", "pair": "Source → target", "functionality": "Functionality",
    "source_component": "Source component", "category": "Category", "rounds": "Rounds", "feedback": "Feedback",
    "edit_format": "Edit format", "merge_elided": "Merge elided", "cascade_feedback": "Cascade feedback",
    "round": "Round", "attempt_model": "Model (attempt)",
}
# The study's order: Table I (model optimisation) first, then II-IV, then Translation.
STUDY_TABLES = {"model_optimization": "I", "experiment_tracking": "II", "model_registration": "III",
                "hyperparameter_optimization": "IV"}
FUNCTIONALITY_ORDER = ("model_optimization", "experiment_tracking", "model_registration",
                       "hyperparameter_optimization", "version_control")
FRAMEWORK_ORDER = ("lightning", "keras", "sklearn", "pytorch", "none")
COMPONENT_ORDER = ("nncf", "torch_prune", "mlflow", "wandb", "optuna", "dvc", "gitpython")
FEEDBACK_ORDER = ("none", "output", "verdict")
EDIT_FORMAT_ORDER = ("whole", "search-replace", "udiff")


def label(axis: str, value: Any) -> str:
    """Human-readable text for one axis value (plain text; renderers escape it)."""
    if value is None or value == "":
        return "–"
    if axis in ("component", "source_component"):
        return COMPONENT_LABELS.get(value, str(value))
    if axis == "framework":
        return FRAMEWORK_LABELS.get(value, str(value))
    if axis == "setting":
        return SETTING_LABELS.get(value, str(value))
    if axis == "temperature":
        return fmt_temperature(value)
    if axis == "pair":
        source, _, target = str(value).partition("->")
        return f"{label('component', source)} → {label('component', target)}" if source else label("component", target)
    if axis == "functionality":
        return FUNCTIONALITY_TITLES.get(value, str(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def fmt_temperature(value: Any) -> str:
    return f"{float(value):g}"


def sort_key(axis: str, value: Any, spec: RunSpec | None = None) -> tuple:
    """Order of values along an axis: the study's order for enums, the run spec's order for models/retrievals."""
    if axis in ("temperature", "rounds", "round"):
        return (0, float(value))
    fixed = {"framework": FRAMEWORK_ORDER, "component": COMPONENT_ORDER, "source_component": COMPONENT_ORDER,
             "functionality": FUNCTIONALITY_ORDER, "setting": tuple(s.value for s in Setting),
             "feedback": FEEDBACK_ORDER, "edit_format": EDIT_FORMAT_ORDER}
    order: Sequence[Any] = fixed.get(axis, ())
    if spec is not None and axis == "model":
        order = spec.models
    elif spec is not None and axis == "attempt_model":
        order = chain_members(spec.models)
    elif spec is not None and axis == "retrieval":
        order = spec.retrievals
    elif axis == "pair":
        source, _, target = str(value).partition("->")
        return (*sort_key("source_component", source), *sort_key("component", target))
    if value in order:
        return (0, list(order).index(value), "")
    return (1, 0, str(value))


def chain_members(models: Sequence[str]) -> tuple[str, ...]:
    """Every model named in the run, cascades split into their members, in order of first appearance."""
    return tuple(dict.fromkeys(m for model in models for m in split_chain(model)))


def fmt_percent(value: float | None, digits: int = 0) -> str:
    """Pass@k as a percentage; '–' where n < k made it undefined."""
    if value is None:
        return "–"
    return f"{100 * value:.{digits}f}"


def fmt_usd(value: float | None) -> str:
    """USD with six decimals (a second of local compute at $0.10/hour is $0.000028); blank where unknown."""
    return "" if value is None else f"{value:.6f}"


def slug(text: str) -> str:
    """A file-name-safe version of a label."""
    out = "".join(c if c.isalnum() or c in "-." else "_" for c in str(text))
    return out.strip("_") or "x"


def col_label(axes: Sequence[str], values: Sequence[Any]) -> str:
    """Flat column header, e.g. 'T=0.2 · DocPrompt'."""
    return " · ".join(f"T={fmt_temperature(v)}" if a == "temperature" else label(a, v) for a, v in zip(axes, values))


def row_labels(axes: Sequence[str], rows: Sequence[tuple], blank_repeats: bool = True) -> list[list[str]]:
    """Row header texts; a value equal to the row above (with the same values before it) is left blank,
    as the study's tables group rows by component and framework."""
    out, previous = [], None
    for row in rows:
        texts = [label(a, v) for a, v in zip(axes, row)]
        if blank_repeats and previous is not None:
            for i in range(len(row) - 1):
                if row[: i + 1] != previous[: i + 1]:
                    break
                texts[i] = ""
        out.append(texts)
        previous = row
    return out
