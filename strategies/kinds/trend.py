"""Trend kinds: ADX, +DI, -DI, Aroon up/down, linear regression value and slope (TA-Lib).

The directional-movement family uses Wilder's smoothing ``x - x / n + v``; TA-Lib seeds the
sums with ``period - 1`` raw values and averages the first ``period`` DX values for ADX.
Aroon uses TA-Lib's tie rule: the most recent extreme wins.
"""

from __future__ import annotations

from collections import deque

import talib

from tradestream.strategies.kinds.registry import (
    NAN,
    TA_EPSILON,
    Incremental,
    NodeKind,
    Params,
    loop_batch,
    register,
)
from tradestream.strategies.kinds.volatility import true_range


def _is_zero(v: float) -> bool:
    return -TA_EPSILON < v < TA_EPSILON


class _Directional(Incremental):
    """One transcription of TA-Lib's ADX loop, emitting ADX, +DI or -DI."""

    __slots__ = (
        "period", "output", "count", "prev_high", "prev_low", "prev_close",
        "plus_dm", "minus_dm", "tr", "sum_dx", "adx",
    )  # fmt: skip
    _state = (
        "count", "prev_high", "prev_low", "prev_close", "plus_dm", "minus_dm", "tr",
        "sum_dx", "adx",
    )  # fmt: skip

    def __init__(self, period: int, output: str) -> None:
        self.period = period
        self.output = output
        self.count = 0
        self.prev_high = self.prev_low = self.prev_close = 0.0
        self.plus_dm = self.minus_dm = self.tr = 0.0
        self.sum_dx = 0.0
        self.adx = 0.0

    def step(self, high: float, low: float, close: float) -> float:
        if high != high or low != low or close != close:
            return NAN
        n = self.period
        count = self.count
        self.count = count + 1
        if count == 0:
            self.prev_high, self.prev_low, self.prev_close = high, low, close
            return NAN
        diff_p = high - self.prev_high
        diff_m = self.prev_low - low
        self.prev_high, self.prev_low = high, low
        tr = true_range(high, low, self.prev_close)
        self.prev_close = close
        if count < n:
            if diff_m > 0 and diff_p < diff_m:
                self.minus_dm += diff_m
            elif diff_p > 0 and diff_p > diff_m:
                self.plus_dm += diff_p
            self.tr += tr
            return NAN
        self.minus_dm -= self.minus_dm / n
        self.plus_dm -= self.plus_dm / n
        if diff_m > 0 and diff_p < diff_m:
            self.minus_dm += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            self.plus_dm += diff_p
        self.tr = self.tr - self.tr / n + tr
        if self.output != "adx":
            if _is_zero(self.tr):
                return 0.0
            dm = self.plus_dm if self.output == "plus_di" else self.minus_dm
            return 100.0 * (dm / self.tr)
        dx = None
        if not _is_zero(self.tr):
            minus_di = 100.0 * (self.minus_dm / self.tr)
            plus_di = 100.0 * (self.plus_dm / self.tr)
            total = minus_di + plus_di
            if not _is_zero(total):
                dx = 100.0 * (abs(minus_di - plus_di) / total)
        if count < 2 * n - 1:
            if dx is not None:
                self.sum_dx += dx
            return NAN
        if count == 2 * n - 1:
            if dx is not None:
                self.sum_dx += dx
            self.adx = self.sum_dx / n
            return self.adx
        if dx is not None:
            self.adx = (self.adx * (n - 1) + dx) / n
        return self.adx


class _Aroon(Incremental):
    __slots__ = ("period", "up", "window")
    _state = ("window",)

    def __init__(self, period: int, up: bool) -> None:
        self.period = period
        self.up = up
        self.window: deque = deque(maxlen=period + 1)

    def step(self, high: float, low: float) -> float:
        if high != high or low != low:
            return NAN
        window = self.window
        window.append(high if self.up else low)
        if len(window) < window.maxlen:
            return NAN
        best_index = 0
        best = window[0]
        for i, value in enumerate(window):
            if (value >= best) if self.up else (value <= best):
                best, best_index = value, i
        n = self.period
        factor = 100.0 / n
        return factor * (n - (n - best_index))


