"""`openai/<model>`: the OpenAI chat-completions API, or any OpenAI-compatible server (`-M base_url=...`).

The client's own retries are switched off; this module retries itself so the behaviour is explicit and tested:
429, 408/409, 5xx, timeouts, connection errors and malformed bodies are retried with exponential backoff and jitter
(a Retry-After header wins); 401/403/404 stop the run at once (`BackendError` with a hint); other 4xx answers and
retries that run out become `Completion(error=...)` for the samples concerned, so no finished work is lost.

A request asks for `n` choices. Servers that ignore `n` (vLLM with some settings, `transformers serve`) return fewer:
the backend then asks for the missing samples one by one, in parallel, and stops asking for n on later requests.
With a seed, those single requests use `seed + sample index` so they do not all return the same sample.
Concurrency is bounded per backend (`concurrency` requests in flight at most, across threads).

Usage: `prompt_tokens` is the prompt's length for every sample; a multi-choice response's `completion_tokens` are
split evenly over its choices. `latency_s` is the duration of the HTTP request that produced the sample."""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import BackendError, NeedsKeyError
from ..types import Completion, GenerationConfig, Usage
from ._deps import require
from .base import GenerationRequest, ModelBackend, backend

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = {408, 409, 429}
FATAL_STATUS = {401: "the server refused the API key", 403: "the API key may not use this model",
                404: "the server does not know this model or endpoint"}


class OpenAIOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None  # an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key
    organization: str | None = None
    timeout: float = Field(300.0, gt=0)  # seconds per HTTP request
    max_retries: int = Field(5, ge=0)
    concurrency: int = Field(4, ge=1)  # HTTP requests in flight at most
    backoff_base: float = Field(1.0, ge=0)  # the first retry waits about this long, doubling each time
    backoff_max: float = Field(60.0, ge=0)
    retry_after_max: float = Field(300.0, ge=0)  # a server's Retry-After is obeyed up to this many seconds
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    send_n: bool = True  # ask for n choices per request (false: always one request per sample)


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class _Permanent(Exception):
    """This request cannot succeed (e.g. 400: prompt too long); its samples fail, the run goes on."""


