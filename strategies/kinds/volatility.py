"""Volatility and range kinds: ATR, STDDEV, rolling MAX/MIN and Parabolic SAR (TA-Lib).

ATR is Wilder-smoothed true range seeded with the mean of the first ``period`` true ranges;
STDDEV is TA-Lib's running-sums variance (population), 0 when the variance is below epsilon.
"""

from __future__ import annotations

import math
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


def true_range(high: float, low: float, prev_close: float) -> float:
    """TA-Lib's true range: the largest of h-l, |h-prev close|, |l-prev close|."""
    greatest = high - low
    v = abs(prev_close - high)
    if v > greatest:
        greatest = v
    v = abs(prev_close - low)
    if v > greatest:
        greatest = v
    return greatest


class _Atr(Incremental):
    __slots__ = ("period", "count", "prev_close", "value")
    _state = ("count", "prev_close", "value")

    def __init__(self, period: int) -> None:
        self.period = period
        self.count = 0
        self.prev_close = 0.0
        self.value = 0.0

    def step(self, high: float, low: float, close: float) -> float:
        if high != high or low != low or close != close:
            return NAN
        n = self.period
        count = self.count
        self.count = count + 1
        prev_close = self.prev_close
        self.prev_close = close
        if count == 0:
            return NAN
        tr = true_range(high, low, prev_close)
        if count < n:
            self.value += tr
            return NAN
        if count == n:
            self.value = (self.value + tr) / n
            return self.value
        value = self.value * (n - 1)
        value += tr
        self.value = value / n
        return self.value


class _StdDev(Incremental):
    """Population standard deviation over a window, computed two-pass (mean, then squared
    deviations) so flat stretches give exactly 0 instead of running-sum cancellation noise."""

    __slots__ = ("window",)
    _state = ("window",)

    def __init__(self, period: int) -> None:
        self.window: deque = deque(maxlen=period)

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        window = self.window
        window.append(x)
        n = window.maxlen
        if len(window) < n:
            return NAN
        mean = 0.0
        for value in window:
            mean += value
        mean /= n
        variance = 0.0
        for value in window:
            variance += (value - mean) * (value - mean)
        variance /= n
        if variance < TA_EPSILON:
            return 0.0
        return math.sqrt(variance)


class _Extreme(Incremental):
    __slots__ = ("highest", "window")
    _state = ("window",)

    def __init__(self, period: int, highest: bool) -> None:
        self.highest = highest
        self.window: deque = deque(maxlen=period)

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        window = self.window
        window.append(x)
        if len(window) < window.maxlen:
            return NAN
        return max(window) if self.highest else min(window)


