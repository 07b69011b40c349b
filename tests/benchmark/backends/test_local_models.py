"""hf/transformers and embedded backends on the real SmolLM2-135M model (CPU, a few tokens)."""

from __future__ import annotations

import json

import pytest

from benchmark.backends import embedded as embedded_module
from benchmark.backends import get_backend
from benchmark.errors import BackendError

from .conftest import make_request

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def embedded():
    model = get_backend("embedded")  # converts the GGUF on first use (~50 s once), then loads in seconds
    yield model
    model.close()


def test_embedded_generates_a_short_completion(embedded, task):
    out = embedded.generate(make_request(task, n=2, temperature=0.0, max_tokens=8, content="Say hello."))
    assert len(out) == 2 and out[0] == out[1]  # greedy: computed once, repeated
    [completion] = out[:1]
    assert completion.error is None and completion.text.strip()
    assert 0 < completion.usage.completion_tokens <= 8 and completion.usage.prompt_tokens > 5
    assert completion.finish_reason in ("stop", "length") and completion.latency_s > 0
    assert completion.model == "embedded"


def test_seeded_sampling_is_reproducible(embedded, task):
    request = make_request(task, n=2, temperature=1.0, max_tokens=6, seed=3)
    first = [c.text for c in embedded.generate(request)]
    again = [c.text for c in embedded.generate(request)]
    assert len(first) == 2 and first == again


def test_missing_local_model_is_a_clear_error(task):
    with pytest.raises(BackendError) as info:
        get_backend("hf//nonexistent/model-folder").generate(make_request(task))
    assert "no model hub is reachable" in info.value.hint
    with pytest.raises(BackendError, match="no such file"):
        get_backend("hf//nonexistent/model.gguf").load()


def test_embedded_dir_is_reused_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("ADAPTBENCH_CACHE", str(tmp_path))
    target = tmp_path / "models" / embedded_module.MODEL_DIR_NAME
    target.mkdir(parents=True)
    (target / embedded_module.MARKER).write_text(json.dumps({"gguf": "x"}))
    monkeypatch.setattr(embedded_module, "convert_gguf", lambda *a: pytest.fail("converted again"))
    assert embedded_module.embedded_model_dir() == target


def test_publish_is_atomic_and_tolerates_a_finished_rival(tmp_path):
    def folder(name: str, marker: bool):
        path = tmp_path / name
        path.mkdir()
        (path / "config.json").write_text(name)
        if marker:
            (path / embedded_module.MARKER).write_text("{}")
        return path

    target = tmp_path / "model"
    embedded_module._publish(folder("ours", True), target)  # first publish: renamed into place
    assert (target / "config.json").read_text() == "ours" and not (tmp_path / "ours").exists()
    embedded_module._publish(folder("rival", True), target)  # a finished copy exists: keep it
    assert (target / "config.json").read_text() == "ours"
    (target / embedded_module.MARKER).unlink()  # a folder without marker is incomplete: replaced
    embedded_module._publish(folder("fresh", True), target)
    assert (target / "config.json").read_text() == "fresh"


@pytest.mark.slow
def test_hf_backend_reads_the_gguf_directly(embedded, task):
    """The same weights read straight from the GGUF (dequantised at load, ~25-50 s) answer like the converted copy."""
    request = make_request(task, n=1, temperature=0.0, max_tokens=6)
    gguf = get_backend(f"hf/{embedded_module.embedded_gguf_path()}", {"threads": "1"})
    try:
        assert gguf.generate(request)[0].text == embedded.generate(request)[0].text
    finally:
        gguf.close()
