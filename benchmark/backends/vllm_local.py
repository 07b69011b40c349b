"""`vllm/<path-or-id>`: the vLLM offline engine (`vllm.LLM`) on a CUDA GPU; extra `gpu` (`pip install 'adaptbench[gpu]'`).

One `LLM.chat` call per batch of requests, each with its own `SamplingParams(n=...)`, so vLLM schedules every prompt
and sample of the batch together. Temperature 0 is greedy: one sequence, repeated n times. vLLM is imported only when this backend is chosen."""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..types import Completion, Usage
from ._deps import force_hub_offline, require
from .base import GenerationRequest, ModelBackend, backend

log = logging.getLogger(__name__)


class VLLMOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dtype: str = "auto"
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    max_model_len: int | None = Field(None, ge=1)
    tensor_parallel_size: int = Field(1, ge=1)
    quantization: str | None = None
    enforce_eager: bool = False
    trust_remote_code: bool = False
    engine_seed: int = 0  # the engine's default seed (a request's GenerationConfig.seed wins)


@backend("vllm")
class VLLMBackend(ModelBackend):
    Options: ClassVar = VLLMOptions
    requires_model: ClassVar[bool] = True
    max_batch_requests: ClassVar[int] = 64  # the run loop sends whole prompt families, up to this many requests

    def __init__(self, name: str, model: str, options: BaseModel):
        super().__init__(name, model, options)
        self._vllm = require("vllm", f"model '{name}'", extra="gpu")
        self._llm: Any = None
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    def load(self) -> Any:
        with self._lock:
            if self._llm is None:
                force_hub_offline()
                started = time.perf_counter()
                self._llm = self._vllm.LLM(**self._engine_kwargs())
                self.load_seconds = time.perf_counter() - started
                log.info("vLLM loaded %s in %.1f s", self.model, self.load_seconds)
            return self._llm

    def _engine_kwargs(self) -> dict[str, Any]:
        o = self.options
        kwargs: dict[str, Any] = {"model": self.model, "dtype": o.dtype, "seed": o.engine_seed,
                                  "gpu_memory_utilization": o.gpu_memory_utilization,
                                  "tensor_parallel_size": o.tensor_parallel_size, "enforce_eager": o.enforce_eager,
                                  "trust_remote_code": o.trust_remote_code}
        if o.max_model_len is not None:
            kwargs["max_model_len"] = o.max_model_len
        if o.quantization is not None:
            kwargs["quantization"] = o.quantization
        return kwargs

    def generate(self, request: GenerationRequest) -> list[Completion]:
        return self.generate_batch([request])[0]

    def generate_batch(self, requests: list[GenerationRequest]) -> list[list[Completion]]:
        """All requests in one `LLM.chat` call, so the engine schedules them together (and reuses a shared prompt
        prefix). If the call fails (e.g. one prompt exceeds max_model_len), each request is retried alone so that
        only the offending one is recorded as failed."""
        live = [i for i, r in enumerate(requests) if r.n > 0]
        results: list[list[Completion]] = [[] for _ in requests]
        if not live:
            return results
        llm = self.load()
        started = time.perf_counter()
        try:
            with self._lock:
                outputs = llm.chat([[dict(m) for m in requests[i].prompt.messages] for i in live],
                                   [self._params(requests[i]) for i in live], use_tqdm=False)
        except (RuntimeError, ValueError) as exc:
            if len(live) == 1:
                log.warning("model '%s': generation failed: %s", self.name, exc)
                error = Completion(text="", model=self.name, error=f"{type(exc).__name__}: {exc}")
                results[live[0]] = [error] * requests[live[0]].n
                return results
            return [self.generate_batch([r])[0] for r in requests]
        latency = round(time.perf_counter() - started, 4)
        for i, result in zip(live, outputs):
            results[i] = self._completions(requests[i], result, latency)
        return results

    def _params(self, request: GenerationRequest) -> Any:
        config = request.config
        greedy = config.temperature <= 0
        return self._vllm.SamplingParams(n=1 if greedy else request.n, temperature=max(config.temperature, 0.0),
                                         top_p=config.top_p if config.top_p is not None else 1.0,
                                         max_tokens=config.max_tokens, seed=config.seed)

    def _completions(self, request: GenerationRequest, result: Any, latency: float) -> list[Completion]:
        prompt_tokens = len(result.prompt_token_ids or [])
        out = [Completion(text=o.text, model=self.name, latency_s=latency, finish_reason=o.finish_reason,
                          usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=len(o.token_ids)))
               for o in result.outputs]
        return out * request.n if request.config.temperature <= 0 else out

    def close(self) -> None:
        with self._lock:
            self._llm = None
        gc.collect()
        torch = require("torch", "releasing GPU memory")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