@backend("openai")
class OpenAIBackend(ModelBackend):
    Options: ClassVar = OpenAIOptions
    requires_model: ClassVar[bool] = True

    def __init__(self, name: str, model: str, options: BaseModel):
        super().__init__(name, model, options)
        self._openai = require("openai", f"model '{name}'")
        self._client = self._make_client()
        self._slots = threading.BoundedSemaphore(options.concurrency)
        self._n_ignored = not options.send_n
        self._counter = threading.Lock()
        self.requests_sent = 0

    def _make_client(self) -> Any:
        env = self.options.api_key_env
        key = os.environ.get(env)
        if not key and self.options.base_url is None:
            raise NeedsKeyError(f"model '{self.name}' needs an OpenAI API key, and ${env} is not set",
                                f"export {env}=sk-... (or name another variable with -M api_key_env=NAME)")
        return self._openai.OpenAI(api_key=key or "not-needed", base_url=self.options.base_url or OPENAI_BASE_URL,
                                   organization=self.options.organization, timeout=self.options.timeout,
                                   max_retries=0)

    @property
    def ignores_n(self) -> bool:
        """True once the server has answered a request for n choices with fewer (or send_n=false)."""
        return self._n_ignored

    @property
    def concurrency(self) -> int:
        """How many generate() calls the run loop may make at once (HTTP requests stay bounded by this too)."""
        return self.options.concurrency

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------ samples

    def generate(self, request: GenerationRequest) -> list[Completion]:
        out: list[Completion] = []
        if request.n <= 0:
            return out
        if request.n == 1 or not self._n_ignored:
            out = self._call(request, request.n, request.config.seed)
            if len(out) < request.n and not self._n_ignored:
                self._n_ignored = True
                log.info("model '%s': server returned %d of %d choices (it ignores n): asking one by one",
                         self.name, len(out), request.n)
        if len(out) < request.n:
            out += self._fan_out(request, start=len(out))
        return out[: request.n]

    def _fan_out(self, request: GenerationRequest, start: int) -> list[Completion]:
        seed = request.config.seed
        indices = range(start, request.n)
        with ThreadPoolExecutor(max_workers=min(len(indices), self.options.concurrency)) as pool:
            futures = [pool.submit(self._call, request, 1, None if seed is None else seed + i) for i in indices]
            return [future.result()[0] for future in futures]

    def _call(self, request: GenerationRequest, n: int, seed: int | None) -> list[Completion]:
        """One logical request for n choices, retried; never fewer than 1 completion back."""
        params = self._params(request, n, seed)
        attempts = self.options.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._attempt(params)
            except _Permanent as exc:
                return self._failed(str(exc), n)
            except _Retryable as exc:
                if attempt + 1 == attempts:
                    return self._failed(f"{exc.reason} (gave up after {attempts} attempts)", n)
                delay = self._delay(attempt, exc.retry_after)
                log.warning("model '%s': %s; retry %d/%d in %.2f s", self.name, exc.reason, attempt + 1,
                            attempts - 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _failed(self, reason: str, n: int) -> list[Completion]:
        log.warning("model '%s': %d sample(s) failed: %s", self.name, n, reason)
        return [Completion(text="", model=self.name, error=reason)] * n

    def _params(self, request: GenerationRequest, n: int, seed: int | None) -> dict[str, Any]:
        config: GenerationConfig = request.config
        params: dict[str, Any] = {"model": self.model, "messages": [dict(m) for m in request.prompt.messages],
                                  "temperature": config.temperature, self.options.max_tokens_param: config.max_tokens}
        if n > 1:
            params["n"] = n
        if config.top_p is not None:
            params["top_p"] = config.top_p
        if seed is not None:
            params["seed"] = seed
        return params

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.options.retry_after_max)
        ceiling = min(self.options.backoff_base * 2 ** attempt, self.options.backoff_max)
        return ceiling * random.uniform(0.5, 1.0)  # jitter: concurrent clients do not retry in lockstep

    # ------------------------------------------------------------ one HTTP request

    def _attempt(self, params: dict[str, Any]) -> list[Completion]:
        openai = self._openai
        with self._slots:
            with self._counter:
                self.requests_sent += 1
            started = time.perf_counter()
            try:
                response = self._client.chat.completions.with_raw_response.create(**params).parse()
            except openai.APIStatusError as exc:
                raise self._status_error(exc) from None
            except openai.APITimeoutError:
                raise _Retryable(f"no answer within {self.options.timeout:g} s") from None
            except openai.APIConnectionError as exc:
                raise _Retryable(f"connection error: {exc.__cause__ or exc}") from None
            except (openai.APIResponseValidationError, ValueError) as exc:
                raise _Retryable(f"malformed response body: {str(exc)[:200]}") from None
            latency = time.perf_counter() - started
        return self._completions(response, latency)

    def _status_error(self, exc: Any) -> Exception:
        status = exc.status_code
        detail = f"HTTP {status}: {_short(exc)}"
        if status in FATAL_STATUS:
            hint = (f"check ${self.options.api_key_env}" if status in (401, 403) else
                    "check the model name, and that base_url ends with /v1 for OpenAI-compatible servers")
            return BackendError(f"model '{self.name}': {FATAL_STATUS[status]} ({detail})", hint)
        if status in RETRY_STATUS or status >= 500:
            return _Retryable(detail, retry_after_seconds(exc.response.headers))
        return _Permanent(detail)

    def _completions(self, response: Any, latency: float) -> list[Completion]:
        try:
            choices = list(response.choices or [])
            texts = [(c.message.content or "", c.finish_reason) for c in choices]
            usage = response.usage
            prompt_tokens = int(usage.prompt_tokens) if usage else 0
            completion_tokens = int(usage.completion_tokens) if usage else 0
        except (AttributeError, TypeError, ValueError) as exc:
            raise _Retryable(f"malformed response body: {exc}") from None
        if not choices:
            raise _Retryable("malformed response body: no choices")
        shares = _split(completion_tokens, len(choices))
        compute = round(latency / len(choices), 4)  # n choices of one request share its time
        return [Completion(text=text, model=self.name, finish_reason=finish, latency_s=round(latency, 4),
                           compute_s=compute, usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=share))
                for (text, finish), share in zip(texts, shares)]


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from `retry-after-ms`, or `retry-after` (seconds or an HTTP date); None when absent or unreadable."""
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _short(exc: Any) -> str:
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or getattr(exc, "message", exc))[:300]
