"""Typed errors of `adaptbench adapt` and `adaptbench task new`: each says what is wrong and which option fixes it."""

from __future__ import annotations

from ..errors import AdaptbenchError, BackendError


class ScriptError(AdaptbenchError):
    """The script given cannot be used: it does not exist, is not Python, or its analysis failed."""


class ScriptDoesNotRunError(AdaptbenchError):
    """The untouched script does not run in the sandbox; `cause` is a short machine-readable name."""

    def __init__(self, cause: str, message: str, hint: str | None = None, output: str = ""):
        self.cause, self.output = cause, output
        super().__init__(message, hint)


class ModelUnreachableError(BackendError):
    """Every attempt failed in the model backend itself (no server, no key, wrong URL): nothing was generated."""


class TaskRefusedError(AdaptbenchError):
    """`task new` / `--save-task` would write a task that cannot prove itself; nothing was written."""
