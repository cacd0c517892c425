"""Progress of long backtests on stderr: parameter sets done per symbol, percent, elapsed time,
rate and the time left (ETA) at that rate.

    progress = Progress("[backtest]", total=4950, unit="parameter sets")
    progress.advance(64, "BTC-USD")   # prints at most once a second, and at 100%

Workers of one process (DirectRunner, Flink LOOPBACK) share a `Progress` per run through
`shared_progress(run_id, ...)`, so the counts add up across bundles; on a cluster each worker
process reports its own share.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import TextIO

_LOCK = threading.Lock()
_RUNS: dict[tuple[str, str], Progress] = {}


class Progress:
    """A thread-safe counter that prints `label key: done/total unit (pct%), elapsed`."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "parameter sets",
        every_s: float = 1.0,
        stream: TextIO | None = None,
    ) -> None:
        self._label = label
        self._total = max(int(total), 1)
        self._unit = unit
        self._every = every_s
        self._stream = stream
        self._done: dict[str, int] = {}
        self._start = time.monotonic()
        self._last = -math.inf  # the first advance prints
        self._lock = threading.Lock()

    def advance(self, count: int, key: str = "") -> None:
        """Counts `count` more units of `key`; prints when due (or when `key` completes)."""
        with self._lock:
            done = self._done.get(key, 0) + count
            self._done[key] = done
            now = time.monotonic()
            finished = done >= self._total
            if not finished and now - self._last < self._every:
                return
            self._last = now
            elapsed = now - self._start
            rate = done / elapsed if elapsed > 0 else 0.0
            name = f" {key}" if key else ""
            line = (
                f"{self._label}{name}: {done:,}/{self._total:,} {self._unit} "
                f"({100.0 * done / self._total:.0f}%), {elapsed:.1f} s, {rate:,.0f}/s"
            )
            if not finished and rate > 0:
                line += f", ETA {_duration((self._total - done) / rate)}"
            print(line, file=self._stream or sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `1 h 02 min`."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def shared_progress(run_id: str, key: str, label: str, total: int, unit: str) -> Progress:
    """The process-wide Progress of (run, key), created on first use."""
    with _LOCK:
        progress = _RUNS.get((run_id, key))
        if progress is None:
            progress = Progress(label, total, unit)
            _RUNS[(run_id, key)] = progress
        return progress
