"""Kinds TA-Lib does not have, against values computed by hand (and both evaluators)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.strategies.series import run_incremental
from tradestream.strategies import nodes as n
from tradestream.strategies.candle_arrays import CandleArrays
from tradestream.strategies.vectorized import compute_nodes

NAN = math.nan


def candles(close, high=None, low=None, open_=None, volume=None) -> CandleArrays:
    close = np.asarray(close, dtype=float)
    return CandleArrays(
        np.asarray(open_ if open_ is not None else close, dtype=float),
        np.asarray(high if high is not None else close, dtype=float),
        np.asarray(low if low is not None else close, dtype=float),
        close,
        np.asarray(volume if volume is not None else np.ones_like(close), dtype=float),
    )


def both(node, data):
    batch = compute_nodes([node], data)[node]
    assert np.array_equal(batch, run_incremental(node, data), equal_nan=True)
    return batch


def test_lag_div_cumsum_by_hand():
    data = candles([1.0, 2.0, 4.0, 0.0])
    assert np.array_equal(both(n.lag(n.close, 2), data), [NAN, NAN, 1.0, 2.0], equal_nan=True)
    assert both(n.div(1.0, n.close), data).tolist() == [1.0, 0.5, 0.25, 0.0]  # /0 -> 0
    assert both(n.cumsum(n.close), data).tolist() == [1.0, 3.0, 7.0, 7.0]


def test_crosses_need_strict_inequality_on_both_candles():
    # fast touches slow (equal) and then goes above: not a cross by definition.
    data = candles([1.0, 2.0, 3.0, 4.0], high=[2.0, 2.0, 2.0, 2.0])
    assert both(n.crosses_above(n.close, n.high), data).tolist() == [False] * 4
    data = candles([1.0, 3.0, 1.0], high=[2.0, 2.0, 2.0])
    assert both(n.crosses_above(n.close, n.high), data).tolist() == [False, True, False]
    assert both(n.crosses_below(n.close, n.high), data).tolist() == [False, False, True]


def test_cooldown_passes_rising_edges_spaced_more_than_bars():
    data = candles([0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1])
    rule = n.cooldown(n.above(n.close, 0.5), 3)
    # edges at 1, 3, 7, 10: 1 passes, 3 is within 3 of 1, 7 passes, 10 is within 3 of 7.
    assert np.flatnonzero(both(rule, data)).tolist() == [1, 7]


def test_heiken_ashi_by_hand():
    data = candles(close=[10.0, 12.0], open_=[8.0, 11.0], high=[11.0, 13.0], low=[7.0, 10.0])
    ha_close = n.node("ha_close", n.open_, n.high, n.low, n.close)
    ha_open = n.node("ha_open", n.open_, n.high, n.low, n.close)
    assert both(ha_close, data).tolist() == [9.0, 11.5]
    assert both(ha_open, data).tolist() == [9.0, 9.0]  # (8+10)/2, then (9+9)/2


def test_klinger_force_by_hand():
    data = candles(close=[10.0, 11.0, 10.0], high=[11.0, 12.0, 11.0], low=[9.0, 10.0, 8.0],
                   volume=[100.0, 200.0, 300.0])  # fmt: skip
    # t1: trend +1 (33 > 30), trend changed from 0 so cm = dm0 + dm1 = 4; vf = 200*|2*2/4-1|*100
    # t2: trend -1, cm = dm1 + dm2 = 5; vf = 300*|2*3/5-1|*-1*100 = -6000
    values = both(n.node("klinger_force", n.high, n.low, n.close, n.volume), data)
    assert np.isnan(values[0])
    assert values[1] == 0.0
    assert values[2] == pytest.approx(-6000.0)


def test_vidya_by_hand():
    data = candles([1.0, 2.0, 1.0, 3.0])
    values = both(n.node("vidya", n.close, period=3, cmo_period=2), data)
    # t2: seeded with close 1.0. t3: window 2,1,3: up 2, down 1, cmo 1/3, alpha 0.5/3.
    alpha = 0.5 * (1.0 / 3.0)
    assert np.isnan(values[1]) and values[2] == 1.0
    assert values[3] == pytest.approx(alpha * 3.0 + (1 - alpha) * 1.0)


def test_renko_range_bars_gann_by_hand():
    data = candles([100.0, 101.5, 102.1, 101.0, 99.9, 99.8])
    # brick 1: up at 101.5 (level 101), 102.1 -> level 102; reversal needs 2 bricks: 99.9 < 100.
    renko = both(n.node("renko", n.close, brick_pct=1.0), data)
    assert renko.tolist() == [0.0, 1.0, 1.0, 1.0, -1.0, -1.0]
    bars = candles([100.0, 101.0, 103.0, 102.0, 99.0], high=[100, 101, 103, 102, 103],
                   low=[100, 100, 101, 101, 99])  # fmt: skip
    # bar opens at 100; completes at t2 (range 3 >= 2) closing up; new bar at 103 completes at
    # t4 (range 103-99) closing down.
    ranges = both(n.node("range_bars", n.high, n.low, n.close, range_pct=2.0), bars)
    assert ranges.tolist() == [0.0, 0.0, 1.0, 1.0, -1.0]
    swings = candles([1, 2, 3, 3, 2, 1], high=[1, 2, 3, 3, 2, 1], low=[1, 2, 3, 3, 2, 1])
    gann = both(n.node("gann_swing", n.high, n.low, bars=2), swings)
    assert np.array_equal(gann, [NAN, 0.0, 1.0, 1.0, 1.0, -1.0], equal_nan=True)


def test_point_of_control_by_hand():
    data = candles([1.0, 2.0, 3.0, 3.0], volume=[10.0, 50.0, 5.0, 5.0])
    # window of 3 over closes 2,3,3 (vol 50,5,5) with 2 bins over [2,3]: bin0 50, bin1 10.
    values = both(n.node("poc", n.close, n.volume, period=3, bins=2), data)
    assert values[3] == 2.25
    # closes 1,2,3 (vol 10,50,5) over [1,3], 2 bins of width 1: bin0 holds 1 (10), bin1 holds
    # 2 and 3 (the top edge falls in the last bin): 55 -> centre 1 + 1.5 = 2.5.
    assert values[2] == 2.5


def test_frama_flat_prices_follow_close():
    data = candles([5.0] * 6)
    values = both(n.node("frama", n.high, n.low, n.close, period=4), data)
    assert np.isnan(values[:3]).all() and values[3:].tolist() == [5.0, 5.0, 5.0]
