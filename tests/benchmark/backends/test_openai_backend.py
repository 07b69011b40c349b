"""The openai backend against a scripted fault-injecting server: retries, backoff, n handling, usage, failures."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from benchmark.backends import get_backend
from benchmark.backends.openai_api import retry_after_seconds
from benchmark.errors import BackendError, NeedsKeyError

from .conftest import make_request
from .fault_server import (
    PROMPT_TOKENS,
    TOKENS_PER_CHOICE,
    FaultServer,
    hang,
    malformed,
    ok,
    status,
)

FAST = {"backoff_base": "0.01", "backoff_max": "0.05", "timeout": "0.5", "max_retries": "5"}


def backend_for(server: FaultServer, **options: str):
    return get_backend("openai/test-model", {"base_url": server.base_url, **FAST, **options})


def test_retries_through_every_fault_then_succeeds(task):
    script = [status(429, {"Retry-After": "1"}), status(500), hang(2.0), malformed(), malformed(b'{"object": "x"}'),
              ok()]
    with FaultServer(script) as server:
        model = backend_for(server)
        started = time.perf_counter()
        [completion] = model.generate(make_request(task, n=1))
        elapsed = time.perf_counter() - started
    assert completion.error is None and completion.text.startswith("answer 0")
    assert len(server.requests) == 6 and model.requests_sent == 6
    assert elapsed >= 1.0 + 0.5  # obeyed Retry-After: 1, and waited out the client timeout on the hang
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    assert completion.usage.completion_tokens == TOKENS_PER_CHOICE
    assert 0 < completion.latency_s < 5 and completion.finish_reason == "stop"


def test_request_carries_the_generation_config(task):
    with FaultServer() as server:
        backend_for(server).generate(make_request(task, n=2, temperature=0.7, max_tokens=33, seed=4))
    [body] = server.requests
    assert body["model"] == "test-model" and body["n"] == 2 and body["temperature"] == 0.7
    assert body["max_tokens"] == 33 and body["seed"] == 4
    assert body["messages"] == [{"role": "user", "content": "Say hello."}]


def test_server_ignoring_n_still_yields_n_samples(task):
    with FaultServer(default=ok(choices=1)) as server:
        model = backend_for(server)
        first = model.generate(make_request(task, n=3, temperature=0.8, seed=5))
        assert [b.get("n") for b in server.requests] == [3, None, None]
        assert sorted(b["seed"] for b in server.requests) == [5, 6, 7]  # one seed per sample, not 3 copies
        second = model.generate(make_request(task, n=3, temperature=0.8, seed=5))
    assert len(first) == 3 and len(second) == 3
    assert all(c.error is None for c in first + second)
    assert len({c.text for c in first}) == 3
    assert len(server.requests) == 6  # learned: the second call does not ask for n again
    assert all(c.usage.completion_tokens == TOKENS_PER_CHOICE for c in first)


def test_n_choices_split_usage(task):
    with FaultServer() as server:
        out = backend_for(server).generate(make_request(task, n=3, temperature=0.8))
    assert len(server.requests) == 1 and len(out) == 3
    assert sum(c.usage.completion_tokens for c in out) == 3 * TOKENS_PER_CHOICE
    assert all(c.usage.prompt_tokens == PROMPT_TOKENS for c in out)


def test_permanent_failure_becomes_error_completions(task):
    with FaultServer(default=status(503)) as server:
        out = backend_for(server, max_retries="2").generate(make_request(task, n=2, temperature=0.8))
    assert len(server.requests) == 3  # 1 try + 2 retries, then it stops by itself
    assert len(out) == 2 and all(c.text == "" for c in out)
    assert all("503" in c.error and "gave up after 3 attempts" in c.error for c in out)


def test_client_error_is_not_retried(task):
    with FaultServer(default=status(400)) as server:
        [completion] = backend_for(server).generate(make_request(task))
    assert len(server.requests) == 1 and "HTTP 400" in completion.error


def test_auth_error_stops_at_once_with_a_hint(task):
    with FaultServer(default=status(401)) as server, pytest.raises(BackendError) as info:
        backend_for(server, api_key_env="MY_KEY").generate(make_request(task))
    assert len(server.requests) == 1
    assert "refused the API key" in info.value.message and "MY_KEY" in info.value.hint


def test_unreachable_server_fails_the_samples_after_retries(task):
    with FaultServer() as server:
        url = server.base_url
    model = get_backend("openai/m", {"base_url": url, **FAST, "max_retries": "1"})
    [completion] = model.generate(make_request(task))
    assert model.requests_sent == 2 and "connection error" in completion.error


def test_concurrency_is_bounded(task):
    with FaultServer(default=ok(choices=1, delay=0.3)) as server:
        out = backend_for(server, concurrency="2").generate(make_request(task, n=6, temperature=0.8))
    assert len(out) == 6 and len(server.requests) == 6
    assert server.max_in_flight == 2


def test_missing_key_for_the_real_api(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(NeedsKeyError) as info:
        get_backend("openai/gpt-4o-mini")
    assert "OPENAI_API_KEY" in str(info.value) and "api_key_env" in info.value.hint
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert get_backend("openai/gpt-4o-mini").model == "gpt-4o-mini"


def test_custom_server_needs_no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert get_backend("openai/local", {"base_url": "http://127.0.0.1:9/v1"}).model == "local"


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": later}) <= 30
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
