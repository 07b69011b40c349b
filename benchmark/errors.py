"""Typed errors. Every error says what was wrong, where, and how to fix it."""

from __future__ import annotations


class AdaptbenchError(Exception):
    """Base class: `message` is what went wrong, `hint` how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n  hint: {hint}")


class TaskSpecError(AdaptbenchError):
    """A task folder or its task.toml is malformed."""

    def __init__(self, path, field: str | None, problem: str, hint: str | None = None):
        where = f"{path}" + (f": field '{field}'" if field else "")
        self.path, self.field, self.problem = path, field, problem
        super().__init__(f"{where}: {problem}", hint)


class UnknownNameError(AdaptbenchError):
    """A name was looked up in a registry (or task list) that does not hold it."""


class MissingDependencyError(AdaptbenchError):
    """An optional library is not installed; the hint names the pip command."""

    def __init__(self, package: str, purpose: str, extra: str | None = None):
        install = f"pip install 'adaptbench[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{purpose} needs the '{package}' package, which is not installed.", f"run: {install}")


class NeedsKeyError(AdaptbenchError):
    """An API key is required but not configured."""


class BackendError(AdaptbenchError):
    """A model backend failed in a way retries did not fix (server error, malformed response)."""


class BadOptionError(AdaptbenchError):
    """A -M key=value model option or a CLI option is invalid."""


class SandboxError(AdaptbenchError):
    """The sandbox itself could not run (not the script: a harness problem)."""
