"""Progress lines on stderr for long backtests."""

from __future__ import annotations

import io

from tradestream.backtest.progress import Progress, shared_progress


def test_progress_prints_throttled_and_always_at_completion():
    out = io.StringIO()
    progress = Progress("[backtest]", total=300, every_s=3600, stream=out)
    progress.advance(100, "BTC-USD")  # first line: due at once
    progress.advance(100, "BTC-USD")  # throttled
    progress.advance(100, "BTC-USD")  # complete: always printed
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[backtest] BTC-USD: 100/300 parameter sets (33%)")
    assert lines[1].startswith("[backtest] BTC-USD: 300/300 parameter sets (100%)")


def test_shared_progress_is_one_counter_per_run_and_key():
    a = shared_progress("run-1", "BTC-USD", "[x]", 10, "sets")
    assert shared_progress("run-1", "BTC-USD", "[x]", 10, "sets") is a
    assert shared_progress("run-2", "BTC-USD", "[x]", 10, "sets") is not a
