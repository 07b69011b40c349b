"""The vLLM offline engine (CUDA only): skipped without a GPU or without vllm (`pip install 'adaptbench[gpu]'`)."""

from __future__ import annotations

import pytest

from .conftest import make_request

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def vllm_model():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    pytest.importorskip("vllm")
    from benchmark.backends import embedded_model_dir, get_backend

    model = get_backend(f"vllm/{embedded_model_dir()}", {"gpu_memory_utilization": "0.3", "max_model_len": "2048",
                                                         "enforce_eager": "true"})
    yield model
    model.close()


def test_vllm_samples_n_in_one_call(vllm_model, task):
    out = vllm_model.generate(make_request(task, n=3, temperature=0.8, max_tokens=16, seed=1))
    assert len(out) == 3 and all(c.error is None and c.text for c in out)
    assert all(c.usage.prompt_tokens > 0 and 0 < c.usage.completion_tokens <= 16 for c in out)
    again = vllm_model.generate(make_request(task, n=3, temperature=0.8, max_tokens=16, seed=1))
    assert [c.text for c in again] == [c.text for c in out]  # seeded: reproducible


def test_vllm_greedy_repeats_one_answer(vllm_model, task):
    out = vllm_model.generate(make_request(task, n=2, temperature=0.0, max_tokens=8))
    assert len(out) == 2 and out[0].text == out[1].text and out[0].error is None


def test_vllm_batch_answers_each_request_in_order(vllm_model, task):
    requests = [make_request(task, n=2, temperature=0.0, max_tokens=8),
                make_request(task, n=3, temperature=0.8, max_tokens=8, seed=2, content="Name a colour."),
                make_request(task, n=0)]
    out = vllm_model.generate_batch(requests)
    assert [len(o) for o in out] == [2, 3, 0]
    assert out[0][0].text == vllm_model.generate(requests[0])[0].text
    assert [c.text for c in out[1]] == [c.text for c in vllm_model.generate(requests[1])]
