from __future__ import annotations

import logging

import pytest

from benchmark.backends._decode import RowSpec
from benchmark.speed import family_rows, main


def test_a_family_is_one_greedy_row_and_n_rows_per_other_temperature():
    rows = family_rows((0.0, 0.2, 1.0), 3, 16)
    assert [r.temperature for r in rows] == [0.0, 0.2, 0.2, 0.2, 1.0, 1.0, 1.0]
    assert all(isinstance(r, RowSpec) and r.max_new_tokens == 16 for r in rows)


def test_make_speed_prints_the_three_ways_with_ratios(caplog):
    pytest.importorskip("transformers")
    with caplog.at_level(logging.INFO, logger="benchmark.speed"):
        main(["--task", "mlflow-tracking-sklearn-sgd-early-stopping", "--tokens", "2", "-n", "1"])
    lines = [r.getMessage() for r in caplog.records if r.name == "benchmark.speed"]
    assert "prompt tokens" in lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["generate", "shared", "shared+int8"]
    assert lines[1].endswith("x1.00")
