"""`mock`: scripted outputs and a call history, for tests of the run loop (no model involved).

Script it programmatically:

    mock = MockBackend.scripted(["```python\\nprint(1)\\n```", Completion(text="", error="boom")])
    mock.push("another answer")            # queue more
    mock.respond_with(lambda request, i: f"sample {i} of {request.task.id}")   # or compute answers
    mock.calls                              # every GenerationRequest received, in order

or from the command line with `-M responses_file=answers.json` (a JSON list, or JSON lines, of strings or
Completion objects) and `-M default=...` (the answer once the script is used up; without it that is an error).
`-M rules_file=rules.json` answers by content instead, the same in every process (what a resumed run needs): a JSON
list of {"when": "text", "answer": "..."}; the first rule whose text occurs in the prompt's last message wins
(a rule without "when" always matches). A queued exception is raised from generate(), to simulate a backend that
fails outright."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import BackendError, BadOptionError
from ..types import Completion
from .base import GenerationRequest, ModelBackend, backend

Response = str | Completion | BaseException
Responder = Callable[[GenerationRequest, int], str | Completion]


class MockOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responses_file: Path | None = None
    rules_file: Path | None = None
    default: str | None = None


@backend("mock")
class MockBackend(ModelBackend):
    Options: ClassVar = MockOptions

    def __init__(self, name: str, model: str, options: BaseModel):
        super().__init__(name, model, options)
        self.calls: list[GenerationRequest] = []
        self._queue: deque[Response] = deque()
        self._responder: Responder | None = None
        self._lock = threading.Lock()
        if options.responses_file is not None:
            self.push(*load_responses(options.responses_file))
        if options.rules_file is not None:
            self._responder = rules_responder(load_rules(options.rules_file))

    @classmethod
    def scripted(cls, responses: Iterable[Response] = (), responder: Responder | None = None,
                 default: str | None = None, name: str = "mock") -> MockBackend:
        mock = cls(name, "", MockOptions(default=default))
        mock.push(*responses)
        mock._responder = responder
        return mock

    def push(self, *responses: Response) -> None:
        with self._lock:
            self._queue.extend(responses)

    def respond_with(self, responder: Responder | None) -> None:
        self._responder = responder

    @property
    def remaining(self) -> int:
        return len(self._queue)

    def generate(self, request: GenerationRequest) -> list[Completion]:
        with self._lock:
            self.calls.append(request)
            return [self._as_completion(self._next(request, i)) for i in range(request.n)]

    def _next(self, request: GenerationRequest, index: int) -> Response:
        if self._responder is not None:
            return self._responder(request, index)
        if self._queue:
            return self._queue.popleft()
        if self.options.default is not None:
            return self.options.default
        raise BackendError(f"model '{self.name}': no scripted response left (call {len(self.calls)}, sample {index})",
                           "push more responses, or give a fallback with -M default=...")

    def _as_completion(self, item: Response) -> Completion:
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, Completion):
            return item
        return Completion(text=str(item), model=self.name, finish_reason="stop")


def load_responses(path: Path) -> list[Response]:
    """A JSON list, or one JSON value per line; each a string or a Completion object."""
    try:
        text = Path(path).read_text()
        stripped = text.lstrip()
        items: list[Any] = json.loads(text) if stripped.startswith("[") else [
            json.loads(line) for line in text.splitlines() if line.strip()]
        return [item if isinstance(item, str) else Completion.model_validate(item) for item in items]
    except (OSError, ValueError, ValidationError) as exc:
        problem = str(exc).splitlines()[0]
        raise BadOptionError(f"mock option 'responses_file': cannot read {path}: {problem}",
                             "give a JSON list (or JSON lines) of strings or Completion objects") from None


def load_rules(path: Path) -> list[dict[str, str]]:
    try:
        rules = json.loads(Path(path).read_text())
        if not isinstance(rules, list) or not all(isinstance(r, dict) and isinstance(r.get("answer"), str)
                                                  for r in rules):
            raise ValueError("expected a list of {\"when\": ..., \"answer\": ...} objects")
        return rules
    except (OSError, ValueError) as exc:
        raise BadOptionError(f"mock option 'rules_file': cannot read {path}: {str(exc).splitlines()[0]}",
                             'give a JSON list of {"when": "text in the last message", "answer": "..."}') from None


def rules_responder(rules: list[dict[str, str]]) -> Responder:
    def respond(request: GenerationRequest, index: int) -> str:
        last = request.prompt.messages[-1]["content"] if request.prompt.messages else ""
        for rule in rules:
            if rule.get("when", "") in last:
                return rule["answer"]
        raise BackendError("mock: no rule matches the prompt", "add a rule without 'when' as the fallback")

    return respond
