"""Rendering prompts: a Task plus a Setting (zero-shot or DocPrompt) and, for translation tasks, the
retrieved documents (Docs-X of the source component, Docs-Y of the target) become a chat Prompt.

Templates are Jinja2 files under `prompts/` (override the folder with ADAPTBENCH_PROMPTS_DIR):
- `system.j2`: the system message;
- `layouts/<setting>.j2`: the shape of the user message per setting (DocPrompt = zero-shot + the manual);
- `inlining/*.j2`, `translation/*.j2`: the instructions per (category, functionality, component, source);
- `docs/<manual>.md`: the hand-written step-by-step manuals DocPrompt inserts.

Which template serves which task is decided by the TEMPLATES table below, never by if/elif chains;
`register_template` adds an entry exactly as the built-ins are added.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from .edits import get_edit_format
from .errors import AdaptbenchError, UnknownNameError
from .types import Category, Component, Framework, Functionality, Prompt, Setting, Task

log = logging.getLogger(__name__)

SYSTEM_TEMPLATE = "system.j2"
LAYOUTS: dict[Setting, str] = {
    Setting.zero_shot: "layouts/zero-shot.j2",
    Setting.docprompt: "layouts/docprompt.j2",
}
MANUALS_SUBDIR = "docs"

# How each component is named in a prompt, and the release the prompt tells the model to target.
COMPONENT_NAMES: dict[Component, tuple[str, str]] = {
    Component.mlflow: ("MLflow", "mlflow 3.17"),
    Component.wandb: ("Weights & Biases (wandb)", "wandb 0.31"),
    Component.optuna: ("Optuna", "optuna 5.0"),
    Component.nncf: ("NNCF", "nncf 3.4"),
    Component.torch_prune: ("torch.nn.utils.prune", "torch 2.13"),
    Component.dvc: ("DVC", "dvc 3.67"),
    Component.gitpython: ("GitPython", "GitPython 3.2"),
}
FRAMEWORK_NAMES: dict[Framework, str] = {
    Framework.pytorch: "PyTorch",
    Framework.lightning: "PyTorch Lightning",
    Framework.keras: "Keras",
    Framework.sklearn: "scikit-learn",
    Framework.none: "Python",
}

TemplateKey = tuple[Category, Functionality, Component, Component | None]


@dataclass(frozen=True)
class TemplateSpec:
    """One prompt template: which tasks it serves, its file under prompts/, and the DocPrompt manual."""

    category: Category
    functionality: Functionality
    component: Component
    source_component: Component | None
    template: str  # path relative to the prompts dir
    manual: str  # file name under prompts/docs/ without ".md"

    @property
    def key(self) -> TemplateKey:
        return (self.category, self.functionality, self.component, self.source_component)

    def describe(self) -> str:
        return _describe_key(self.key)


TEMPLATES: dict[TemplateKey, TemplateSpec] = {}


def register_template(category: str, functionality: str, component: str, source_component: str | None,
                      template: str, manual: str) -> TemplateSpec:
    """Add a template to the table; a second entry for the same combination is refused."""
    spec = TemplateSpec(Category(category), Functionality(functionality), Component(component),
                        Component(source_component) if source_component else None, template, manual)
    existing = TEMPLATES.get(spec.key)
    if existing is not None and existing != spec:
        raise AdaptbenchError(f"a prompt template for {spec.describe()} is already registered ({existing.template}).",
                              "remove the old entry or choose another combination")
    TEMPLATES[spec.key] = spec
    return spec


for _entry in (
    ("inlining", "experiment_tracking", "mlflow", None, "inlining/experiment_tracking.mlflow.j2", "mlflow-tracking"),
    ("inlining", "experiment_tracking", "wandb", None, "inlining/experiment_tracking.wandb.j2", "wandb-tracking"),
    ("inlining", "model_registration", "mlflow", None, "inlining/model_registration.mlflow.j2", "mlflow-registration"),
    ("inlining", "hyperparameter_optimization", "optuna", None, "inlining/hyperparameter_optimization.optuna.j2",
     "optuna-hpo"),
    ("inlining", "model_optimization", "nncf", None, "inlining/model_optimization.nncf.j2", "nncf-pruning"),
    ("inlining", "model_optimization", "torch_prune", None, "inlining/model_optimization.torch_prune.j2",
     "torch-prune"),
    ("translation", "version_control", "dvc", "gitpython", "translation/version_control.gitpython-dvc.j2",
     "dvc-versioning"),
    ("translation", "experiment_tracking", "mlflow", "wandb", "translation/generic.j2", "mlflow-tracking"),
    ("translation", "experiment_tracking", "wandb", "mlflow", "translation/generic.j2", "wandb-tracking"),
):
    register_template(*_entry)


# ---------------------------------------------------------------- lookup


def default_prompts_dir() -> Path:
    env = os.environ.get("ADAPTBENCH_PROMPTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "prompts"


def available_templates() -> list[TemplateSpec]:
    """Every registered template, in a stable order (each renders in every Setting)."""
    return sorted(TEMPLATES.values(), key=lambda s: tuple(str(getattr(p, "value", p)) for p in s.key))


def template_for(task: Task) -> TemplateSpec:
    """The template serving `task`, or an error that lists what exists."""
    key = (task.category, task.functionality, task.component, task.source_component)
    spec = TEMPLATES.get(key)
    if spec is None:
        wanted = _describe_key(key)
        known = [s.describe() for s in available_templates()]
        close = difflib.get_close_matches(wanted, known, n=2, cutoff=0.5)
        hint = (f"did you mean {' or '.join(close)}? " if close else "") + "available: " + "; ".join(known) + \
            ". To support it, add a template under prompts/ and register it with benchmark.prompts.register_template."
        raise UnknownNameError(f"task '{task.id}': no prompt template for {wanted}", hint)
    return spec


def _describe_key(key: TemplateKey) -> str:
    category, functionality, component, source = key
    route = f"{source.value}->{component.value}" if source else component.value
    return f"{category.value}/{functionality.value}/{route}"


# ---------------------------------------------------------------- rendering


def render_prompt(task: Task, setting: Setting | str, docs_source: Iterable[Any] = (),
                  docs_target: Iterable[Any] = (), retrieval: str = "none",
                  prompts_dir: Path | None = None, edit_format: str = "whole") -> Prompt:
    """The chat prompt for `task` in `setting`. `docs_source` / `docs_target` are retrieved documents
    (mappings or objects with `title`, `text`, `source`) for translation tasks; empty ones are omitted.
    `edit_format` (a name of benchmark.edits.EDIT_FORMATS) is the answer format the prompt asks for."""
    setting = _setting(setting)
    spec = template_for(task)
    folder = Path(prompts_dir) if prompts_dir else default_prompts_dir()
    source_docs, target_docs = _docs(docs_source, "docs_source"), _docs(docs_target, "docs_target")
    if (source_docs or target_docs) and task.category is not Category.translation:
        raise AdaptbenchError(f"task '{task.id}' is an inlining task: retrieved documents are only placed in "
                              "translation prompts.", "pass docs_source/docs_target only for translation tasks")
    context = _context(task, setting, spec, folder, source_docs, target_docs) | _edit_context(edit_format, folder)
    messages = (
        {"role": "system", "content": _render(folder, SYSTEM_TEMPLATE, context)},
        {"role": "user", "content": _render(folder, spec.template, context)},
    )
    retrieved = tuple({"slot": "source", **d} for d in source_docs) + \
        tuple({"slot": "target", **d} for d in target_docs)
    log.debug("rendered %s prompt for %s with %s", setting.value, task.id, spec.template)
    return Prompt(task_id=task.id, setting=setting, retrieval=retrieval, messages=messages, retrieved=retrieved)


def load_manual(name: str, prompts_dir: Path | None = None) -> str:
    """The DocPrompt manual `prompts/docs/<name>.md`."""
    folder = Path(prompts_dir) if prompts_dir else default_prompts_dir()
    path = folder / MANUALS_SUBDIR / f"{name}.md"
    if not path.is_file():
        raise AdaptbenchError(f"DocPrompt manual '{name}' not found at {path}",
                              f"write {path} or fix the manual name in benchmark/prompts.py TEMPLATES")
    return path.read_text()


def _context(task: Task, setting: Setting, spec: TemplateSpec, folder: Path,
             docs_source: list[dict[str, str]], docs_target: list[dict[str, str]]) -> dict[str, Any]:
    component_name, component_version = COMPONENT_NAMES[task.component]
    source_name = COMPONENT_NAMES[task.source_component][0] if task.source_component else ""
    return {
        "layout": LAYOUTS[setting],
        "setting": setting.value,
        "task_id": task.id,
        "title": task.title,
        "instruction": task.instruction.strip(),
        "code": task.input_code(),
        "framework": task.framework.value,
        "framework_name": FRAMEWORK_NAMES[task.framework],
        "functionality": task.functionality.value,
        "functionality_name": task.functionality.value.replace("_", " "),
        "component": task.component.value,
        "component_name": component_name,
        "component_version": component_version,
        "source_component": task.source_component.value if task.source_component else "",
        "source_name": source_name,
        "manual": load_manual(spec.manual, folder) if setting is Setting.docprompt else "",
        "docs_source": docs_source,
        "docs_target": docs_target,
    }


def _edit_context(edit_format: str, folder: Path) -> dict[str, str]:
    """What the templates say about the answer format: prompts/edit_formats/<edit_format>.md's sections."""
    texts = get_edit_format(edit_format).texts(folder)
    return {"edit_format": edit_format, "edit_system": texts.system, "edit_rules": texts.rules,
            "edit_header": texts.header}


