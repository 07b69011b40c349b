"""Harness models that validate the benchmark itself rather than a model:

- `oracle` answers with the task's reference solution: every task must pass (the gold run, as in SWE-bench).
- `identity` answers with the task's input script unchanged: every task must fail as its spec predicts.

Both answer in a ```python fence, as a model would, so the extraction stage is exercised too."""

from __future__ import annotations

from typing import ClassVar

from ..types import Completion, Task
from .base import GenerationRequest, ModelBackend, backend


def fenced(code: str) -> str:
    return f"```python\n{code if code.endswith(chr(10)) else code + chr(10)}```\n"


class _FixedAnswer(ModelBackend):
    samples_vary: ClassVar[bool] = False

    def answer(self, task: Task) -> str:
        raise NotImplementedError

    def generate(self, request: GenerationRequest) -> list[Completion]:
        completion = Completion(text=fenced(self.answer(request.task)), model=self.name, finish_reason="stop")
        return [completion] * request.n


@backend("oracle")
class OracleBackend(_FixedAnswer):
    """Answers with the task's reference solution."""

    def answer(self, task: Task) -> str:
        return task.reference_code()


@backend("identity")
class IdentityBackend(_FixedAnswer):
    """Answers with the task's input script, unchanged."""

    def answer(self, task: Task) -> str:
        return task.input_code()
