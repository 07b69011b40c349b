"""`hf/<path>` (alias `transformers/<path>`): a local model folder or GGUF file run in-process with transformers.

Requests that share a prompt are decoded together (`_decode.py`): the prompt is read once, then up to `batch_size`
rows — every sample of every temperature — are decoded in one batch; on a CPU a bigger batch costs little more per
step than one sequence. Temperature 0 is greedy, decoded once per request and repeated n times. With a seed, sample j
of a request draws from its own generator seeded `seed + j`, so a sample does not depend on what shares its batch;
without one, samples draw fresh randomness."""

from __future__ import annotations

import logging
import os
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import BackendError
from ..evaluation import running_executions
from ..types import Completion, Usage
from ._decode import RowOutput, RowSpec, decode_rows, prefill
from ._deps import force_hub_offline, require
from .base import GenerationRequest, ModelBackend, backend

log = logging.getLogger(__name__)

LOAD_HINT = ("hf/<path> must name a local model folder (config.json + weights) or a .gguf file; "
             "no model hub is reachable here")


class LocalModelOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: str = "cpu"  # 'auto' picks cuda when available
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    batch_size: int = Field(8, ge=1)  # rows decoded together; a prompt is read once however many rows it has
    max_new_tokens: int | None = Field(None, ge=1)  # caps GenerationConfig.max_tokens (keeps CPU runs short)
    # torch CPU threads. None: every core not taken by a sandboxed script of this run, re-checked every few decoding
    # steps (2 threads decode half as fast as 1 when the other core is busy: measured). A number fixes it.
    threads: int | None = Field(None, ge=1)
    # int8: the linear layers (not the output head) get per-channel int8 weights with dynamic activation
    # quantisation, CPU only. Measured on SmolLM2-135M, 1 thread: prefill 2.1x, decoding 1.4x faster than float32.
    # Off by default: it changes the model's answers, and its activation scales are computed over the whole batch,
    # so a sample then depends on the rows decoded beside it (not reproducible across batch compositions).
    quantize: Literal["none", "int8"] = "none"


class TransformersOptions(LocalModelOptions):
    gguf_file: str | None = None  # a GGUF file inside the model folder


class _Loaded:
    def __init__(self, model: Any, tokenizer: Any, torch: Any, device: str):
        self.model, self.tokenizer, self.torch, self.device = model, tokenizer, torch, device
        eos = model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])


