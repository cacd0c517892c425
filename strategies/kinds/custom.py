"""Indicators TA-Lib does not have: Heiken Ashi, FRAMA, Klinger volume force, VIDYA, Renko and
range-bar direction, Gann swings and the volume-profile point of control.

They are path-dependent, so each is written once as a recurrence and the batch side runs that
recurrence over the arrays (``loop_batch``); the tests check them against hand-computed values.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from tradestream.strategies.kinds.registry import (
    NAN,
    Incremental,
    NodeKind,
    Params,
    loop_batch,
    register,
)

_OHLC = ("open", "high", "low", "close")


def _nan_in(*values: float) -> bool:
    return any(v != v for v in values)


class _HaOpen(Incremental):
    """Heiken Ashi open: (previous HA open + previous HA close) / 2, seeded (open + close) / 2."""

    __slots__ = ("ha_open", "ha_close")
    _state = ("ha_open", "ha_close")

    def __init__(self) -> None:
        self.ha_open = None
        self.ha_close = None

    def step(self, o: float, h: float, low: float, c: float) -> float:
        if _nan_in(o, h, low, c):
            return NAN
        value = (o + c) / 2.0 if self.ha_open is None else (self.ha_open + self.ha_close) / 2.0
        self.ha_open = value
        self.ha_close = (o + h + low + c) / 4.0
        return value


def _ha_close_batch(xs: list[np.ndarray], p: Params, lb: int) -> np.ndarray:
    return (xs[0] + xs[1] + xs[2] + xs[3]) / 4.0


class _HaClose(Incremental):
    __slots__ = ()

    def step(self, o: float, h: float, low: float, c: float) -> float:
        return (o + h + low + c) / 4.0


class _Frama(Incremental):
    """Ehlers' fractal adaptive MA over (high, low, close); ``period`` is even.

    alpha = exp(-4.6 * (D - 1)) clamped to [0.01, 1], D the fractal dimension of the two
    half-windows against the whole window; when a range is 0 (flat prices) alpha is 1.
    """

    __slots__ = ("period", "window", "value")
    _state = ("window", "value")

    def __init__(self, period: int) -> None:
        self.period = period
        self.window: deque = deque(maxlen=period)
        self.value = None

    def step(self, high: float, low: float, close: float) -> float:
        if _nan_in(high, low, close):
            return NAN
        window = self.window
        window.append((high, low))
        n = self.period
        if len(window) < n:
            return NAN
        half = n // 2
        rows = list(window)
        first, second = rows[:half], rows[half:]
        n1 = (max(r[0] for r in first) - min(r[1] for r in first)) / half
        n2 = (max(r[0] for r in second) - min(r[1] for r in second)) / half
        n3 = (max(r[0] for r in rows) - min(r[1] for r in rows)) / n
        if n1 + n2 > 0.0 and n3 > 0.0:
            dimension = (math.log(n1 + n2) - math.log(n3)) / math.log(2.0)
            alpha = math.exp(-4.6 * (dimension - 1.0))
            alpha = min(1.0, max(0.01, alpha))
        else:
            alpha = 1.0
        if self.value is None:
            self.value = close
        else:
            self.value = alpha * close + (1.0 - alpha) * self.value
        return self.value

    def get_state(self) -> list:
        return [[list(r) for r in self.window], self.value]

    def set_state(self, state: list) -> None:
        self.window = deque((tuple(r) for r in state[0]), maxlen=self.period)
        self.value = state[1]


class _KlingerForce(Incremental):
    """Klinger volume force: volume * |2 * dm / cm - 1| * trend * 100."""

    __slots__ = ("prev_tp", "trend", "prev_dm", "cm")
    _state = ("prev_tp", "trend", "prev_dm", "cm")

    def __init__(self) -> None:
        self.prev_tp = None
        self.trend = 0
        self.prev_dm = 0.0
        self.cm = 0.0

    def step(self, high: float, low: float, close: float, volume: float) -> float:
        if _nan_in(high, low, close, volume):
            return NAN
        tp = high + low + close
        dm = high - low
        if self.prev_tp is None:
            self.prev_tp, self.prev_dm, self.cm = tp, dm, dm
            return NAN
        trend = 1 if tp > self.prev_tp else (-1 if tp < self.prev_tp else self.trend)
        if trend == self.trend:
            self.cm = self.cm + dm
        else:
            self.cm = self.prev_dm + dm
        self.trend, self.prev_tp, self.prev_dm = trend, tp, dm
        if self.cm == 0.0:
            return 0.0
        return volume * abs(2.0 * (dm / self.cm) - 1.0) * trend * 100.0


class _Vidya(Incremental):
    """Variable-period EMA (Chande's VIDYA): alpha = 2 / (period + 1) * |CMO(cmo_period)| / 100,
    CMO over plain sums of up and down moves; seeded with the close at its first defined candle.
    """

    __slots__ = ("k", "window", "value")
    _state = ("window", "value")

    def __init__(self, period: int, cmo_period: int) -> None:
        self.k = 2.0 / (period + 1)
        self.window: deque = deque(maxlen=cmo_period + 1)
        self.value = None

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        window = self.window
        window.append(x)
        if len(window) < window.maxlen:
            return NAN
        up = down = 0.0
        previous = None
        for value in window:
            if previous is not None:
                if value > previous:
                    up += value - previous
                elif value < previous:
                    down += previous - value
            previous = value
        cmo = (up - down) / (up + down) if up + down > 0.0 else 0.0
        alpha = self.k * abs(cmo)
        if self.value is None:
            self.value = x
        else:
            self.value = alpha * x + (1.0 - alpha) * self.value
        return self.value


class _Renko(Incremental):
    """Direction of the last Renko brick on closes (+1 up, -1 down, 0 before the first).

    The brick size is ``brick_pct`` percent of the first close. A brick in the current direction
    needs one brick of movement from the last brick's level; a reversal needs two.
    """

    __slots__ = ("pct", "brick", "level", "direction")
    _state = ("brick", "level", "direction")

    def __init__(self, brick_pct: float) -> None:
        self.pct = brick_pct
        self.brick = None
        self.level = 0.0
        self.direction = 0

    def step(self, close: float) -> float:
        if close != close:
            return NAN
        if self.brick is None:
            self.brick = abs(close) * self.pct / 100.0
            self.level = close
            return 0.0
        brick, level, direction = self.brick, self.level, self.direction
        if brick <= 0.0:
            return float(direction)
        up_need = brick if direction >= 0 else 2.0 * brick
        down_need = brick if direction <= 0 else 2.0 * brick
        if close - level >= up_need:
            count = math.floor((close - level) / brick)
            self.level = level + count * brick
            self.direction = 1
        elif level - close >= down_need:
            count = math.floor((level - close) / brick)
            self.level = level - count * brick
            self.direction = -1
        return float(self.direction)


class _RangeBars(Incremental):
    """Direction of the last completed range bar (+1 closed above its open, -1 below, 0 none).

    A bar opens at a close and completes when its high-low range reaches ``range_pct`` percent
    of its open; the next bar opens at the completing candle's close.
    """

    __slots__ = ("pct", "bar_open", "bar_high", "bar_low", "direction")
    _state = ("bar_open", "bar_high", "bar_low", "direction")

    def __init__(self, range_pct: float) -> None:
        self.pct = range_pct
        self.bar_open = None
        self.bar_high = self.bar_low = 0.0
        self.direction = 0

    def step(self, high: float, low: float, close: float) -> float:
        if _nan_in(high, low, close):
            return NAN
        if self.bar_open is None:
            self.bar_open, self.bar_high, self.bar_low = close, close, close
            return 0.0
        self.bar_high = max(self.bar_high, high)
        self.bar_low = min(self.bar_low, low)
        if self.bar_high - self.bar_low >= abs(self.bar_open) * self.pct / 100.0:
            if close > self.bar_open:
                self.direction = 1
            elif close < self.bar_open:
                self.direction = -1
            self.bar_open, self.bar_high, self.bar_low = close, close, close
        return float(self.direction)


class _GannSwing(Incremental):
    """Gann swing direction: +1 after ``bars`` consecutive higher highs, -1 after ``bars``
    consecutive lower lows, otherwise the previous direction (0 at first)."""

    __slots__ = ("bars", "prev_high", "prev_low", "ups", "downs", "direction")
    _state = ("prev_high", "prev_low", "ups", "downs", "direction")

    def __init__(self, bars: int) -> None:
        self.bars = bars
        self.prev_high = None
        self.prev_low = 0.0
        self.ups = self.downs = 0
        self.direction = 0

    def step(self, high: float, low: float) -> float:
        if _nan_in(high, low):
            return NAN
        if self.prev_high is None:
            self.prev_high, self.prev_low = high, low
            return NAN
        self.ups = self.ups + 1 if high > self.prev_high else 0
        self.downs = self.downs + 1 if low < self.prev_low else 0
        self.prev_high, self.prev_low = high, low
        if self.ups >= self.bars and self.downs < self.bars:
            self.direction = 1
        elif self.downs >= self.bars and self.ups < self.bars:
            self.direction = -1
        return float(self.direction)


class _PointOfControl(Incremental):
    """Volume-profile point of control: over the last ``period`` candles, split the close range
    into ``bins`` equal bins, add each candle's volume to its close's bin, and return the centre
    of the fullest bin (the lowest such bin on a tie; the close itself if the range is 0)."""

    __slots__ = ("bins", "window")
    _state = ("window",)

    def __init__(self, period: int, bins: int) -> None:
        self.bins = bins
        self.window: deque = deque(maxlen=period)

    def step(self, close: float, volume: float) -> float:
        if _nan_in(close, volume):
            return NAN
        window = self.window
        window.append((close, volume))
        if len(window) < window.maxlen:
            return NAN
        low = min(r[0] for r in window)
        high = max(r[0] for r in window)
        if high <= low:
            return close
        width = (high - low) / self.bins
        totals = [0.0] * self.bins
        for price, vol in window:
            index = min(int((price - low) / width), self.bins - 1)
            totals[index] += vol
        best = max(range(self.bins), key=lambda i: (totals[i], -i))
        return low + (best + 0.5) * width

    def get_state(self) -> list:
        return [list(r) for r in self.window]

    def set_state(self, state: list) -> None:
        self.window = deque((tuple(r) for r in state), maxlen=self.window.maxlen)


def _p(name: str):
    return lambda p: p[name]


def _custom(name, arity, params, lookback, factory, text, input_names=()) -> None:
    register(
        NodeKind(
            name, arity, params, "series", "series", lookback, loop_batch(factory), factory,
            text, input_names,
        )
    )  # fmt: skip


register(
    NodeKind(
        "ha_close", 4, (), "series", "series", lambda p: 0, _ha_close_batch,
        lambda p, lb: _HaClose(), "Heiken Ashi close (o + h + l + c) / 4", _OHLC,
    )
)  # fmt: skip
_custom("ha_open", 4, (), lambda p: 0, lambda p, lb: _HaOpen(), "Heiken Ashi open", _OHLC)
_custom(
    "frama", 3, (("period", int),), lambda p: int(p["period"]) - 1,
    lambda p, lb: _Frama(int(p["period"])),
    "fractal adaptive moving average of (high, low, close)", ("high", "low", "close"),
)  # fmt: skip
_custom(
    "klinger_force", 4, (), lambda p: 1, lambda p, lb: _KlingerForce(),
    "Klinger volume force of (high, low, close, volume)", ("high", "low", "close", "volume"),
)  # fmt: skip
_custom(
    "vidya", 1, (("period", int), ("cmo_period", int)), lambda p: int(p["cmo_period"]),
    lambda p, lb: _Vidya(int(p["period"]), int(p["cmo_period"])),
    "variable-period EMA (VIDYA), alpha scaled by |CMO|",
)  # fmt: skip
_custom(
    "renko", 1, (("brick_pct", float),), lambda p: 0,
    lambda p, lb: _Renko(float(p["brick_pct"])),
    "direction of the last Renko brick of the closes (+1/-1/0)",
)  # fmt: skip
_custom(
    "range_bars", 3, (("range_pct", float),), lambda p: 0,
    lambda p, lb: _RangeBars(float(p["range_pct"])),
    "direction of the last completed range bar (+1/-1/0)", ("high", "low", "close"),
)  # fmt: skip
_custom(
    "gann_swing", 2, (("bars", int),), lambda p: 1,
    lambda p, lb: _GannSwing(int(p["bars"])),
    "Gann swing direction of (high, low) (+1/-1/0)", ("high", "low"),
)  # fmt: skip
_custom(
    "poc", 2, (("period", int), ("bins", int)), lambda p: int(p["period"]) - 1,
    lambda p, lb: _PointOfControl(int(p["period"]), int(p["bins"])),
    "volume-profile point of control of (close, volume)", ("close", "volume"),
)  # fmt: skip
