"""The adaptation loop of one sample: which attempt comes next, what it is shown, and when the sample is done.

A sample starts with the first model of its chain on the task's own prompt. When an attempt fails, the next one is a
repair round of the same model (up to `rounds` attempts per model), then the next model of a cascade; it stops at the
first pass, when the chain is used up, or when the sample's budget is spent. A repair prompt is the task's prompt,
the failed answer as the assistant's turn, and a feedback message built from what a user running the script would
see (`--feedback`): nothing but the fact that it failed (`none`), the script's cleaned output (`output`), or that
plus the verdict and the failed checks' reasons (`verdict`). Nothing of the harness or the reference is shown."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .extract import clean_completion
from .prompts import default_prompts_dir, render_text
from .types import Attempt, Budget, Cost, FailureCategory, Prompt, SampleKey, Status, Task, Verdict

FEEDBACK_KINDS = ("none", "output", "verdict")
FEEDBACK_TEMPLATE = "repair/feedback.j2"
OUTPUT_LINES, OUTPUT_CHARS = 40, 3000


@dataclass
class SampleState:
    """One sample in flight: its key, task, first prompt and the attempts made so far."""

    key: SampleKey
    task: Task
    first_prompt: Prompt
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def chain(self) -> tuple[str, ...]:
        return self.key.chain

    def cost(self) -> Cost:
        total = Cost()
        for attempt in self.attempts:
            total = total + attempt.cost
        return total

    def current_code(self) -> str:
        """The script the next answer is read against: the latest attempt's code, else the task's input."""
        for attempt in reversed(self.attempts):
            if attempt.extraction.code is not None:
                return attempt.extraction.code
        return self.task.input_code()


@dataclass(frozen=True)
class Step:
    """The next attempt to make: which model of the chain, on which prompt, after which feedback."""

    level: int
    model: str
    prompt: Prompt
    feedback: str | None


def next_step(state: SampleState, format_reminder: str) -> Step | None:
    """The attempt after the last one, or None when the sample is done (passed, errored, chain used up)."""
    if not state.attempts:
        return Step(0, state.chain[0], state.first_prompt, None)
    last = state.attempts[-1]
    if last.verdict.passed or last.verdict.status is Status.error:
        return None  # a harness or backend error is redone by a resume, not repaired
    loop = state.key.loop()
    tries_here = sum(1 for a in state.attempts if a.level == last.level)
    if tries_here < loop.rounds:
        return _repair(state, last, last.level, format_reminder)
    if last.level + 1 >= len(state.chain):
        return None
    if loop.cascade_feedback:
        return _repair(state, last, last.level + 1, format_reminder)
    return Step(last.level + 1, state.chain[last.level + 1], state.first_prompt, None)


def over_budget(state: SampleState, budget: Budget) -> bool:
    return budget.max_sample_cost is not None and state.cost().usd >= budget.max_sample_cost


def budget_verdict(state: SampleState, budget: Budget) -> Verdict:
    last = state.attempts[-1].verdict
    return Verdict(status=Status.failed, category=FailureCategory.budget, code="budget_exhausted",
                   reason=f"the sample's budget is spent (${state.cost().usd:.6f} of ${budget.max_sample_cost:g}) "
                          f"before a pass; the last attempt failed with {last.code}: {last.reason}",
                   checks=last.checks)


def _repair(state: SampleState, last: Attempt, level: int, format_reminder: str) -> Step:
    loop = state.key.loop()
    show_code = loop.edit_format != "whole" and last.extraction.code is not None
    message = feedback_message(last, loop.feedback, format_reminder,
                               current_code=state.current_code() if show_code else "", repeated=_repeats(state))
    return Step(level, state.chain[level], repair_prompt(state.first_prompt, last, message), message)


def _repeats(state: SampleState) -> bool:
    """The last answer's script is one an earlier attempt already returned (a repair that changed nothing)."""
    code = state.attempts[-1].extraction.code
    return code is not None and any(a.extraction.code == code for a in state.attempts[:-1])


def repair_prompt(first: Prompt, failed: Attempt, message: str) -> Prompt:
    """The task's prompt, the failed answer as the assistant's turn, and the feedback as the next user turn: the
    prompt's prefix is the first prompt's, so a server's prompt cache serves most of it."""
    answer = clean_completion(failed.completion.text).strip() or "(no answer)"
    messages = (*first.messages, {"role": "assistant", "content": answer}, {"role": "user", "content": message})
    return first.model_copy(update={"messages": messages})


def feedback_message(attempt: Attempt, kind: str, format_reminder: str, current_code: str = "",
                     prompts_dir: Path | None = None, repeated: bool = False) -> str:
    execution, verdict = attempt.execution, attempt.verdict
    context = {
        "kind": kind,
        "problem": _problem(attempt),
        "checks": [c.reason for c in verdict.checks if not c.passed],
        "output": clean_output(execution.stderr_tail, execution.stdout_tail, execution.workdir) if execution else "",
        "exit_code": execution.exit_code if execution else None,
        "current_code": current_code,
        "format_reminder": format_reminder,
        "repeated": repeated,
    }
    if kind == "output" and execution is not None:
        context.update(problem="", checks=[])
    return render_text(prompts_dir or default_prompts_dir(), FEEDBACK_TEMPLATE, context)


def _problem(attempt: Attempt) -> str:
    """One line on what went wrong; for an answer that never ran, why it could not run."""
    if attempt.execution is None and attempt.extraction.code is None:
        return f"your answer could not be run: {attempt.extraction.note or attempt.verdict.reason}"
    return attempt.verdict.reason


_HARNESS_LINE = re.compile(r"\.adaptbench|sitecustomize|_adaptbench")


def clean_output(stderr: str, stdout: str, workdir: Path | None) -> str:
    """The last lines a user would see, without the harness: work-dir and interpreter paths shortened, probe
    frames dropped, bounded in lines and characters."""
    text = stderr.strip() or stdout.strip()
    if workdir is not None:
        text = text.replace(f"{workdir}/", "").replace(str(workdir), ".")
    for prefix, short in ((sys.prefix, "<python>"), (sys.base_prefix, "<python>")):
        text = text.replace(prefix, short)
    lines = [line for line in text.splitlines() if not _HARNESS_LINE.search(line)]
    tail = "\n".join(lines[-OUTPUT_LINES:])
    return tail[-OUTPUT_CHARS:]
