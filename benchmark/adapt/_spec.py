"""The checks, checker arguments, instruction and limits a task made from a user's script gets: the same choices
the shipped tasks make for their functionality, component and framework (tasks/*/task.toml), filled in from what
the untouched script did in its baseline run (the files it wrote, the model file it saved, the data it
committed)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..types import CheckSpec, Component, Framework, Functionality
from ._errors import ScriptDoesNotRunError
from ._script import ScriptInfo, logs_in_a_loop, string_argument
from ._target import Target

EPOCH_FRAMEWORKS = (Framework.pytorch, Framework.lightning, Framework.keras)  # they train in a loop of epochs
TRIALS = {Framework.sklearn: 10, Framework.none: 10}  # others: 3 (each trial is a training run)
MIN_SPARSITY, ASKED_SPARSITY = 0.45, "50 %"  # as the pruning tasks: ask 50 %, accept 45 %
DVC_REMOTE, DVC_STORAGE = "storage", "dvc-storage"
MODEL_SUFFIXES = (".pt", ".pth")
MAX_BEHAVIOUR_FILES = 12
BASELINE_TIMEOUT_S = 600.0
MIN_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class BaselineFacts:
    """What the untouched script did in its sandbox run."""

    duration_s: float
    outputs: tuple[str, ...] = ()  # files it wrote, relative to the work dir (posix)
    committed: tuple[str, ...] = ()  # files it committed to git (beyond the fixtures)
    data_commits: int = 0  # commits of its own that changed those files
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Choices:
    """Everything of a task spec that depends on the target: checks, instruction, limits, git."""

    checks: tuple[CheckSpec, ...]
    instruction: str
    timeout_s: float
    git_init: bool = False
    notes: tuple[str, ...] = field(default=())  # what was derived, for the user


GENERIC_STEMS = {"train", "training", "main", "run", "script", "model", "experiment", "notebook"}


def script_label(script: ScriptInfo) -> str:
    """A name for the script in ids and registered model names: its stem, or its folder's name for a generic
    stem like train.py."""
    stem = script.path.stem.lower()
    name = script.folder.name if stem in GENERIC_STEMS and script.folder.name else stem
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def registered_name(script: ScriptInfo) -> str:
    return script_label(script)


def choose(target: Target, framework: Framework, script: ScriptInfo, facts: BaselineFacts | None,
           user_instruction: str = "", timeout_s: float | None = None) -> Choices:
    """The task's choices; `facts` None gives the provisional ones the baseline run is made with."""
    capability, instruction, notes = _capability(target, framework, script, facts)
    checks = [capability]
    if facts is not None:
        checks.append(CheckSpec(name="behaviour", args={"files": behaviour_files(facts, target)}))
    text = " ".join(part for part in (instruction, user_instruction.strip()) if part)
    return Choices(checks=tuple(checks), instruction=text, timeout_s=_timeout(facts, timeout_s, target),
                   git_init=target.functionality is Functionality.version_control, notes=tuple(notes))


def _timeout(facts: BaselineFacts | None, given: float | None, target: Target) -> float:
    if given is not None:
        return float(given)
    if facts is None:
        return BASELINE_TIMEOUT_S
    runs = 5 if target.functionality is Functionality.hyperparameter_optimization else 3
    return float(max(MIN_TIMEOUT_S, math.ceil(runs * facts.duration_s + 60)))


def _capability(target: Target, framework: Framework, script: ScriptInfo,
                facts: BaselineFacts | None) -> tuple[CheckSpec, str, list[str]]:
    f = target.functionality
    if f is Functionality.experiment_tracking:
        return _tracking(target, framework, script)
    if f is Functionality.model_registration:
        name = registered_name(script)
        return (CheckSpec(name="mlflow_registration", args={"name": name}),
                (f"Register the trained model under the name '{name}', logged with a signature "
                "(mlflow.models.infer_signature on a few training inputs) so that it loads back with "
                "mlflow.pyfunc and predicts."), [f"registered model name: {name}"])
    if f is Functionality.hyperparameter_optimization:
        trials = TRIALS.get(framework, 3)
        return (CheckSpec(name="optuna_hpo", args={"min_trials": 2}),
                (f"Use Optuna to tune the hyperparameters that matter most for this model, scoring each trial on "
                f"a validation split carved out of the training data (never the test data). Use at most {trials} "
                "trials. Then train the final model with the best hyperparameters and keep the script's original "
                "evaluation and outputs."), [f"at most {trials} trials"])
    if f is Functionality.model_optimization:
        return _pruning(target, script, facts)
    return _version_control(facts)


