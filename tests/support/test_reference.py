"""The realtime reference itself, against values worked out by hand from the documented rules.

The reference (tests/support/realtime.py, tests/support/vectorized_signals.py) is what the
Flink equality and fault tests trust; these cases pin it to the README and the protos rather
than to the pipeline.
"""

from __future__ import annotations

import pytest

from tests.support.builders import MINUTE, T0, trade
from tests.support.realtime import reference_candles, reference_signals
from tests.support.vectorized_signals import reference_signal_id
from tradestream.strategies import library
from tradestream.v1 import signal_pb2


def test_reference_signal_id_is_the_documented_sha256_prefix():
    # printf 'SMA_CROSSOVER(fast=2,slow=4)|BTC-USD|1700000040000|BUY' | sha256sum
    assert (
        reference_signal_id("SMA_CROSSOVER(fast=2,slow=4)", "BTC-USD", 1_700_000_040_000, "BUY")
        == "2d96af8c0eff8d4869db00c3b0531253"
    )
    ids = {
        reference_signal_id(s, sym, t, a)
        for s in ("A", "B")
        for sym in ("BTC-USD", "ETH-USD")
        for t in (0, MINUTE)
        for a in ("BUY", "SELL")
    }
    assert len(ids) == 16  # every part of the key changes the id


def test_reference_candle_open_close_by_time_then_numeric_trade_id_and_duplicates_once():
    trades = [
        trade(time_ms=T0 + 30_000, price=7.0, size=1.0, trade_id="20"),
        trade(time_ms=T0 + 5_000, price=3.0, size=2.0, trade_id="10"),
        trade(time_ms=T0 + 5_000, price=4.0, size=1.0, trade_id="9"),  # same time, id 9 < 10
        trade(time_ms=T0 + 59_999, price=5.0, size=1.0, trade_id="11"),
        trade(time_ms=T0 + 59_999, price=6.0, size=4.0, trade_id="100"),  # last: 100 > 11
        trade(time_ms=T0 + 30_000, price=7.0, size=1.0, trade_id="20"),  # re-sent copy
        trade(time_ms=T0 + MINUTE, price=1.0, size=1.0, trade_id="1"),  # the next interval
    ]
    first, second = reference_candles(trades, MINUTE, max_gap=5)["BTC-USD"]
    assert (first.start_ms, first.interval_ms) == (T0, MINUTE)
    assert (first.open, first.high, first.low, first.close) == (4.0, 7.0, 3.0, 6.0)
    assert first.volume == 9.0  # 1 + 2 + 1 + 1 + 4: the copy of "20" is not counted
    assert first.trade_count == 5
    assert first.vwap == pytest.approx((7 + 6 + 4 + 5 + 24) / 9.0)
    assert not first.filled
    assert second.start_ms == T0 + MINUTE and second.open == second.close == 1.0


def test_reference_gaps_get_at_most_max_gap_flat_candles_at_the_last_close():
    trades = [
        trade(time_ms=T0 + 10, price=2.0, trade_id="1"),
        trade(time_ms=T0 + 20, price=3.0, trade_id="2"),
        trade(time_ms=T0 + 3 * MINUTE, price=9.0, trade_id="3"),  # 2 empty minutes before
        trade(time_ms=T0 + 10 * MINUTE, price=8.0, trade_id="4"),  # 6 empty minutes before
    ]
    series = reference_candles(trades, MINUTE, max_gap=3)["BTC-USD"]
    starts = [(c.start_ms - T0) // MINUTE for c in series]
    assert starts == [0, 1, 2, 3, 4, 5, 6, 10]
    flats = [c for c in series if c.filled]
    assert [(c.start_ms - T0) // MINUTE for c in flats] == [1, 2, 4, 5, 6]
    for c in flats:
        expected = 3.0 if c.start_ms < T0 + 3 * MINUTE else 9.0
        assert (c.open, c.high, c.low, c.close, c.vwap) == (expected,) * 5
        assert (c.volume, c.trade_count) == (0.0, 0)
    trailing = reference_candles(trades, MINUTE, max_gap=3, trailing=True)["BTC-USD"]
    assert [(c.start_ms - T0) // MINUTE for c in trailing[len(series) :]] == [11, 12, 13]
    assert reference_candles(trades, MINUTE, max_gap=0)["BTC-USD"][1].start_ms == T0 + 3 * MINUTE


def test_reference_symbols_are_separate_series():
    trades = [trade("ETH-USD", T0, 5.0), trade("BTC-USD", T0 + 2 * MINUTE, 7.0)]
    candles = reference_candles(trades, MINUTE, max_gap=3)
    assert {s: [c.start_ms for c in cs] for s, cs in candles.items()} == {
        "BTC-USD": [T0 + 2 * MINUTE],
        "ETH-USD": [T0],
    }


def test_reference_signals_fire_on_the_cross_with_the_candle_close_and_documented_id():
    # SMA(2) vs SMA(3) over closes 5,4,3,2,6,7: SMA2 = 4.5,3.5,2.5,4,6.5 from minute 1,
    # SMA3 = 4,3,11/3,5 from minute 2; SMA2 crosses above SMA3 at minute 4 (4 > 11/3 after
    # 2.5 < 3). It never crosses below after both are defined.
    closes = [5.0, 4.0, 3.0, 2.0, 6.0, 7.0]
    trades = [trade(time_ms=T0 + m * MINUTE, price=c) for m, c in enumerate(closes)]
    strategy = library.build("SMA_CROSSOVER", {"fast": 2, "slow": 3})
    got = reference_signals([strategy], reference_candles(trades, MINUTE, max_gap=3))
    assert [(s.candle_start_ms, s.action, s.price) for s in got] == [
        (T0 + 4 * MINUTE, signal_pb2.ACTION_BUY, 6.0)
    ]
    assert got[0].signal_id == reference_signal_id(
        strategy.strategy_id, "BTC-USD", T0 + 4 * MINUTE, "BUY"
    )
