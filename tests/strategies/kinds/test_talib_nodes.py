"""Indicator nodes against TA-Lib batch functions on random series (with ties and flat runs).

Kinds whose batch side *is* TA-Lib must have incremental values bit-identical to TA-Lib
(``np.array_equal`` including NaN positions). Kinds with a ``reference`` (RSI, ATR, STDDEV, SAR,
LINEARREG, LINEARREG_SLOPE, ADOSC) run our own recurrence on both sides (``loop_batch``),
because TA-Lib 0.8.1's compiled arithmetic order for them differs from its published source in
the last bits: for those, "the evaluators agree exactly" compares one implementation with
itself, and what checks them is TA-Lib with a 1e-9 tolerance here and, with random parameters,
edge-case series and numpy definitions of their own, test_own_recurrences.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies.series import random_candles, run_incremental
from tradestream.strategies import nodes as n
from tradestream.strategies.vectorized import compute_nodes

EXACT = {
    "sma": (lambda c: n.sma(n.close, 7), lambda c: talib.SMA(c.close, timeperiod=7)),
    "sum": (lambda c: n.rolling_sum(n.close, 5), lambda c: talib.SUM(c.close, timeperiod=5)),
    "ema": (lambda c: n.ema(n.close, 10), lambda c: talib.EMA(c.close, timeperiod=10)),
    "cmo": (lambda c: n.cmo(n.close, 9), lambda c: talib.CMO(c.close, timeperiod=9)),
    "mom": (lambda c: n.mom(n.close, 4), lambda c: talib.MOM(c.close, timeperiod=4)),
    "roc": (lambda c: n.roc(n.close, 4), lambda c: talib.ROC(c.close, timeperiod=4)),
    # signalperiod=1 so TA-Lib outputs the line from its own first candle; the signal line
    # (and with it the line under signalperiod=4) is checked by "macd_signal".
    "macd": (
        lambda c: n.macd(n.close, 5, 13),
        lambda c: talib.MACD(c.close, fastperiod=5, slowperiod=13, signalperiod=1)[0],
    ),
    "macd_signal": (
        lambda c: n.ema(n.macd(n.close, 5, 13), 4),
        lambda c: talib.MACD(c.close, fastperiod=5, slowperiod=13, signalperiod=4)[1],
    ),
    "stoch_slow": (
        lambda c: n.sma(n.sma(n.stoch_k(n.high, n.low, n.close, 9), 3), 3),
        lambda c: talib.STOCH(c.high, c.low, c.close, 9, 3, 0, 3, 0)[1],
    ),
    "stochrsi": (
        lambda c: n.stoch_k(*(3 * [n.cmo(n.close, 6)]), 5),
        lambda c: talib.STOCHF(*(3 * [talib.CMO(c.close, 6)]), 5, 1, 0)[0],
    ),
    "willr": (lambda c: n.willr(11), lambda c: talib.WILLR(c.high, c.low, c.close, 11)),
    "cci": (lambda c: n.cci(12), lambda c: talib.CCI(c.high, c.low, c.close, 12)),
    "mfi": (lambda c: n.mfi(10), lambda c: talib.MFI(c.high, c.low, c.close, c.volume, 10)),
    "max": (lambda c: n.highest(n.high, 8), lambda c: talib.MAX(c.high, 8)),
    "min": (lambda c: n.lowest(n.low, 8), lambda c: talib.MIN(c.low, 8)),
    "adx": (lambda c: n.adx(7), lambda c: talib.ADX(c.high, c.low, c.close, 7)),
    "plus_di": (lambda c: n.plus_di(7), lambda c: talib.PLUS_DI(c.high, c.low, c.close, 7)),
    "minus_di": (lambda c: n.minus_di(7), lambda c: talib.MINUS_DI(c.high, c.low, c.close, 7)),
    "aroon_up": (lambda c: n.aroon_up(9), lambda c: talib.AROON(c.high, c.low, 9)[1]),
    "aroon_down": (lambda c: n.aroon_down(9), lambda c: talib.AROON(c.high, c.low, 9)[0]),
    "obv": (lambda c: n.obv(), lambda c: talib.OBV(c.close, c.volume)),
    "ad": (lambda c: n.ad(), lambda c: talib.AD(c.high, c.low, c.close, c.volume)),
    "dema": (
        lambda c: n.sub(n.mul(n.ema(n.close, 6), 2.0), n.ema(n.ema(n.close, 6), 6)),
        lambda c: talib.DEMA(c.close, 6),
    ),
}

REFERENCE = {
    "rsi": (lambda c: n.rsi(n.close, 9), lambda c: talib.RSI(c.close, timeperiod=9)),
    "atr": (lambda c: n.atr(9), lambda c: talib.ATR(c.high, c.low, c.close, timeperiod=9)),
    "stddev": (lambda c: n.stddev(n.close, 10), lambda c: talib.STDDEV(c.close, 10, 1.0)),
    "sar": (lambda c: n.sar(0.02, 0.2), lambda c: talib.SAR(c.high, c.low, 0.02, 0.2)),
    "linearreg": (lambda c: n.linearreg(n.close, 9), lambda c: talib.LINEARREG(c.close, 9)),
    "linearreg_slope": (
        lambda c: n.linearreg_slope(n.close, 9),
        lambda c: talib.LINEARREG_SLOPE(c.close, 9),
    ),
    "adosc": (
        lambda c: n.adosc(3, 10),
        lambda c: talib.ADOSC(c.high, c.low, c.close, c.volume, fastperiod=3, slowperiod=10),
    ),
}

series = st.builds(
    random_candles,
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    integer=st.booleans(),
    flat=st.booleans(),
)


def _first_defined(values: np.ndarray) -> int:
    defined = np.flatnonzero(~np.isnan(values))
    return int(defined[0]) if defined.size else values.shape[0]


@pytest.mark.parametrize("name", sorted(EXACT))
@settings(max_examples=25, deadline=None)
@given(candles=series)
def test_node_incremental_equals_talib_bit_for_bit(name, candles):
    build, reference = EXACT[name]
    node = build(candles)
    expected = reference(candles)
    assert np.array_equal(compute_nodes([node], candles)[node], expected, equal_nan=True)
    assert np.array_equal(run_incremental(node, candles), expected, equal_nan=True)
    assert _first_defined(expected) == min(node.lookback, len(candles))


@pytest.mark.parametrize("name", sorted(REFERENCE))
@settings(max_examples=25, deadline=None)
@given(candles=series)
def test_node_own_recurrence_matches_talib_within_tolerance_and_evaluators_exactly(name, candles):
    build, reference = REFERENCE[name]
    node = build(candles)
    batch = compute_nodes([node], candles)[node]
    assert np.array_equal(batch, run_incremental(node, candles), equal_nan=True)
    expected = reference(candles)
    assert np.array_equal(np.isnan(batch), np.isnan(expected))
    defined = ~np.isnan(expected)
    np.testing.assert_allclose(batch[defined], expected[defined], rtol=1e-9, atol=1e-9)
    assert _first_defined(expected) == min(node.lookback, len(candles))


def test_rsi_is_zero_when_prices_never_move():
    flat = random_candles(1, 40, flat=False)
    flat = type(flat)(*(np.full(40, 5.0) for _ in range(5)))
    node = n.rsi(n.close, 14)
    assert np.all(compute_nodes([node], flat)[node][14:] == 0.0)
    assert np.all(talib.RSI(flat.close, 14)[14:] == 0.0)
