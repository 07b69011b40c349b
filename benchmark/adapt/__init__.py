"""Adapting a user's own script, and any script as a task.

    from benchmark.adapt import AdaptRequest, adapt, new_task

    outcome = adapt(AdaptRequest(script=Path("train.py"), to="tracking:mlflow", model="openai/gpt-4o-mini"))
    outcome.verified, outcome.written["script"], outcome.written["report"]

`adapt` turns the script into a task (read it, resolve `--to`, detect the framework from its imports, run it once
untouched in the sandbox, fill the checks a shipped task of that kind has from what that run did), then drives the
benchmark's own Runner on it one sample at a time until one is verified. `new_task` writes the same task into a
tasks dir, proved at once. The modules: _script (reading the script), _target (`--to`), _spec (checks and
instructions per functionality), _baseline (the untouched run and why it failed), _taskdir (the task folder),
_prepare (all of it, cached), _adapt (the loop and the outputs), _report, _tasknew.
"""

from ._adapt import (
    DEFAULT_LOOP,
    DEFAULT_MODEL,
    AdaptOutcome,
    AdaptRequest,
    adapt,
    output_path,
    unified_diff,
)
from ._errors import (
    ModelUnreachableError,
    ScriptDoesNotRunError,
    ScriptError,
    TaskRefusedError,
)
from ._prepare import Prepared, parse_env, prepare
from ._script import ScriptInfo, detect_framework, read_script
from ._target import Target, parse_target, valid_targets
from ._taskdir import ScriptTask
from ._tasknew import NewTask, install_task, new_task

__all__ = [
    "DEFAULT_LOOP", "DEFAULT_MODEL", "AdaptOutcome", "AdaptRequest", "ModelUnreachableError", "NewTask", "Prepared",
    "ScriptDoesNotRunError", "ScriptError", "ScriptInfo", "ScriptTask", "Target", "TaskRefusedError", "adapt",
    "detect_framework", "install_task", "new_task", "output_path", "parse_env", "parse_target", "prepare",
    "read_script", "unified_diff", "valid_targets",
]