@backend("transformers")
@backend("hf")
class TransformersBackend(ModelBackend):
    Options: ClassVar = TransformersOptions
    requires_model: ClassVar[bool] = True
    max_batch_requests: ClassVar[int] = 4  # the run loop never splits a prompt's temperatures across calls

    def __init__(self, name: str, model: str, options: BaseModel):
        super().__init__(name, model, options)
        self._lock = threading.Lock()  # one generate at a time: the model is not thread-safe and the CPU is small
        self._loaded: _Loaded | None = None
        self.load_seconds: float | None = None

    # ------------------------------------------------------------ loading

    def _model_path(self) -> tuple[Path, str | None]:
        path = Path(self.model).expanduser()
        if path.suffix == ".gguf":
            if not path.is_file():
                raise BackendError(f"model '{self.name}': no such file {path}", LOAD_HINT)
            return path.parent, path.name
        return path, self.options.gguf_file

    def load(self) -> _Loaded:
        """Load the model once (also done by the first generate); returns the loaded bundle."""
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> _Loaded:
        folder, gguf = self._model_path()
        force_hub_offline()
        torch = require("torch", f"model '{self.name}'")
        transformers = require("transformers", f"model '{self.name}'")
        transformers.utils.logging.disable_progress_bar()  # per-tensor bars; the load time is logged below
        kwargs = {"gguf_file": gguf} if gguf else {}
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        started = time.perf_counter()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), **kwargs)
            model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=self._dtype(torch), **kwargs)
        except (OSError, ValueError) as exc:
            raise BackendError(f"model '{self.name}': cannot load {folder}: {exc}", LOAD_HINT) from exc
        device = self._device(torch)
        model.to(device).eval()
        if self.options.quantize == "int8":
            model = _int8_linears(torch, model, device, self.name)
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s on %s in %.1f s", folder, device, self.load_seconds)
        return _Loaded(model, tokenizer, torch, device)

    def _dtype(self, torch: Any) -> Any:
        return "auto" if self.options.dtype == "auto" else getattr(torch, self.options.dtype)

    def _device(self, torch: Any) -> str:
        if self.options.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.options.device

    def close(self) -> None:
        loaded, self._loaded = self._loaded, None
        if loaded is not None and loaded.device.startswith("cuda"):
            loaded.torch.cuda.empty_cache()

    # ------------------------------------------------------------ generation

    def generate(self, request: GenerationRequest) -> list[Completion]:
        return self.generate_batch([request])[0]

    def generate_batch(self, requests: list[GenerationRequest]) -> list[list[Completion]]:
        """Requests that share a prompt (the run loop sends a prompt's temperatures together) are read once and
        decoded together, `batch_size` rows at a time. Greedy requests are decoded once and repeated n times."""
        results: list[list[Completion]] = [[] for _ in requests]
        live = [i for i, r in enumerate(requests) if r.n > 0]
        if not live:
            return results
        loaded = self.load()
        with self._lock:
            for text, members in _by_prompt(requests, live, lambda r: self._chat_text(loaded, r.prompt.messages)):
                for owner, completion in self._decode_prompt(loaded, text, [(i, requests[i]) for i in members]):
                    results[owner].append(completion)
        return [out * requests[i].n if requests[i].config.temperature <= 0 and out else out
                for i, out in enumerate(results)]

    def _chat_text(self, loaded: _Loaded, messages) -> str:
        tokenizer = loaded.tokenizer
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        log.warning("model '%s' has no chat template: sending the messages as plain text", self.name)
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "

    def _decode_prompt(self, loaded: _Loaded, text: str, members: list[tuple[int, GenerationRequest]]
                       ) -> list[tuple[int, Completion]]:
        owners, rows = self._rows(members)
        prompt_ids = loaded.tokenizer(text, add_special_tokens=False).input_ids
        started = time.perf_counter()
        fit_threads = partial(self._fit_threads, loaded)
        try:
            fit_threads()
            prefix = prefill(loaded.model, loaded.torch, prompt_ids, loaded.device)
            outputs = []
            for start in range(0, len(rows), self.options.batch_size):
                outputs += decode_rows(loaded.model, loaded.torch, prefix, rows[start:start + self.options.batch_size],
                                       loaded.eos_ids, loaded.device, every_steps=fit_threads)
        except (RuntimeError, ValueError, AttributeError) as exc:  # e.g. out of memory: these samples fail, the run goes on
            log.warning("model '%s': generation failed: %s", self.name, exc)
            error = Completion(text="", model=self.name, error=f"{type(exc).__name__}: {exc}")
            return [(owner, error) for owner in owners]
        latency = round(time.perf_counter() - started, 4)
        share = round(latency / max(1, len(outputs)), 4)  # the rows decoded together share the time
        return [(owner, self._completion(loaded, out, len(prompt_ids), latency, share))
                for owner, out in zip(owners, outputs)]

    def _fit_threads(self, loaded: _Loaded) -> None:
        """Without a fixed `threads`, use the cores that no sandboxed script of this run is using (at least one)."""
        if self.options.threads is not None or not loaded.device.startswith("cpu"):
            return
        free = max(1, len(os.sched_getaffinity(0)) - running_executions())
        if free != loaded.torch.get_num_threads():
            loaded.torch.set_num_threads(free)

    def _rows(self, members: list[tuple[int, GenerationRequest]]) -> tuple[list[int], list[RowSpec]]:
        """One row per greedy request, n rows per sampling request; with a seed, row j of a request uses seed + j."""
        owners, rows = [], []
        for owner, request in members:
            config = request.config
            limit = min(config.max_tokens, self.options.max_new_tokens or config.max_tokens)
            for j in range(1 if config.temperature <= 0 else request.n):
                owners.append(owner)
                rows.append(RowSpec(temperature=config.temperature, max_new_tokens=limit, top_p=config.top_p,
                                    seed=None if config.seed is None else config.seed + j))
        return owners, rows

    def _completion(self, loaded: _Loaded, output: RowOutput, prompt_len: int, latency: float,
                    share: float) -> Completion:
        return Completion(text=loaded.tokenizer.decode(output.token_ids, skip_special_tokens=True), model=self.name,
                          usage=Usage(prompt_tokens=prompt_len, completion_tokens=len(output.token_ids)),
                          latency_s=latency, compute_s=share, finish_reason="stop" if output.finished else "length")


def _int8_linears(torch: Any, model: Any, device: str, name: str) -> Any:
    """Dynamic int8 quantisation of every linear layer but the output head (the tied vocabulary projection is the
    layer that small models are most sensitive to). torch.ao warns that it is deprecated; it is present in the
    pinned torch and its CPU kernels are faster here than torchao's (measured)."""
    if not device.startswith("cpu"):
        raise BackendError(f"model '{name}': quantize=int8 runs on the CPU only", "drop -M quantize=int8 or use device=cpu")
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    names = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        return quantize_dynamic(model, {n: per_channel_dynamic_qconfig for n in names}, dtype=torch.qint8, inplace=True)


def _by_prompt(requests: list[GenerationRequest], live: list[int], text_of) -> list[tuple[str, list[int]]]:
    """Live request indices grouped by their rendered prompt text, in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i in live:
        groups.setdefault(text_of(requests[i]), []).append(i)
    return list(groups.items())
