"""Moving averages and sums: SMA, EMA, SUM (TA-Lib) re-implemented as exact recurrences.

TA-Lib keeps a running total that it adds the new value to and subtracts the oldest from, and
seeds its EMA with the SMA of the first ``period`` values (``k = 2 / (period + 1)``); the
incremental side performs the same float operations in the same order, including the fused
multiply-add the compiled library uses for the EMA update.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import talib

from tradestream.strategies.kinds.registry import NAN, Incremental, NodeKind, Params, fma, register


class RunningSum(Incremental):
    """TA-Lib's SUM / SMA running total: add the new value, output, subtract the oldest."""

    __slots__ = ("period", "divide", "window", "total")
    _state = ("window", "total")

    def __init__(self, period: int, divide: bool) -> None:
        self.period = period
        self.divide = divide
        self.window: deque = deque()
        self.total = 0.0

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        self.total += x
        window = self.window
        if len(window) < self.period - 1:
            window.append(x)
            return NAN
        value = self.total
        if self.period > 1:
            oldest = window.popleft()
            window.append(x)
        else:
            oldest = x
        self.total -= oldest
        return value / self.period if self.divide else value


class Ema(Incremental):
    """TA-Lib's EMA: SMA seed over the first ``period`` values, then ``((x - prev) * k) + prev``."""

    __slots__ = ("period", "k", "count", "total", "prev")
    _state = ("count", "total", "prev")

    def __init__(self, period: int) -> None:
        self.period = period
        self.k = 2.0 / (period + 1)
        self.count = 0
        self.total = 0.0
        self.prev = 0.0

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        if self.count < self.period:
            self.count += 1
            self.total += x
            if self.count < self.period:
                return NAN
            self.prev = self.total / self.period
            return self.prev
        self.prev = fma(x - self.prev, self.k, self.prev)
        return self.prev


def _period(p: Params) -> int:
    return int(p["period"])


register(
    NodeKind(
        name="sma",
        arity=1,
        params=(("period", int),),
        inputs="series",
        output="series",
        own_lookback=lambda p: _period(p) - 1,
        batch=lambda xs, p, lb: talib.SMA(xs[0], timeperiod=_period(p)),
        incremental=lambda p, lb: RunningSum(_period(p), divide=True),
        description="simple moving average (TA-Lib SMA)",
    )
)
register(
    NodeKind(
        name="sum",
        arity=1,
        params=(("period", int),),
        inputs="series",
        output="series",
        own_lookback=lambda p: _period(p) - 1,
        batch=lambda xs, p, lb: talib.SUM(xs[0], timeperiod=_period(p)),
        incremental=lambda p, lb: RunningSum(_period(p), divide=False),
        description="rolling sum (TA-Lib SUM)",
    )
)
register(
    NodeKind(
        name="ema",
        arity=1,
        params=(("period", int),),
        inputs="series",
        output="series",
        own_lookback=lambda p: _period(p) - 1,
        batch=lambda xs, p, lb: talib.EMA(xs[0], timeperiod=_period(p)),
        incremental=lambda p, lb: Ema(_period(p)),
        description="exponential moving average, SMA-seeded (TA-Lib EMA)",
    )
)


def as_array(x: np.ndarray) -> np.ndarray:
    """Returns a contiguous float64 view TA-Lib accepts."""
    return np.ascontiguousarray(x, dtype=np.float64)
