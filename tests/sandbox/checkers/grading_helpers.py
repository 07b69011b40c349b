"""Helpers shared by the checker tests: grade a task's candidate, derive mutants, describe a verdict."""

from __future__ import annotations

from sandbox.grading import Graded


def mutate(source: str, *edits: tuple[str, str]) -> str:
    """Apply exact one-occurrence edits, so a mutant can never silently equal the script it came from."""
    for old, new in edits:
        assert source.count(old) == 1, f"the reference changed: cannot find {old!r} exactly once"
        source = source.replace(old, new)
    return source


def describe(graded: Graded) -> str:
    """Everything a failing assertion should show: verdict, first check's details, stderr tail."""
    execution = graded.execution
    details = graded.verdict.checks[0].details if graded.verdict.checks else {}
    tail = f"\nstderr:\n{execution.stderr_tail[-2500:]}" if execution is not None else ""
    return f"{graded.verdict.status.value} {graded.verdict.code}: {graded.verdict.reason}\n{details}{tail}"
