"""make speed: the family's shape, the printed table (ratios against transformers float32), and, slow, a real run."""

from __future__ import annotations

import logging

import pytest

from benchmark.backends._decode import RowSpec
from benchmark.speed import Figures, family_requests, family_rows, main, report


def test_a_family_is_one_greedy_row_and_n_rows_per_other_temperature():
    rows = family_rows((0.0, 0.2, 1.0), 3, 16)
    assert [r.temperature for r in rows] == [0.0, 0.2, 0.2, 0.2, 1.0, 1.0, 1.0]
    assert all(isinstance(r, RowSpec) and r.max_new_tokens == 16 for r in rows)
    assert family_requests((0.0, 0.2, 1.0), 3) == [(0.0, 1), (0.2, 3), (1.0, 3)]


def test_the_table_gives_each_engine_its_speed_up_over_float32():
    results = [Figures("llama.cpp (Q4_K_M)", 1000, 34.0, 8.6, {"sequential": 50.0, "parallel": 100.0}, 7.0),
               Figures("transformers float32", 1000, 33.0, 1.6, {"shared-prefix": 200.0}, 1.5)]
    lines = report(results, weights_gb=1.1, bandwidth=22.0, tokens=64, n=3)
    assert "7 rows x 64 new tokens" in lines[0] and "~20 tok/s" in lines[0]
    assert "sequential 50.0 (x4.00)" in lines[2] and "parallel 100.0 (x2.00)" in lines[2]
    assert lines[3].endswith("shared-prefix 200.0 (x1.00)")


@pytest.mark.slow
def test_make_speed_prints_the_engines_with_ratios(caplog):
    from benchmark.backends.embedded import EMBEDDED_MODELS
    from benchmark.backends.llamacpp import find_server_binary
    from benchmark.errors import BackendError

    try:
        find_server_binary()
    except BackendError as exc:
        pytest.skip(str(exc))
    if "missing" in EMBEDDED_MODELS["qwen2.5-coder-1.5b"].status():
        pytest.skip("the code model's weights are not installed (make model)")
    with caplog.at_level(logging.INFO, logger="benchmark.speed"):
        main(["--tokens", "2", "-n", "1", "--engines", "llama.cpp"])
    lines = [r.getMessage() for r in caplog.records if r.name == "benchmark.speed"]
    assert "prompt" in lines[-3] and lines[-1].startswith("llama.cpp") and "sequential" in lines[-1]
