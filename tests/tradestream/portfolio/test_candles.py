"""The engine on candles (`on_candle`): stops inside a candle's range, ATR from whole candles.

Hand-computed cases; the ATR is checked against TA-Lib.
"""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tests.support.signals import MINUTE, T0, event
from tradestream.portfolio.atr import AtrTracker
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine
from tradestream.portfolio.orders import exit_fill

NO_LIMITS = dict(daily_loss_limit=0.0, weekly_loss_limit=0.0, max_drawdown=0.0, fee=0.0)


@pytest.mark.parametrize(
    "qty,stop,ohlc,expected",
    [
        (1.0, 95.0, (100, 101, 96, 99), None),  # the low stays above the stop
        (1.0, 95.0, (100, 101, 95, 99), 95.0),  # touched: filled at the stop
        (1.0, 95.0, (100, 101, 90, 99), 95.0),  # through it inside the candle: at the stop
        (1.0, 95.0, (93, 97, 92, 96), 93.0),  # opened below it (a gap): at the open
        (-1.0, 105.0, (100, 104, 99, 103), None),  # a short: the high stays below
        (-1.0, 105.0, (100, 106, 99, 103), 105.0),
        (-1.0, 105.0, (108, 110, 104, 109), 108.0),  # gapped up through it: at the open
        (1.0, None, (100, 101, 1, 99), None),  # no stop
    ],
)
def test_intrabar_stop_fill_prices(qty, stop, ohlc, expected):
    o, h, lo, _ = ohlc
    hit = exit_fill(qty, stop, None, o, h, lo)
    assert (hit[0] if hit else None) == expected
    assert hit is None or hit[1] == "stop"


def test_on_candle_closes_a_short_at_its_stop_then_marks_the_close():
    config = PortfolioConfig(
        initial_cash=1_000.0, allow_short=True, fraction=0.5, stop="pct", stop_pct=0.1,
        **NO_LIMITS,
    )  # fmt: skip
    engine = PortfolioEngine(config)
    engine.on_signal(event("SELL", 100.0, 0), set())  # short 5 at 100, stop at 110
    notes = engine.on_candle("BTC-USD", T0 + MINUTE, MINUTE, 101.0, 112.0, 100.0, 111.0)
    assert notes == ["stop:S1"]
    stop_fill = engine.take_changes().fills[-1]
    assert (stop_fill.kind, stop_fill.side, stop_fill.price, stop_fill.qty) == (
        "stop", "BUY", 110.0, 5.0,
    )  # fmt: skip
    assert stop_fill.time_ms == T0 + 2 * MINUTE  # the candle's end
    assert stop_fill.signal_id == ""
    snap = engine.snapshot()
    assert snap["equity"] == pytest.approx(1_000.0 - 5 * 10.0)
    assert snap["marks"]["BTC-USD"] == (111.0, T0 + 2 * MINUTE)


def test_on_candle_leaves_a_position_whose_stop_the_candle_missed():
    config = PortfolioConfig(initial_cash=1_000.0, fraction=0.5, stop="pct", stop_pct=0.1,
                             **NO_LIMITS)  # fmt: skip
    engine = PortfolioEngine(config)
    engine.on_signal(event("BUY", 100.0, 0), set())
    assert engine.on_candle("BTC-USD", T0 + MINUTE, MINUTE, 100.0, 100.0, 90.5, 95.0) == []
    assert engine.snapshot()["equity"] == pytest.approx(1_000.0 - 5 * 5.0)


def test_atr_from_whole_candles_matches_talib_and_the_trade_built_one():
    rng = np.random.default_rng(3)
    n = 50
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 1.5, n)
    low = np.minimum(open_, close) - rng.uniform(0, 1.5, n)
    from_candles, from_trades = AtrTracker(MINUTE, 14), AtrTracker(MINUTE, 14)
    for k in range(n):
        start = T0 + k * MINUTE
        from_candles.add_candle(start, high[k], low[k], close[k])
        for dt, price in ((0, open_[k]), (10_000, high[k]), (20_000, low[k]), (59_000, close[k])):
            from_trades.add_trade(start + dt, float(price))
        assert from_candles.ready_for(start + MINUTE)
    from_trades.add_trade(T0 + n * MINUTE, 100.0)  # closes the last candle
    expected = talib.ATR(high, low, close, timeperiod=14)
    for k in range(n):
        end = T0 + (k + 1) * MINUTE
        if np.isnan(expected[k]):
            assert from_candles.atr_at(end) is None
        else:
            assert from_candles.atr_at(end) == pytest.approx(expected[k], rel=1e-12)
            assert from_trades.atr_at(end) == from_candles.atr_at(end)


def test_atr_stops_on_candles_need_candles_of_the_atr_interval():
    engine = PortfolioEngine(PortfolioConfig(stop="atr", sizing="risk", atr_interval_ms=MINUTE))
    with pytest.raises(ValueError, match="ATR interval"):
        engine.on_candle("BTC-USD", T0, 5 * MINUTE, 1.0, 1.0, 1.0, 1.0)
