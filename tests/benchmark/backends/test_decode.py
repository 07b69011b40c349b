"""The sampling rules of shared-prefix decoding (the model-driven path is in test_local_models.py)."""

from __future__ import annotations

import pytest

from benchmark.backends._decode import RowSpec, _generator, _nucleus, _pick

torch = pytest.importorskip("torch")


def test_nucleus_keeps_the_smallest_set_reaching_top_p():
    probs = torch.tensor([0.2, 0.5, 0.3])
    assert _nucleus(torch, probs, 0.6).tolist() == pytest.approx([0.0, 0.5, 0.3])
    assert _nucleus(torch, probs, 0.4).tolist() == pytest.approx([0.0, 0.5, 0.0])  # the top token always stays
    assert _nucleus(torch, probs, 1.0).tolist() == pytest.approx([0.2, 0.5, 0.3])


def test_greedy_row_takes_the_argmax_and_seeded_rows_repeat():
    logits = torch.tensor([0.1, 2.0, 1.9, -1.0])
    assert _pick(torch, logits, RowSpec(temperature=0.0, max_new_tokens=1), _generator(torch, None, "cpu")) == 1
    hot = RowSpec(temperature=5.0, max_new_tokens=1, seed=7)
    draws = [[_pick(torch, logits, hot, g) for _ in range(20)] for g in (_generator(torch, 7, "cpu"),
                                                                           _generator(torch, 7, "cpu"))]
    assert draws[0] == draws[1] and len(set(draws[0])) > 1  # reproducible, and really sampled at a high temperature
    top1 = RowSpec(temperature=5.0, max_new_tokens=1, top_p=0.01, seed=7)
    assert {_pick(torch, logits, top1, _generator(torch, s, "cpu")) for s in range(10)} == {1}