def _render(folder: Path, name: str, context: dict[str, Any]) -> str:
    try:
        text = _environment(folder.resolve()).get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise AdaptbenchError(f"prompt template '{exc.name}' not found in {folder}",
                              "restore the file, or point ADAPTBENCH_PROMPTS_DIR at a complete prompts folder") from None
    except jinja2.TemplateSyntaxError as exc:
        raise AdaptbenchError(f"prompt template {exc.filename or exc.name}, line {exc.lineno}: {exc.message}",
                              "fix the Jinja syntax") from None
    except jinja2.UndefinedError as exc:
        raise AdaptbenchError(f"prompt template '{name}' uses an undefined variable: {exc.message}",
                              "use only the variables benchmark.prompts._context provides") from None
    return text.strip() + "\n"


def render_text(folder: Path, name: str, context: dict[str, Any]) -> str:
    """Render any template under the prompts folder (e.g. the repair feedback) with the same environment."""
    return _render(folder, name, context)


@lru_cache(maxsize=8)
def _environment(folder: Path) -> jinja2.Environment:
    if not folder.is_dir():
        raise AdaptbenchError(f"prompts folder {folder} does not exist",
                              "unset ADAPTBENCH_PROMPTS_DIR or point it at a folder holding the templates")
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, autoescape=False)


def _setting(setting: Setting | str) -> Setting:
    try:
        return Setting(setting)
    except ValueError:
        raise AdaptbenchError(f"unknown setting '{setting}'",
                              "expected one of: " + ", ".join(s.value for s in Setting)) from None


def _docs(docs: Iterable[Any], slot: str) -> list[dict[str, str]]:
    """Retrieved documents as plain {title, text, source} dicts; mappings or objects with those attributes."""
    out = []
    for i, doc in enumerate(docs or ()):
        get = doc.get if isinstance(doc, Mapping) else (lambda k, d=None, _o=doc: getattr(_o, k, d))
        text = get("text")
        if not isinstance(text, str) or not text.strip():
            raise AdaptbenchError(f"{slot}[{i}] has no text", "each retrieved document needs a non-empty 'text' "
                                  "(and optionally 'title' and 'source')")
        out.append({"title": str(get("title", "") or ""), "text": text, "source": str(get("source", "") or "")})
    return out
