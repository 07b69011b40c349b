"""The LLM steps of retrieval (chunk summaries, LLMSearch, LLM-DocsSearch): a template under prompts/retrieval/,
one chat request, the answer cached on disk by (model, options, prompt, max tokens).

The LLM is any benchmark backend (`embedded` by default). Scripted `mock` answers are never cached."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchmark.backends import DEFAULT_MODEL, GenerationRequest, ModelBackend, get_backend
from benchmark.cache import default_cache_dir, write_json_atomic
from benchmark.errors import AdaptbenchError, BackendError
from benchmark.prompts import default_prompts_dir
from benchmark.types import GenerationConfig, Prompt, Setting, Task, stable_hash

log = logging.getLogger(__name__)

TEMPLATE_DIR = "retrieval"
LLMSpec = str | ModelBackend | None


def resolve_llm(model: LLMSpec) -> ModelBackend:
    """A backend from a model name (None: the default model), or the given backend itself."""
    if isinstance(model, ModelBackend):
        return model
    return _backend(model or DEFAULT_MODEL)


@lru_cache(maxsize=4)
def _backend(name: str) -> ModelBackend:
    return get_backend(name)


def render(template: str, **context: Any) -> str:
    """`prompts/retrieval/<template>.j2` rendered with `context`."""
    import jinja2

    folder = default_prompts_dir() / TEMPLATE_DIR
    env = _environment(str(folder))
    try:
        return env.get_template(f"{template}.j2").render(**context).strip() + "\n"
    except jinja2.TemplateNotFound:
        raise AdaptbenchError(f"retrieval prompt template '{template}.j2' not found in {folder}",
                              "restore prompts/retrieval/ or point ADAPTBENCH_PROMPTS_DIR at a complete folder") from None


@lru_cache(maxsize=4)
def _environment(folder: str):
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def ask(llm: ModelBackend, user: str, max_tokens: int, task: Task | None = None, purpose: str = "retrieval") -> str:
    """The model's answer to one user message (greedy), from the cache when it was asked before."""
    messages = ({"role": "user", "content": user},)
    scripted = llm.name.split("/", 1)[0] == "mock"
    path = _cache_path(llm, messages, max_tokens)
    if not scripted and path.is_file():
        try:
            return json.loads(path.read_text())["text"]
        except (ValueError, KeyError):
            log.debug("ignoring unreadable cache entry %s", path)
    text = _generate(llm, messages, max_tokens, task, purpose)
    if not scripted:
        write_json_atomic(path, {"model": llm.name, "purpose": purpose, "text": text})
    return text


def _generate(llm: ModelBackend, messages: tuple, max_tokens: int, task: Task | None, purpose: str) -> str:
    owner = task or _placeholder_task(purpose)
    prompt = Prompt(task_id=owner.id, setting=Setting.zero_shot, retrieval=purpose, messages=messages)
    request = GenerationRequest(task=owner, prompt=prompt, config=GenerationConfig(temperature=0.0,
                                                                                   max_tokens=max_tokens), n=1)
    completion = llm.generate(request)[0]
    if completion.error:
        raise BackendError(f"model '{llm.name}' failed during {purpose}: {completion.error}",
                           "check the model, or choose another with --model")
    return completion.text.strip()


def _cache_path(llm: ModelBackend, messages: tuple, max_tokens: int) -> Path:
    options = llm.options.model_dump(mode="json") if llm.options is not None else {}
    key = stable_hash({"model": llm.name, "options": options, "messages": list(messages), "max_tokens": max_tokens})
    return default_cache_dir() / "retrieval" / "llm" / key[:2] / f"{key}.json"


def _placeholder_task(purpose: str) -> Task:
    """Corpus curation happens outside any task; backends only read the prompt, so a bare Task stands in."""
    return Task.model_construct(id=f"retrieval:{purpose}")
