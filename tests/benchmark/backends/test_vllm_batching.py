"""How the vLLM backend packs requests into one engine call, against a stand-in engine (the real engine needs a CUDA
GPU: test_vllm_backend.py). The stand-in answers like vLLM's `LLM.chat`: one result per conversation, `n` outputs."""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace
from typing import ClassVar

import pytest

from benchmark.backends import get_backend

from .conftest import make_request


class StandInLLM:
    calls: ClassVar[list[int]] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def chat(self, conversations, params, use_tqdm=False):
        StandInLLM.calls.append(len(conversations))
        if any("too long" in c[-1]["content"] for c in conversations):
            raise ValueError("prompt is longer than max_model_len")
        return [SimpleNamespace(prompt_token_ids=[1, 2, 3], outputs=[
            SimpleNamespace(text=f"{c[-1]['content']}#{k}", token_ids=[7] * (k + 1), finish_reason="stop")
            for k in range(p.n)]) for c, p in zip(conversations, params)]


@pytest.fixture
def model(monkeypatch):
    vllm = ModuleType("vllm")
    vllm.LLM = StandInLLM
    vllm.SamplingParams = lambda **kw: SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    StandInLLM.calls = []
    return get_backend("vllm/some/model")


def test_a_batch_is_one_engine_call_answered_in_order(model, task):
    out = model.generate_batch([make_request(task, n=2, temperature=0.0, content="a"),
                                make_request(task, n=3, temperature=1.0, content="b"),
                                make_request(task, n=0, content="c")])
    assert StandInLLM.calls == [2]
    assert [[c.text for c in o] for o in out] == [["a#0", "a#0"], ["b#0", "b#1", "b#2"], []]
    assert out[1][2].usage.prompt_tokens == 3 and out[1][2].usage.completion_tokens == 3


def test_one_bad_prompt_fails_alone(model, task):
    out = model.generate_batch([make_request(task, n=1, content="fine"),
                                make_request(task, n=2, temperature=1.0, content="too long")])
    assert StandInLLM.calls == [2, 1, 1]  # the batch, then each request alone
    assert out[0][0].text == "fine#0" and out[0][0].error is None
    assert len(out[1]) == 2 and all("max_model_len" in c.error for c in out[1])
