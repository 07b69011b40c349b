"""Model backends: turn a rendered Prompt into n Completions.

A model is named `provider/model`; the provider picks the backend class, the rest is the backend's model name:

- `openai/<model>`     the OpenAI API, or any OpenAI-compatible server with `-M base_url=http://host:port/v1`
                       (vLLM serve, transformers serve, llama.cpp, ...). Retries, bounded concurrency, usage + latency.
- `hf/<path>`          a local transformers model folder, or a `.gguf` file (alias `transformers/<path>`).
- `vllm/<path>`        the vLLM offline engine on a GPU (extra: `pip install 'adaptbench[gpu]'`).
- `llamacpp/<file.gguf>` a GGUF model served by llama.cpp's llama-server, started on loopback (`make llama-server`).
- `embedded[/<name>]`  models shipped inside PyPI packages: `embedded/qwen2.5-coder-1.5b` (the default of
                       `make benchmark`, on llama.cpp) and `embedded` = SmolLM2-135M (transformers), see embedded.py.
- `oracle`, `identity` harness checks: answer with the task's reference solution / its unchanged input.
- `mock`               scripted outputs with a call history, for tests of the run loop.

Options are `-M key=value` strings validated by each backend's `Options` model (unknown keys are refused).

Adding a provider: subclass `ModelBackend`, declare `Options` (a pydantic model with `extra="forbid"`), implement
`generate(request) -> list[Completion]` (exactly `request.n` items; a failed sample is `Completion(error=...)`), and
register it with `@backend("name")`. A package can also expose it through the entry-point group
`adaptbench.backends` (`name = "pkg.module:Class"`): it is then registered lazily, exactly as the built-ins below, and
imported only when chosen. Import heavy libraries inside the backend (see `_deps.require`), not at module top.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from ..errors import BadOptionError, UnknownNameError
from .base import BACKENDS, GenerationRequest, ModelBackend, backend, parse_options

log = logging.getLogger(__name__)

DEFAULT_MODEL = "embedded/qwen2.5-coder-1.5b"  # the real code model; `embedded` alone is SmolLM2-135M
PLUGIN_GROUP = "adaptbench.backends"

_BUILTINS = {
    "openai": "benchmark.backends.openai_api:OpenAIBackend",
    "hf": "benchmark.backends.transformers_local:TransformersBackend",
    "transformers": "benchmark.backends.transformers_local:TransformersBackend",
    "vllm": "benchmark.backends.vllm_local:VLLMBackend",
    "llamacpp": "benchmark.backends.llamacpp:LlamaCppBackend",
    "embedded": "benchmark.backends.embedded:EmbeddedBackend",
    "oracle": "benchmark.backends.harness:OracleBackend",
    "identity": "benchmark.backends.harness:IdentityBackend",
    "mock": "benchmark.backends.mock:MockBackend",
}
_plugins_loaded = False


def _register_lazily(entries: dict[str, str]) -> None:
    for name, target in entries.items():
        if name not in BACKENDS:
            BACKENDS.add(name, target)


def load_plugins() -> None:
    """Register backends that installed packages expose in the `adaptbench.backends` entry-point group (once)."""
    global _plugins_loaded
    if not _plugins_loaded:
        _register_lazily({ep.name: ep.value for ep in entry_points(group=PLUGIN_GROUP)})
        _plugins_loaded = True


def parse_spec(spec: str | None) -> tuple[str, str]:
    """'openai/gpt-4o-mini' -> ('openai', 'gpt-4o-mini'); 'hf//abs/dir' -> ('hf', '/abs/dir'); None -> the default."""
    provider, _, model = (spec or DEFAULT_MODEL).strip().partition("/")
    return provider, model


def get_backend(spec: str | None = None, options: dict[str, str] | None = None) -> ModelBackend:
    """The backend for a model name like 'openai/gpt-4o-mini', with its -M options validated."""
    load_plugins()
    name = (spec or DEFAULT_MODEL).strip()
    provider, model = parse_spec(name)
    try:
        cls = BACKENDS.get(provider)
    except UnknownNameError as exc:
        raise UnknownNameError(f"unknown model provider '{provider}' in '{name}'", exc.hint) from None
    if getattr(cls, "requires_model", False) and not model:
        raise BadOptionError(f"model '{name}' names no model", f"write {provider}/<model>, e.g. {_example(provider)}")
    return cls.create(name, model, dict(options or {}))


def available() -> list[str]:
    load_plugins()
    return BACKENDS.names()


def _example(provider: str) -> str:
    return {"openai": "openai/gpt-4o-mini", "vllm": "vllm//models/Qwen2.5-Coder-7B-Instruct"}.get(
        provider, f"{provider}//path/to/model-folder")


_register_lazily(_BUILTINS)

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "GenerationRequest",
    "ModelBackend",
    "available",
    "backend",
    "embedded_model_dir",
    "get_backend",
    "load_plugins",
    "parse_options",
    "parse_spec",
]


def __getattr__(name: str):
    if name == "embedded_model_dir":  # lazy: importing it must not pull in transformers
        from .embedded import embedded_model_dir
        return embedded_model_dir
    raise AttributeError(name)
