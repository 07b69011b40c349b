"""`--to FUNCTIONALITY[:COMPONENT]`: what the script is adapted to, resolved against the prompt templates that
exist (an inlining, or a translation when the script already uses the component the target replaces)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..errors import UnknownNameError
from ..prompts import TEMPLATES
from ..types import Category, Component, Functionality
from ._script import ScriptInfo

FUNCTIONALITY_ALIASES: dict[str, Functionality] = {
    "tracking": Functionality.experiment_tracking,
    "experiment-tracking": Functionality.experiment_tracking,
    "registration": Functionality.model_registration,
    "model-registration": Functionality.model_registration,
    "registry": Functionality.model_registration,
    "hpo": Functionality.hyperparameter_optimization,
    "hyperparameter-optimization": Functionality.hyperparameter_optimization,
    "tuning": Functionality.hyperparameter_optimization,
    "pruning": Functionality.model_optimization,
    "model-optimization": Functionality.model_optimization,
    "version-control": Functionality.version_control,
    "versioning": Functionality.version_control,
}
COMPONENT_ALIASES: dict[str, Component] = {
    "mlflow": Component.mlflow, "wandb": Component.wandb, "w&b": Component.wandb, "optuna": Component.optuna,
    "nncf": Component.nncf, "torch-prune": Component.torch_prune, "torch": Component.torch_prune,
    "dvc": Component.dvc,
}
DEFAULT_COMPONENT: dict[Functionality, Component] = {
    Functionality.experiment_tracking: Component.mlflow,
    Functionality.model_registration: Component.mlflow,
    Functionality.hyperparameter_optimization: Component.optuna,
    Functionality.model_optimization: Component.nncf,
    Functionality.version_control: Component.dvc,
}
# short names used in task ids and output file names
SHORT_NAMES: dict[Functionality, str] = {
    Functionality.experiment_tracking: "tracking", Functionality.model_registration: "registration",
    Functionality.hyperparameter_optimization: "hpo", Functionality.model_optimization: "pruning",
    Functionality.version_control: "version-control",
}


@dataclass(frozen=True)
class Target:
    category: Category
    functionality: Functionality
    component: Component
    source_component: Component | None = None

    def describe(self) -> str:
        name = f"{SHORT_NAMES[self.functionality]}:{self.component.value}"
        return f"{name} (from {self.source_component.value})" if self.source_component else name

    @property
    def slug(self) -> str:
        if self.source_component:
            return f"{self.component.value.replace('_', '-')}-from-{self.source_component.value}"
        return f"{SHORT_NAMES[self.functionality]}-{self.component.value.replace('_', '-')}"


def _normal(text: str) -> str:
    return text.strip().lower().replace("_", "-").replace(" ", "-")


def valid_targets() -> list[str]:
    """Every `--to` value that some prompt template serves, for error messages."""
    out = []
    for category, functionality, component, source in sorted(TEMPLATES, key=lambda k: tuple(str(p) for p in k)):
        name = f"{SHORT_NAMES[functionality]}:{component.value.replace('_', '-')}"
        out.append(f"{name} (on {source.value} code)" if source else name)
    return list(dict.fromkeys(out))


def parse_target(text: str, script: ScriptInfo | None = None) -> Target:
    """Resolve `--to` for `script`: unknown names, and combinations no prompt template serves, are errors that
    list what is available."""
    functionality, component = requested(text)
    used = script.components() if script else set()
    for (category, func, comp, source) in TEMPLATES:
        if (func, comp) == (functionality, component) and source is not None and source in used \
                and component not in used:
            return Target(category, functionality, component, source)
    if (Category.inlining, functionality, component, None) in TEMPLATES:
        return Target(Category.inlining, functionality, component)
    sources = [s.value for (c, f, comp, s) in TEMPLATES if (f, comp) == (functionality, component) and s]
    if sources:
        raise UnknownNameError(
            f"--to {text}: {component.value} is offered as a translation of {' or '.join(sources)} code, and "
            f"{script.path.name if script else 'the script'} does not use {' or '.join(sources)} "
            f"(it imports none of {', '.join(_modules(sources))})",
            "adapt a script that uses " + " or ".join(sources) + "; available: " + ", ".join(valid_targets()))
    raise UnknownNameError(f"--to {text}: no prompt template adds {component.value} for "
                           f"{functionality.value.replace('_', ' ')}", "available: " + ", ".join(valid_targets()))


def requested(text: str) -> tuple[Functionality, Component]:
    """The functionality and component `--to` names (the component defaults per functionality)."""
    head, _, tail = _normal(text).partition(":")
    functionality = FUNCTIONALITY_ALIASES.get(head) or _enum(Functionality, head)
    if functionality is None:
        raise _unknown("functionality", head, FUNCTIONALITY_ALIASES)
    component = DEFAULT_COMPONENT[functionality] if not tail else COMPONENT_ALIASES.get(tail) or _enum(Component, tail)
    if component is None:
        raise _unknown("component", tail, COMPONENT_ALIASES)
    return functionality, component


def _enum(enum, value: str):
    try:
        return enum(value.replace("-", "_"))
    except ValueError:
        return None


def _modules(components: list[str]) -> list[str]:
    from ._script import COMPONENT_MODULES

    return [m for c in components for m in sorted(COMPONENT_MODULES.get(Component(c), ()))]


def _unknown(what: str, value: str, aliases: dict) -> UnknownNameError:
    close = difflib.get_close_matches(value, list(aliases), n=2)
    hint = (f"did you mean {' or '.join(close)}? " if close else "") + "available: " + ", ".join(valid_targets())
    return UnknownNameError(f"unknown {what} '{value}' in --to", hint)
