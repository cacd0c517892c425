"""RSI, ATR, STDDEV, SAR, LINEARREG, LINEARREG_SLOPE and ADOSC against oracles of their own.

For these kinds the vectorized side is our incremental recurrence run over the arrays
(``loop_batch`` in ``strategies/kinds/registry.py``), so "batch equals incremental" checks one
implementation against itself. Here the incremental values are checked against two oracles
that share none of that code:

- **TA-Lib** (``talib``, its compiled C library), called directly, with random parameters and
  random or edge-case series (flat runs, steps, zero-range candles, large and small prices);
- **a numpy definition written here** from each indicator's published formula (Wilder's
  smoothing for RSI and ATR, population standard deviation, ordinary least squares, Chaikin's
  money-flow line with exponential averages), for all but SAR, whose path rules (Wilder's
  stop-and-reverse with TA-Lib's choice of the first direction) are checked against TA-Lib
  and a case worked out by hand.

Tolerance: values must agree to ``rtol=1e-9`` plus ``atol=1e-9 * scale``, where ``scale`` is
the size of the inputs (the largest price; 100 for RSI; the total volume for ADOSC, the size
of its money-flow line). The oracles add in a different order (TA-Lib's compiled code fuses
multiply-adds and keeps running sums; numpy sums pairwise), so results differ in the last
bits: at most ~1e-13 of scale measured over these series (LINEARREG_SLOPE, whose sums of
``i * x`` are largest). Wilder and exponential smoothing damp old errors, so the noise does not
grow along the series. ``1e-9`` leaves four orders of magnitude for that noise and is still far
below what a wrong formula or a period off by one changes (~1e-3 of scale or more).
"""

from __future__ import annotations

import numpy as np
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from tests.strategies.series import random_candles, run_incremental
from tradestream.strategies import nodes as n
from tradestream.strategies.candle_arrays import CandleArrays
from tradestream.strategies.vectorized import compute_nodes

TIGHT = 1e-9
ORACLE = settings(max_examples=60, deadline=None)


# -- series ---------------------------------------------------------------------------------------


def _scaled(candles: CandleArrays, scale: float) -> CandleArrays:
    return CandleArrays(
        candles.open * scale,
        candles.high * scale,
        candles.low * scale,
        candles.close * scale,
        candles.volume,
    )


def _edge(kind: str, length: int, level: float) -> CandleArrays:
    """Series that random walks rarely give: flat, stepping, alternating, zero-range candles."""
    t = np.arange(length, dtype=np.float64)
    if kind == "flat":
        close = np.full(length, level)
    elif kind == "ramp":
        close = level + t
    elif kind == "alternating":
        close = level + np.where(t % 2 == 0, 1.0, -1.0)
    else:  # "step": flat, one jump, flat again
        close = np.where(t < length // 2, level, level * 1.5)
    open_ = np.concatenate(([close[0]], close[:-1]))
    if kind == "alternating":  # candles with no range at all (high == low == close)
        high, low = close.copy(), close.copy()
    else:
        high = np.maximum(open_, close) + 0.5
        low = np.minimum(open_, close) - 0.5
    volume = 100.0 + (t % 7) * 10.0
    return CandleArrays(open_, high, low, close, volume)


series = st.one_of(
    st.builds(
        lambda seed, length, integer, flat, scale: _scaled(
            random_candles(seed, length, integer=integer, flat=flat), scale
        ),
        seed=st.integers(0, 2**32 - 1),
        length=st.integers(1, 150),
        integer=st.booleans(),
        flat=st.booleans(),
        scale=st.sampled_from([1e-3, 1.0, 1e4]),
    ),
    st.builds(
        _edge,
        kind=st.sampled_from(["flat", "ramp", "alternating", "step"]),
        length=st.integers(1, 80),
        level=st.sampled_from([0.5, 100.0, 25_000.0]),
    ),
)
periods = st.integers(2, 30)


def _price_scale(candles: CandleArrays) -> float:
    return float(np.max(np.abs(candles.high))) if len(candles) else 1.0


def _assert_close(got: np.ndarray, expected: np.ndarray, scale: float) -> None:
    """Same NaN positions (warm-up); defined values within rtol 1e-9 and atol 1e-9 * scale."""
    assert np.array_equal(np.isnan(got), np.isnan(expected)), (got, expected)
    defined = ~np.isnan(expected)
    np.testing.assert_allclose(got[defined], expected[defined], rtol=TIGHT, atol=TIGHT * scale)


def _incremental(node, candles: CandleArrays) -> np.ndarray:
    values = run_incremental(node, candles)
    # The vectorized side runs the same recurrence; it must at least be the same numbers.
    assert np.array_equal(compute_nodes([node], candles)[node], values, equal_nan=True)
    return values


# -- numpy definitions ----------------------------------------------------------------------------


def _wilder(values: np.ndarray, period: int, first: int) -> np.ndarray:
    """Wilder's smoothing of values[first:]: the mean of the first `period`, then
    avg = (avg * (period - 1) + value) / period. NaN before the first average."""
    out = np.full(values.shape, np.nan)
    seed_end = first + period
    if values.shape[0] < seed_end:
        return out
    average = values[first:seed_end].mean()
    out[seed_end - 1] = average
    for t in range(seed_end, values.shape[0]):
        average = (average * (period - 1) + values[t]) / period
        out[t] = average
    return out


def rsi_definition(close: np.ndarray, period: int) -> np.ndarray:
    """100 * average gain / (average gain + average loss), Wilder-smoothed changes of close;
    0 when the price did not move at all (TA-Lib's convention for 0 / 0)."""
    change = np.concatenate(([np.nan], np.diff(close)))
    gains = _wilder(np.where(change > 0, change, 0.0), period, 1)
    losses = _wilder(np.where(change < 0, -change, 0.0), period, 1)
    total = gains + losses
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 1e-14, 100.0 * gains / total, np.where(np.isnan(total), np.nan, 0))


