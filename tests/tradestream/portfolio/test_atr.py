"""ATR from trades: checked against TA-Lib's ATR on the same candles."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tradestream.portfolio.atr import AtrTracker

I = 60_000  # noqa: E741 - the interval
T0 = 1_700_000_040_000


def feed_candles(tracker: AtrTracker, ohlc: np.ndarray, first: int = 0) -> None:
    """Four trades per candle: open, high, low, close (times inside the candle)."""
    for k, (o, h, lo, c) in enumerate(ohlc):
        start = T0 + (first + k) * I
        for dt, price in ((0, o), (10_000, h), (20_000, lo), (59_000, c)):
            tracker.add_trade(start + dt, float(price))


def test_atr_matches_talib_on_random_candles():
    rng = np.random.default_rng(7)
    close = 100 + np.cumsum(rng.normal(0, 1, 60))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 1.5, 60)
    low = np.minimum(open_, close) - rng.uniform(0, 1.5, 60)
    tracker = AtrTracker(I, 14)
    feed_candles(tracker, np.c_[open_, high, low, close])
    tracker.add_trade(T0 + 60 * I, 100.0)  # closes the last candle
    expected = talib.ATR(high, low, close, timeperiod=14)
    for k in range(60):
        end = T0 + (k + 1) * I
        got = tracker.atr_at(end)
        if np.isnan(expected[k]):
            assert got is None
        else:
            assert got == pytest.approx(expected[k], rel=1e-12)


def test_atr_hand_computed_with_a_gap_filled_flat():
    # Period 2. Candles: [10,12,9,11], [11,13,10,12], gap (flat at 12), [12,12,8,9].
    # TRs from the 2nd: 3, 0 (flat: h=l=prev close), 4. ATR: (3+0)/2 = 1.5, then (1.5+4)/2.
    tracker = AtrTracker(I, 2)
    feed_candles(tracker, np.array([[10, 12, 9, 11], [11, 13, 10, 12]]))
    feed_candles(tracker, np.array([[12, 12, 8, 9]]), first=3)
    assert tracker.atr_at(T0 + 3 * I) == pytest.approx(1.5)  # after the flat candle
    assert not tracker.ready_for(T0 + 4 * I)  # the last candle is still open
    tracker.add_trade(T0 + 4 * I, 9.5)
    assert tracker.ready_for(T0 + 4 * I)
    assert tracker.atr_at(T0 + 4 * I) == pytest.approx(2.75)
    assert tracker.atr_at(T0 + 2 * I) is None  # before the first ATR


def test_atr_late_trades_are_ignored_and_state_roundtrips():
    tracker = AtrTracker(I, 2)
    feed_candles(tracker, np.array([[10, 12, 9, 11], [11, 13, 10, 12], [12, 14, 11, 13]]))
    before = tracker.to_json()
    tracker.add_trade(T0 + 5_000, 1_000.0)  # belongs to a closed candle
    assert tracker.to_json() == before
    copy = AtrTracker.from_json(before)
    copy.add_trade(T0 + 3 * I, 13.0)
    tracker.add_trade(T0 + 3 * I, 13.0)
    assert copy.to_json() == tracker.to_json()
