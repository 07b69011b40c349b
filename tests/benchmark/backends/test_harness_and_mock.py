"""oracle, identity and mock: the backends that test the harness rather than a model."""

from __future__ import annotations

import json

import pytest

from benchmark.backends import get_backend
from benchmark.backends.mock import MockBackend
from benchmark.errors import BackendError, BadOptionError
from benchmark.types import Completion

from .conftest import INPUT, REFERENCE, make_request


def test_oracle_answers_with_the_reference(task):
    model = get_backend("oracle")
    out = model.generate(make_request(task, n=3, temperature=0.8))
    assert model.samples_vary is False
    assert [c.text for c in out] == [f"```python\n{REFERENCE}```\n"] * 3
    assert all(c.error is None for c in out)


def test_identity_answers_with_the_input(task):
    model = get_backend("identity")
    [completion] = model.generate(make_request(task))
    assert model.samples_vary is False and completion.text == f"```python\n{INPUT}```\n"


def test_mock_queue_and_history(task):
    mock = MockBackend.scripted(["a", Completion(text="", error="boom"), "c"])
    first = mock.generate(make_request(task, n=2))
    second = mock.generate(make_request(task, n=1, content="again"))
    assert [c.text for c in first] == ["a", ""] and first[1].error == "boom"
    assert [c.text for c in second] == ["c"]
    assert [r.prompt.messages[0]["content"] for r in mock.calls] == ["Say hello.", "again"]
    with pytest.raises(BackendError) as info:
        mock.generate(make_request(task))
    assert "no scripted response left" in info.value.message and "default" in info.value.hint


def test_mock_callable_and_default(task):
    mock = MockBackend.scripted(responder=lambda request, i: f"{request.task.id}#{i}")
    assert [c.text for c in mock.generate(make_request(task, n=2))] == ["demo-task#0", "demo-task#1"]
    fallback = MockBackend.scripted(["x"], default="d")
    assert [c.text for c in fallback.generate(make_request(task, n=3))] == ["x", "d", "d"]


def test_mock_raises_a_queued_exception(task):
    mock = MockBackend.scripted([BackendError("server down")])
    with pytest.raises(BackendError, match="server down"):
        mock.generate(make_request(task))


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_mock_responses_file(task, tmp_path, fmt):
    items = ["one", {"text": "", "error": "failed"}]
    path = tmp_path / f"answers.{fmt}"
    path.write_text(json.dumps(items) if fmt == "json" else "\n".join(json.dumps(i) for i in items))
    mock = get_backend("mock", {"responses_file": str(path)})
    out = mock.generate(make_request(task, n=2))
    assert out[0].text == "one" and out[1].error == "failed" and mock.remaining == 0


def test_mock_bad_responses_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[1, {\"nope\": 2}]")
    with pytest.raises(BadOptionError) as info:
        get_backend("mock", {"responses_file": str(path)})
    assert "responses_file" in info.value.message and "\n" not in info.value.message
