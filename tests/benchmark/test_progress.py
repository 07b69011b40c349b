from __future__ import annotations

import logging

from benchmark.progress import Progress


def test_without_a_terminal_a_line_per_interval_and_one_at_the_end(caplog):
    now = [0.0]
    progress = Progress(10, bar=False, every_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="benchmark.runner"):
        for step in range(10):
            now[0] = 20.0 * (step + 1)  # one sample every 20 s
            progress.update()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "3/10 samples (30 %), 1m00s elapsed, ETA 2m20s"
    assert len(lines) == 4 and lines[-1].startswith("10/10 samples (100 %), 3m20s elapsed, ETA 0m00s")