class _LinearReg(Incremental):
    __slots__ = ("period", "slope", "window")
    _state = ("window",)

    def __init__(self, period: int, slope: bool) -> None:
        self.period = period
        self.slope = slope
        self.window: deque = deque(maxlen=period)

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        window = self.window
        window.append(x)
        n = self.period
        if len(window) < n:
            return NAN
        sum_x = n * (n - 1) * 0.5
        sum_x_sqr = float(n * (n - 1) * (2 * n - 1) // 6)
        divisor = sum_x * sum_x - n * sum_x_sqr
        sum_xy = 0.0
        sum_y = 0.0
        i = n
        for value in window:
            i -= 1
            sum_y += value
            sum_xy += float(i) * value
        m = (n * sum_xy - sum_x * sum_y) / divisor
        if self.slope:
            return m
        b = (sum_y - m * sum_x) / float(n)
        return b + m * float(n - 1)


def _n(p: Params) -> int:
    return int(p["period"])


_P = (("period", int),)
_HLC = ("high", "low", "close")
for _name, _fn, _lookback, _text in (
    ("adx", talib.ADX, lambda p: 2 * _n(p) - 1, "average directional index (TA-Lib ADX)"),
    ("plus_di", talib.PLUS_DI, _n, "plus directional indicator (TA-Lib PLUS_DI)"),
    ("minus_di", talib.MINUS_DI, _n, "minus directional indicator (TA-Lib MINUS_DI)"),
):
    register(
        NodeKind(
            _name, 3, _P, "series", "series", _lookback,
            lambda xs, p, lb, _fn=_fn: _fn(xs[0], xs[1], xs[2], timeperiod=_n(p)),
            lambda p, lb, _name=_name: _Directional(_n(p), _name),
            _text + " of (high, low, close)",
            _HLC,
        )
    )  # fmt: skip

register(
    NodeKind(
        "aroon_up", 2, _P, "series", "series", _n,
        lambda xs, p, lb: talib.AROON(xs[0], xs[1], timeperiod=_n(p))[1],
        lambda p, lb: _Aroon(_n(p), up=True),
        "Aroon up of (high, low) (TA-Lib AROON)",
        ("high", "low"),
    )
)  # fmt: skip
register(
    NodeKind(
        "aroon_down", 2, _P, "series", "series", _n,
        lambda xs, p, lb: talib.AROON(xs[0], xs[1], timeperiod=_n(p))[0],
        lambda p, lb: _Aroon(_n(p), up=False),
        "Aroon down of (high, low) (TA-Lib AROON)",
        ("high", "low"),
    )
)  # fmt: skip
register(
    NodeKind(
        "linearreg", 1, _P, "series", "series", lambda p: _n(p) - 1,
        loop_batch(lambda p, lb: _LinearReg(_n(p), slope=False)),
        lambda p, lb: _LinearReg(_n(p), slope=False),
        "least-squares line value at the current candle (as TA-Lib LINEARREG)",
        reference=lambda xs, p, lb: talib.LINEARREG(xs[0], timeperiod=_n(p)),
    )
)  # fmt: skip
register(
    NodeKind(
        "linearreg_slope", 1, _P, "series", "series", lambda p: _n(p) - 1,
        loop_batch(lambda p, lb: _LinearReg(_n(p), slope=True)),
        lambda p, lb: _LinearReg(_n(p), slope=True),
        "least-squares slope per candle (as TA-Lib LINEARREG_SLOPE)",
        reference=lambda xs, p, lb: talib.LINEARREG_SLOPE(xs[0], timeperiod=_n(p)),
    )
)  # fmt: skip
