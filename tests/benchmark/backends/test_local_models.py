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


def test_int8_option_quantises_the_linears_but_keeps_the_output_head(task):
    int8 = get_backend("embedded", {"quantize": "int8"})
    try:
        model = int8.load().model
        kinds = {type(module).__module__ for name, module in model.named_modules() if name.endswith("q_proj")}
        assert kinds == {"torch.ao.nn.quantized.dynamic.modules.linear"}
        assert type(model.lm_head).__module__ == "torch.nn.modules.linear"
        [completion] = int8.generate(make_request(task, n=1, temperature=0.0, max_tokens=4))
        assert completion.error is None and completion.usage.completion_tokens > 0
    finally:
        int8.close()


def test_seeded_sampling_is_reproducible(embedded, task):
    request = make_request(task, n=2, temperature=1.0, max_tokens=6, seed=3)
    first = [c.text for c in embedded.generate(request)]
    again = [c.text for c in embedded.generate(request)]
    assert len(first) == 2 and first == again


def test_a_prompt_is_decoded_once_for_all_its_temperatures(embedded, task):
    """Requests sharing a prompt go in one batch; a seeded sample is the same alone or beside other rows."""
    greedy = make_request(task, n=3, temperature=0.0, max_tokens=8)
    warm = make_request(task, n=2, temperature=0.7, max_tokens=8, seed=11)
    other = make_request(task, n=1, temperature=0.7, max_tokens=8, seed=11, content="Name a colour.")
    together = embedded.generate_batch([greedy, warm, other])
    assert [len(out) for out in together] == [3, 2, 1]
    assert together[0] == [together[0][0]] * 3 and together[0][0].text == embedded.generate(greedy)[0].text
    assert [c.text for c in together[1]] == [c.text for c in embedded.generate(warm)]
    assert together[2][0].text == embedded.generate(other)[0].text
    assert all(c.usage.completion_tokens <= 8 for out in together for c in out)


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


def test_threads_follow_the_cores_no_sandbox_is_using(monkeypatch):
    import os
    from types import SimpleNamespace

    import torch

    from benchmark.backends import transformers_local

    cores = len(os.sched_getaffinity(0))
    loaded = SimpleNamespace(torch=torch, device="cpu")
    before = torch.get_num_threads()
    try:
        for running, expected in ((0, cores), (1, max(1, cores - 1)), (cores + 3, 1)):
            monkeypatch.setattr(transformers_local, "running_executions", lambda r=running: r)
            get_backend("embedded")._fit_threads(loaded)
            assert torch.get_num_threads() == expected
        torch.set_num_threads(1)
        get_backend("embedded", {"threads": "3"})._fit_threads(loaded)  # a fixed number is left alone
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_running_executions_counts_sandboxes_in_flight(monkeypatch, tmp_path):
    import threading

    from benchmark import evaluation
    from benchmark.cache import Cache
    from benchmark.executors import LocalExecutor
    from benchmark.types import RuntimeConfig

    inside, release = threading.Event(), threading.Event()

    def slow_grade(task, code, workdir, timeout_scale=1.0):
        inside.set()
        release.wait(10)
        raise RuntimeError("stop here")

    monkeypatch.setattr("sandbox.grading.grade", slow_grade)
    task = None  # grade is replaced: the task is never read
    worker = threading.Thread(target=lambda: _swallow(evaluation._execute_fresh, task, "x", "k", Cache(tmp_path), 1.0,
                                                      LocalExecutor(RuntimeConfig())))
    worker.start()
    assert inside.wait(10) and evaluation.running_executions() == 1
    release.set()
    worker.join(10)
    assert evaluation.running_executions() == 0


def _swallow(fn, *args):
    try:
        fn(*args)
    except RuntimeError:
        pass
