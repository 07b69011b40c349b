"""`hf/<path>` (alias `transformers/<path>`): a local model folder or GGUF file run in-process with transformers.

Requests are decoded together in batches of `batch_size` sequences (left-padded prompts), across requests when the
run loop sends several (`generate_batch`): on a CPU a bigger batch costs little more per step than one sequence.
Temperature 0 is greedy, decoded once per request and repeated n times. With a seed, batch j of a sampling config
is seeded with `seed + j * batch_size`; without one, samples draw fresh randomness."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import BackendError
from ..types import Completion, GenerationConfig, Usage
from ._deps import force_hub_offline, require
from .base import GenerationRequest, ModelBackend, backend

log = logging.getLogger(__name__)

LOAD_HINT = ("hf/<path> must name a local model folder (config.json + weights) or a .gguf file; "
             "no model hub is reachable here")


class LocalModelOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: str = "cpu"  # 'auto' picks cuda when available
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    batch_size: int = Field(4, ge=1)  # sequences sampled per model.generate call
    max_new_tokens: int | None = Field(None, ge=1)  # caps GenerationConfig.max_tokens (keeps CPU runs short)
    # torch CPU threads for this process (torch.set_num_threads); None leaves torch's default. On a small, busy CPU
    # 1 thread is several times faster than 2 (measured: 1.7 vs 0.4 tok/s on 2 cores at load 12).
    threads: int | None = Field(None, ge=1)


class TransformersOptions(LocalModelOptions):
    gguf_file: str | None = None  # a GGUF file inside the model folder


class _Loaded:
    def __init__(self, model: Any, tokenizer: Any, torch: Any, device: str):
        self.model, self.tokenizer, self.torch, self.device = model, tokenizer, torch, device
        eos = model.generation_config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(self.eos_ids), 0)


@backend("transformers")
@backend("hf")
class TransformersBackend(ModelBackend):
    Options: ClassVar = TransformersOptions
    requires_model: ClassVar[bool] = True
    max_batch_requests: ClassVar[int] = 16

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
        """Fills batches of `batch_size` sequences across requests (left-padded prompts). Greedy requests are
        decoded once and repeated n times; sampling requests contribute n rows each."""
        results: list[list[Completion]] = [[] for _ in requests]
        live = [i for i, r in enumerate(requests) if r.n > 0]
        if not live:
            return results
        loaded = self.load()
        with self._lock:
            for config, rows in _rows_by_config(requests, live).items():
                for start in range(0, len(rows), self.options.batch_size):
                    chunk = rows[start:start + self.options.batch_size]
                    seed = None if config.seed is None else config.seed + start
                    texts = [self._chat_text(loaded, requests[i].prompt.messages) for i in chunk]
                    for i, completion in zip(chunk, self._chunk(loaded, texts, config, seed)):
                        results[i].append(completion)
        return [out * requests[i].n if requests[i].config.temperature <= 0 and out else out
                for i, out in enumerate(results)]

    def _chat_text(self, loaded: _Loaded, messages) -> str:
        tokenizer = loaded.tokenizer
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        log.warning("model '%s' has no chat template: sending the messages as plain text", self.name)
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "

    def _chunk(self, loaded: _Loaded, texts: list[str], config: GenerationConfig, seed: int | None
               ) -> list[Completion]:
        torch, tokenizer = loaded.torch, loaded.tokenizer
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token_id = loaded.pad_id
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = {k: v.to(loaded.device) for k, v in enc.items()}
        if seed is not None:
            torch.manual_seed(seed)
        started = time.perf_counter()
        try:
            with torch.inference_mode():
                output = loaded.model.generate(**inputs, **self._sampling_kwargs(config, 1), pad_token_id=loaded.pad_id)
        except (RuntimeError, ValueError) as exc:  # e.g. out of memory: these samples fail, the run goes on
            log.warning("model '%s': generation failed: %s", self.name, exc)
            return [Completion(text="", model=self.name, error=f"{type(exc).__name__}: {exc}")] * len(texts)
        latency = time.perf_counter() - started
        padded = inputs["input_ids"].shape[1]
        prompt_lens = inputs["attention_mask"].sum(dim=1).tolist()
        return [self._completion(loaded, row[padded:].tolist(), int(n), latency) for row, n in zip(output, prompt_lens)]

    def _sampling_kwargs(self, config: GenerationConfig, k: int) -> dict:  # noqa: D401
        max_new = min(config.max_tokens, self.options.max_new_tokens or config.max_tokens)
        if config.temperature <= 0:
            return {"do_sample": False, "max_new_tokens": max_new, "num_return_sequences": 1,
                    "temperature": None, "top_p": None, "top_k": None}
        kwargs = {"do_sample": True, "temperature": config.temperature, "max_new_tokens": max_new,
                  "num_return_sequences": k}
        if config.top_p is not None:
            kwargs["top_p"] = config.top_p
        return kwargs

    def _completion(self, loaded: _Loaded, ids: list[int], prompt_len: int, latency: float) -> Completion:
        end = next((i for i, t in enumerate(ids) if t in loaded.eos_ids), None)
        kept = ids if end is None else ids[: end + 1]
        return Completion(text=loaded.tokenizer.decode(kept, skip_special_tokens=True), model=self.name,
                          usage=Usage(prompt_tokens=prompt_len, completion_tokens=len(kept)),
                          latency_s=round(latency, 4), finish_reason="length" if end is None else "stop")


def _rows_by_config(requests: list[GenerationRequest], live: list[int]) -> dict[GenerationConfig, list[int]]:
    """Rows to decode, grouped by sampling config: one row per greedy request, n rows per sampling request."""
    rows: dict[GenerationConfig, list[int]] = {}
    for i in live:
        request = requests[i]
        count = 1 if request.config.temperature <= 0 else request.n
        rows.setdefault(request.config, []).extend([i] * count)
    return rows