def atr_definition(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int):
    """Wilder-smoothed true range; the true range needs the previous close (none on candle 0)."""
    previous = np.concatenate(([np.nan], close[:-1]))
    true_range = np.maximum.reduce([high - low, np.abs(high - previous), np.abs(low - previous)])
    return _wilder(true_range, period, 1)


def stddev_definition(x: np.ndarray, period: int) -> np.ndarray:
    """Population standard deviation of the last `period` values (0 below TA-Lib's epsilon)."""
    out = np.full(x.shape, np.nan)
    if x.shape[0] >= period:
        windows = sliding_window_view(x, period)
        variance = ((windows - windows.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
        out[period - 1 :] = np.where(variance < 1e-14, 0.0, np.sqrt(variance))
    return out


def linearreg_definition(x: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line through the last `period` values at positions 0..period-1: its value
    at the last position, and its slope per candle."""
    value = np.full(x.shape, np.nan)
    slope = np.full(x.shape, np.nan)
    if x.shape[0] >= period:
        windows = sliding_window_view(x, period)
        positions = np.arange(period, dtype=np.float64)
        centred = positions - positions.mean()
        m = (windows - windows.mean(axis=1, keepdims=True)) @ centred / (centred @ centred)
        slope[period - 1 :] = m
        value[period - 1 :] = windows.mean(axis=1) + m * (period - 1 - positions.mean())
    return value, slope


def _ad_line(candles: CandleArrays) -> np.ndarray:
    """Chaikin's accumulation/distribution: running sum of volume * ((c - l) - (h - c)) / (h - l),
    nothing added by a candle without range."""
    h, lo, c, v = candles.high, candles.low, candles.close, candles.volume
    span = h - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        flow = np.where(span > 0, ((c - lo) - (h - c)) / span * v, 0.0)
    return np.cumsum(flow)


def adosc_definition(candles: CandleArrays, fast: int, slow: int) -> np.ndarray:
    """EMA(fast) - EMA(slow) of the A/D line, k = 2 / (period + 1), both averages starting at
    the first A/D value (TA-Lib's ADOSC seeding), defined from candle max(fast, slow) - 1."""
    line = _ad_line(candles)
    out = np.full(line.shape, np.nan)
    if not line.shape[0]:
        return out
    k_fast, k_slow = 2.0 / (fast + 1), 2.0 / (slow + 1)
    ema_fast = ema_slow = line[0]
    for t in range(line.shape[0]):
        ema_fast = k_fast * line[t] + (1 - k_fast) * ema_fast
        ema_slow = k_slow * line[t] + (1 - k_slow) * ema_slow
        if t >= max(fast, slow) - 1:
            out[t] = ema_fast - ema_slow
    return out


# -- against TA-Lib ---------------------------------------------------------------------------------


@ORACLE
@given(candles=series, period=periods)
def test_rsi_atr_stddev_linearreg_incremental_equal_talib(candles, period):
    price = _price_scale(candles)
    c = candles
    cases = [
        (n.rsi(n.close, period), talib.RSI(c.close, period), 100.0),
        (n.atr(period), talib.ATR(c.high, c.low, c.close, period), price),
        (n.stddev(n.close, period), talib.STDDEV(c.close, period, 1.0), price),
        (n.linearreg(n.close, period), talib.LINEARREG(c.close, period), price),
        (n.linearreg_slope(n.close, period), talib.LINEARREG_SLOPE(c.close, period), price),
    ]
    for node, expected, scale in cases:
        _assert_close(_incremental(node, candles), expected, scale)


@ORACLE
@given(
    candles=series,
    acceleration=st.floats(0.001, 0.3),
    maximum=st.floats(0.01, 0.6),
)
def test_sar_incremental_equals_talib(candles, acceleration, maximum):
    node = n.sar(acceleration, maximum)
    expected = talib.SAR(candles.high, candles.low, acceleration, maximum)
    _assert_close(_incremental(node, candles), expected, _price_scale(candles))


@ORACLE
@given(candles=series, fast=st.integers(2, 15), slow=st.integers(2, 30))
def test_adosc_incremental_equals_talib(candles, fast, slow):
    node = n.adosc(fast, slow)
    expected = talib.ADOSC(candles.high, candles.low, candles.close, candles.volume, fast, slow)
    flow = float(np.sum(candles.volume)) if len(candles) else 1.0
    _assert_close(_incremental(node, candles), expected, flow)


# -- against the numpy definitions ----------------------------------------------------------------


@ORACLE
@given(candles=series, period=periods)
def test_rsi_atr_stddev_linearreg_incremental_equal_their_definitions(candles, period):
    price = _price_scale(candles)
    c = candles
    value, slope = linearreg_definition(c.close, period)
    cases = [
        (n.rsi(n.close, period), rsi_definition(c.close, period), 100.0),
        (n.atr(period), atr_definition(c.high, c.low, c.close, period), price),
        (n.stddev(n.close, period), stddev_definition(c.close, period), price),
        (n.linearreg(n.close, period), value, price),
        (n.linearreg_slope(n.close, period), slope, price),
    ]
    for node, expected, scale in cases:
        _assert_close(_incremental(node, candles), expected, scale)


@ORACLE
@given(candles=series, fast=st.integers(2, 15), slow=st.integers(2, 30))
def test_adosc_incremental_equals_its_definition(candles, fast, slow):
    expected = adosc_definition(candles, fast, slow)
    flow = float(np.sum(candles.volume)) if len(candles) else 1.0
    _assert_close(_incremental(n.adosc(fast, slow), candles), expected, flow)


# -- by hand ----------------------------------------------------------------------------------------


def _candles(high, low, close=None) -> CandleArrays:
    high, low = np.asarray(high, dtype=float), np.asarray(low, dtype=float)
    close = (high + low) / 2 if close is None else np.asarray(close, dtype=float)
    return CandleArrays(close, high, low, close, np.ones_like(close))


def test_sar_by_hand_rises_under_new_highs_and_reverses_when_the_low_breaks_it():
    # Candle 1 has no -DM (its low is higher): long, SAR starts at candle 0's low 9, EP 12.
    # Next SAR = 9 + 0.1 * (12 - 9) = 9.3, kept below the lows: TA-Lib's first step checks
    # candle 1's low (10) only, where Wilder's rule would also check candle 0's (9, so 9).
    # Candle 2: high 13 is a new EP, AF 0.2: 9.3 + 0.2 * 3.7 = 10.04, clamped to the low 10.
    # Candle 3: 10 + 0.2 * 3 = 10.6, clamped to its low 10.5.
    # Candle 4: low 9 breaks 10.5: short, SAR = the long trend's EP 13.
    data = _candles([10, 12, 13, 12.5, 11], [9, 10, 11, 10.5, 9])
    values = _incremental(n.sar(0.1, 0.2), data)
    assert np.isnan(values[0])
    np.testing.assert_allclose(values[1:], [9.0, 9.3, 10.0, 13.0], rtol=0, atol=1e-12)
