"""Progress of a run: a tqdm bar on a terminal; elsewhere (a log file, CI) a log line every minute with the counts,
the elapsed time and an ETA, so a long unattended run is never silent."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("benchmark.runner")


class Progress:
    def __init__(self, total: int, bar: bool, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.total, self.done = total, 0
        self._every, self._clock = every_s, clock
        self._start = self._last = clock()
        self._bar = None
        if bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="sample", dynamic_ncols=True)

    def update(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
            return
        now = self._clock()
        if now - self._last >= self._every or self.done == self.total:
            self._last = now
            log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = _clock_text((self.total - self.done) / rate) if rate > 0 else "?"
        percent = 100 * self.done // self.total if self.total else 100
        return f"{self.done}/{self.total} samples ({percent} %), {_clock_text(elapsed)} elapsed, ETA {eta}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"
