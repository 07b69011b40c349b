"""The backend extension point: a provider implements only `generate`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import BadOptionError
from ..registry import Registry
from ..types import Completion, GenerationConfig, Prompt, Record, Task


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerationRequest(Record):
    task: Task
    prompt: Prompt
    config: GenerationConfig
    n: int = 1


class ModelBackend(ABC):
    """One model. `name` is the full model name as the user typed it (e.g. 'openai/gpt-4o-mini').
    Subclasses declare `Options` (a pydantic model with extra='forbid') for their -M key=value options."""

    Options: ClassVar[type[BaseModel]] = NoOptions
    # False for harness models whose output does not depend on temperature/sampling (oracle, identity)
    samples_vary: ClassVar[bool] = True

    def __init__(self, name: str, model: str, options: BaseModel):
        self.name, self.model, self.options = name, model, options

    @classmethod
    def create(cls, name: str, model: str, raw_options: dict[str, str]) -> ModelBackend:
        """The backend for `name` with its -M options validated. A provider that resolves to another backend
        (`embedded/<name>` picks an engine) overrides this."""
        return cls(name, model, parse_options(cls, raw_options, name))

    @abstractmethod
    def generate(self, request: GenerationRequest) -> list[Completion]:
        """Return exactly request.n completions. A per-sample failure is a Completion with `error` set;
        raise BackendError only when nothing can be produced (bad key, unreachable server after retries)."""

    # Backends that gain from several prompts at once (a local model filling a batch, vLLM's offline engine) set
    # `max_batch_requests` > 1 and override `generate_batch`; the run loop then sends them groups of requests.
    max_batch_requests: ClassVar[int] = 1

    def generate_batch(self, requests: list[GenerationRequest]) -> list[list[Completion]]:
        """One list of completions per request, in order. The default asks for each request in turn."""
        return [self.generate(request) for request in requests]

    def close(self) -> None:  # release servers, GPU memory ...
        return None


BACKENDS: Registry[ModelBackend] = Registry("model backend", ModelBackend)


def backend(name: str):
    return BACKENDS.register(name)


def parse_options(cls: type[ModelBackend], raw: dict[str, str], model_name: str) -> BaseModel:
    try:
        return cls.Options.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "?"
        allowed = ", ".join(cls.Options.model_fields) or "none"
        raise BadOptionError(f"model '{model_name}': option '{key}': {err['msg']}", f"options allowed: {allowed}") from None
