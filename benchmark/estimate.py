"""How long a matrix will take with a local model on a small CPU, printed before a run starts.

The rates are those `make speed` measured for the embedded code model under llama.cpp on a 2-core x86 machine
(AVX2, no GPU), a sandbox execution's typical cost, and token counts estimated from characters. The estimate is
an upper bound in attempts (every failing sample uses every round) and says so; for API models only the
request count is given, since their speed is the provider's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .prompts import render_prompt
from .types import Category, RunSpec, Task, split_chain

CHARS_PER_TOKEN = 3.6  # measured on the task scripts with the Qwen2.5 tokenizer (3.4 to 4.0)
PREFILL_TPS = 34.0  # prompt tokens per second (make speed, llama.cpp, 2 threads)
DECODE_TPS = 10.0  # generated tokens per second over the rows decoded together (8.6 for one row)
EXECUTION_S = 12.0  # one sandboxed run of a short training script, with its checks
FEEDBACK_TOKENS = 400  # a repair round's feedback message
LOCAL_PROVIDERS = ("embedded", "llamacpp", "hf", "transformers")


@dataclass(frozen=True)
class Estimate:
    samples: int
    first_requests: int
    seconds: float | None  # None: the speed is a remote provider's

    def describe(self) -> str:
        text = f"{self.samples} samples, {self.first_requests} first-attempt requests"
        if self.seconds is None:
            return text + " (an API model: the duration is the provider's)"
        return text + f"; expected at most about {self.seconds / 60:.0f} min on a 2-core CPU (every round used)"


def estimate(spec: RunSpec, tasks: Sequence[Task]) -> Estimate:
    samples = requests = 0
    seconds = 0.0
    local = all(split_chain(m)[0].split("/")[0] in LOCAL_PROVIDERS for m in spec.models)
    attempts = spec.loop.rounds * max(len(split_chain(m)) for m in spec.models)
    for task in tasks:
        retrievals = len(spec.retrievals) if task.category is Category.translation else 1
        for setting in spec.settings:
            prompt = _tokens(" ".join(m["content"] for m in render_prompt(task, setting).messages))
            answer = _answer_tokens(task, spec.loop.edit_format)
            rows = sum(1 if t <= 0 else spec.n for t in spec.temperatures)
            families = len(spec.models) * retrievals
            samples += families * len(spec.temperatures) * spec.n
            requests += families * len(spec.temperatures)
            first = prompt / PREFILL_TPS + rows * answer / DECODE_TPS + rows * EXECUTION_S
            repair = rows * ((answer + FEEDBACK_TOKENS) / PREFILL_TPS + answer / DECODE_TPS + EXECUTION_S)
            seconds += families * (first + (attempts - 1) * repair)
    return Estimate(samples, requests, seconds if local else None)


def _tokens(text: str) -> float:
    return len(text) / CHARS_PER_TOKEN


def _answer_tokens(task: Task, edit_format: str) -> float:
    """A whole-file answer is about as long as the reference; an edit about a third of what the reference adds."""
    whole = _tokens(task.reference_code())
    return whole if edit_format == "whole" else max(150.0, (whole - _tokens(task.input_code())) * 1.5)
