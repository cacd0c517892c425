"""The demo's replay: the sample day moved to end now, so each run has signals of its own."""

from __future__ import annotations

from tradestream.demo import ending_now
from tradestream.market.sample_day import sample_trades

NOW = 1_790_000_123_456  # some time, not on a minute boundary
HOUR = 3_600_000


def test_ending_now_keeps_spacing_and_minute_alignment_and_ends_before_now():
    original = list(sample_trades(hours=2))
    moved = list(ending_now(iter(original), 2, now_ms=NOW))
    assert len(moved) == len(original)
    shift = moved[0].time_ms - original[0].time_ms
    assert shift % 60_000 == 0  # candle boundaries fall between the same trades
    assert all(m.time_ms - o.time_ms == shift for m, o in zip(moved, original, strict=True))
    assert all(
        m.trade_id == o.trade_id and m.price == o.price
        for m, o in zip(moved, original, strict=True)
    )
    current_minute = NOW - NOW % 60_000
    assert current_minute - 2 * HOUR <= moved[0].time_ms
    assert moved[-1].time_ms < current_minute  # nothing in the future (clock-skew rule)
    assert original[0].time_ms == next(sample_trades(hours=2)).time_ms  # inputs untouched


def test_two_runs_an_hour_apart_have_no_candle_in_common():
    first = [t.time_ms // 60_000 for t in ending_now(sample_trades(hours=0.5), 0.5, now_ms=NOW)]
    later = ending_now(sample_trades(hours=0.5), 0.5, now_ms=NOW + HOUR)
    assert not set(first) & {t.time_ms // 60_000 for t in later}