class _Sar(Incremental):
    """TA-Lib SAR, transcribed: direction from the first bar's -DM, EP/AF updates, clamps."""

    __slots__ = ("accel", "maximum", "count", "is_long", "sar", "ep", "af", "new_high", "new_low")
    _state = ("count", "is_long", "sar", "ep", "af", "new_high", "new_low")

    def __init__(self, acceleration: float, maximum: float) -> None:
        if acceleration > maximum:
            acceleration = maximum
        self.accel = acceleration
        self.maximum = maximum
        self.count = 0
        self.is_long = True
        self.sar = 0.0
        self.ep = 0.0
        self.af = acceleration
        self.new_high = 0.0
        self.new_low = 0.0

    def step(self, high: float, low: float) -> float:
        if high != high or low != low:
            return NAN
        if self.count == 0:
            self.count = 1
            self.new_high, self.new_low = high, low
            return NAN
        if self.count == 1:
            self.count = 2
            prev_high, prev_low = self.new_high, self.new_low
            diff_p = high - prev_high
            diff_m = prev_low - low
            minus_dm = diff_m if (diff_m > 0 and diff_p < diff_m) else 0.0
            self.is_long = not minus_dm > 0
            if self.is_long:
                self.ep, self.sar = high, prev_low
            else:
                self.ep, self.sar = low, prev_high
            self.new_low, self.new_high = low, high
        prev_low, prev_high = self.new_low, self.new_high
        self.new_low, self.new_high = low, high
        new_low, new_high = low, high
        sar, ep, af, accel = self.sar, self.ep, self.af, self.accel
        if self.is_long:
            if new_low <= sar:
                self.is_long = False
                sar = ep
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
                out = sar
                af = accel
                ep = new_low
                sar = sar + af * (ep - sar)
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
            else:
                out = sar
                if new_high > ep:
                    ep = new_high
                    af += accel
                    if af > self.maximum:
                        af = self.maximum
                sar = sar + af * (ep - sar)
                if sar > prev_low:
                    sar = prev_low
                if sar > new_low:
                    sar = new_low
        elif new_high >= sar:
            self.is_long = True
            sar = ep
            if sar > prev_low:
                sar = prev_low
            if sar > new_low:
                sar = new_low
            out = sar
            af = accel
            ep = new_high
            sar = sar + af * (ep - sar)
            if sar > prev_low:
                sar = prev_low
            if sar > new_low:
                sar = new_low
        else:
            out = sar
            if new_low < ep:
                ep = new_low
                af += accel
                if af > self.maximum:
                    af = self.maximum
            sar = sar + af * (ep - sar)
            if sar < prev_high:
                sar = prev_high
            if sar < new_high:
                sar = new_high
        self.sar, self.ep, self.af = sar, ep, af
        return out


def _n(p: Params) -> int:
    return int(p["period"])


_P = (("period", int),)
register(
    NodeKind(
        "atr", 3, _P, "series", "series", _n,
        loop_batch(lambda p, lb: _Atr(_n(p))),
        lambda p, lb: _Atr(_n(p)),
        "average true range of (high, low, close) (Wilder, as TA-Lib ATR)",
        ("high", "low", "close"),
        reference=lambda xs, p, lb: talib.ATR(xs[0], xs[1], xs[2], timeperiod=_n(p)),
    )
)  # fmt: skip
register(
    NodeKind(
        "stddev", 1, _P, "series", "series", lambda p: _n(p) - 1,
        loop_batch(lambda p, lb: _StdDev(_n(p))),
        lambda p, lb: _StdDev(_n(p)),
        "population standard deviation (as TA-Lib STDDEV, nbdev=1)",
        reference=lambda xs, p, lb: talib.STDDEV(xs[0], timeperiod=_n(p), nbdev=1.0),
    )
)  # fmt: skip
register(
    NodeKind(
        "max", 1, _P, "series", "series", lambda p: _n(p) - 1,
        lambda xs, p, lb: talib.MAX(xs[0], timeperiod=_n(p)),
        lambda p, lb: _Extreme(_n(p), highest=True),
        "highest value over the last `period` candles (TA-Lib MAX)",
    )
)  # fmt: skip
register(
    NodeKind(
        "min", 1, _P, "series", "series", lambda p: _n(p) - 1,
        lambda xs, p, lb: talib.MIN(xs[0], timeperiod=_n(p)),
        lambda p, lb: _Extreme(_n(p), highest=False),
        "lowest value over the last `period` candles (TA-Lib MIN)",
    )
)  # fmt: skip
register(
    NodeKind(
        "sar", 2, (("acceleration", float), ("maximum", float)), "series", "series",
        lambda p: 1,
        loop_batch(lambda p, lb: _Sar(float(p["acceleration"]), float(p["maximum"]))),
        lambda p, lb: _Sar(float(p["acceleration"]), float(p["maximum"])),
        "parabolic stop-and-reverse of (high, low) (as TA-Lib SAR)",
        ("high", "low"),
        reference=lambda xs, p, lb: talib.SAR(
            xs[0], xs[1], acceleration=float(p["acceleration"]), maximum=float(p["maximum"])
        ),
    )
)  # fmt: skip