def _tracking(target: Target, framework: Framework, script: ScriptInfo) -> tuple[CheckSpec, str, list[str]]:
    # a metric history is asked of code that trains in epochs, and of a translation whose source logs in a loop
    looped = target.source_component is not None and logs_in_a_loop(script.code)
    steps = 2 if framework in EPOCH_FRAMEWORKS or looped else 0
    during = " during training (with a step, so each has a history of several points)" if steps else ""
    if target.component is Component.wandb:
        project = string_argument(script.code, "set_experiment", "experiment_name") if target.source_component else None
        # a translation carries every hyperparameter the source logged: at least two, as the shipped tasks ask
        args = {"min_history_rows": 2 if steps else 1, "min_config_keys": 2 if target.source_component else 1,
                "require_finished": True}
        text = (f"Record the hyperparameters in the run's config and log the training metrics{during} and the "
                "final evaluation metrics.")
        if target.source_component:
            text = _translation_text("MLflow", "mlflow", "Weights & Biases", project, "W&B project") + " " + text
        return CheckSpec(name="wandb_tracking", args=args), text, []
    args: dict = {"min_params": 2 if target.source_component else 1, "min_metrics": 1, "min_metric_steps": steps}
    text = (f"Log the hyperparameters as parameters, the training metrics{during} and the final evaluation metrics."
            if steps else "Log the hyperparameters as parameters and the evaluation metrics as metrics.")
    notes = []
    if target.source_component:
        project = string_argument(script.code, "wandb.init", "project")
        text = _translation_text("Weights & Biases", "wandb", "MLflow", project, "MLflow experiment") + " " + text
        if project:
            args["experiment_name"] = project
            notes.append(f"experiment name: {project} (the W&B project)")
    return CheckSpec(name="mlflow_tracking", args=args), text, notes


def _translation_text(source: str, module: str, target: str, name: str | None, slot: str) -> str:
    named = f" Use the name '{name}' as the {slot} name." if name else ""
    return f"Replace {source} with {target}: the script must not import {module} any more.{named}"


def _pruning(target: Target, script: ScriptInfo, facts: BaselineFacts | None) -> tuple[CheckSpec, str, list[str]]:
    method = target.component.value
    model_file = "model.pt" if facts is None else saved_model_file(facts, script)
    how = ("NNCF (nncf 3.x, `nncf.prune`)" if target.component is Component.nncf
           else "PyTorch's native pruning (`torch.nn.utils.prune`)")
    text = (f"Use {how} to prune the model's weights during training, reaching at least {ASKED_SPARSITY} sparsity "
            f"by the end of training. Keep saving the trained, pruned model's state_dict to {model_file}.")
    return (CheckSpec(name="pruning", args={"method": method, "min_sparsity": MIN_SPARSITY, "model_file": model_file}),
            text, [f"pruned weights judged in {model_file}"])


def saved_model_file(facts: BaselineFacts, script: ScriptInfo) -> str:
    saved = [p for p in facts.outputs if p.endswith(MODEL_SUFFIXES)]
    if not saved:
        raise ScriptDoesNotRunError(
            "no_model_file", f"{script.path.name} saves no PyTorch weights (no .pt/.pth file among its outputs: "
            f"{', '.join(facts.outputs) or 'none'}); pruning is judged from the saved model",
            "save the model at the end, e.g. torch.save(model.state_dict(), 'model.pt')")
    return min(saved, key=lambda p: ("model" not in p.lower(), p.count("/"), p))


def _version_control(facts: BaselineFacts | None) -> tuple[CheckSpec, str, list[str]]:
    paths = list(facts.committed) if facts is not None else ["data"]
    if facts is not None and not paths:
        raise ScriptDoesNotRunError(
            "nothing_committed", "the script committed no data files to git in its run, so there is nothing to "
            "version with DVC", "adapt a GitPython script that commits its data (repo.index.add + commit)")
    args: dict = {"paths": paths, "remote": DVC_REMOTE, "remote_path": DVC_STORAGE}
    every = "Every time the script commits a new version of the data, commit the DVC files to git and push the data"
    if facts is not None and facts.data_commits > 1:
        args["history"] = True
    tags = f" Keep creating the git tags it creates ({', '.join(facts.tags)})." if facts and facts.tags else ""
    text = (f"Version {', '.join(paths)} with DVC instead of committing {'it' if len(paths) == 1 else 'them'} to "
            "git; the code and the DVC tracking files stay in git. The project folder is already a git repository. "
            f"Initialise DVC in it and use a DVC remote named '{DVC_REMOTE}' at ./{DVC_STORAGE} (a local directory) "
            f"as the default remote. {every} to the DVC remote.{tags}")
    return CheckSpec(name="dvc_tracking", args=args), text, [f"DVC must version: {', '.join(paths)}"]


def behaviour_files(facts: BaselineFacts, target: Target) -> list[str]:
    """The outputs the adapted script must still write: every file of the baseline, a folder holding many files
    as one pattern; for version control, the committed data is the output."""
    files = sorted(set(facts.outputs) | set(facts.committed))
    by_folder: dict[str, list[str]] = {}
    for path in files:
        by_folder.setdefault(path.rsplit("/", 1)[0] if "/" in path else "", []).append(path)
    patterns = []
    for folder, members in sorted(by_folder.items()):
        patterns += members if not folder or len(members) <= 3 else [f"{folder}/*"]
    return patterns[:MAX_BEHAVIOUR_FILES]
