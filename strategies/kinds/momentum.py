"""Momentum oscillators: RSI, CMO, MOM, ROC, MACD line, stochastic %K, Williams %R, CCI, MFI.

Each is TA-Lib on the batch side and a transcription of TA-Lib's recurrence on the incremental
side (Wilder smoothing for RSI/CMO, circular buffers for CCI/MFI, TA-Lib's tie rules for the
window extremes, TA-Lib's zero tests).
"""

from __future__ import annotations

from collections import deque

import talib

from tradestream.strategies.kinds.averages import Ema
from tradestream.strategies.kinds.registry import (
    NAN,
    TA_EPSILON,
    Incremental,
    NodeKind,
    Params,
    loop_batch,
    register,
)


def _is_zero(v: float) -> bool:
    return -TA_EPSILON < v < TA_EPSILON


class _WilderOsc(Incremental):
    """RSI and CMO: average gain/loss seeded by a plain mean, then Wilder-smoothed."""

    __slots__ = ("period", "cmo", "count", "prev", "gain", "loss")
    _state = ("count", "prev", "gain", "loss")

    def __init__(self, period: int, cmo: bool) -> None:
        self.period = period
        self.cmo = cmo
        self.count = 0
        self.prev = 0.0
        self.gain = 0.0
        self.loss = 0.0

    def _out(self) -> float:
        total = self.gain + self.loss
        if _is_zero(total):
            return 0.0
        if self.cmo:
            return 100.0 * ((self.gain - self.loss) / total)
        return 100.0 * (self.gain / total)

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        n = self.period
        count = self.count
        self.count = count + 1
        if count == 0:
            self.prev = x
            return NAN
        diff = x - self.prev
        self.prev = x
        if count <= n:
            if diff < 0:
                self.loss -= diff
            else:
                self.gain += diff
            if count < n:
                return NAN
            self.loss /= n
            self.gain /= n
            return self._out()
        self.loss *= n - 1
        self.gain *= n - 1
        if diff < 0:
            self.loss -= diff
        else:
            self.gain += diff
        self.loss /= n
        self.gain /= n
        return self._out()


class _Diff(Incremental):
    """MOM (x - x[n]) and ROC (((x / x[n]) - 1) * 100, 0 when x[n] is 0)."""

    __slots__ = ("roc", "window")
    _state = ("window",)

    def __init__(self, period: int, roc: bool) -> None:
        self.roc = roc
        self.window: deque = deque(maxlen=period + 1)

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        window = self.window
        window.append(x)
        if len(window) < window.maxlen:
            return NAN
        old = window[0]
        if not self.roc:
            return x - old
        if old != 0.0:
            return ((x / old) - 1.0) * 100.0
        return 0.0


class _MacdLine(Incremental):
    """TA-Lib MACD line: the fast EMA starts ``slow - fast`` values late, aligned to the slow."""

    __slots__ = ("delay", "count", "fast", "slow")

    def __init__(self, fast: int, slow: int) -> None:
        self.delay = slow - fast
        self.count = 0
        self.fast = Ema(fast)
        self.slow = Ema(slow)

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        slow = self.slow.step(x)
        if self.count < self.delay:
            self.count += 1
            return NAN
        fast = self.fast.step(x)
        if slow != slow:
            return NAN
        return fast - slow

    def get_state(self) -> list:
        return [self.count, self.fast.get_state(), self.slow.get_state()]

    def set_state(self, state: list) -> None:
        self.count = state[0]
        self.fast.set_state(state[1])
        self.slow.set_state(state[2])


class _Extremes(Incremental):
    """Window of (high, low, close) rows for the stochastic %K and Williams %R."""

    __slots__ = ("willr", "window")
    _state = ("window",)

    def __init__(self, period: int, willr: bool) -> None:
        self.willr = willr
        self.window: deque = deque(maxlen=period)

    def step(self, high: float, low: float, close: float) -> float:
        if high != high or low != low or close != close:
            return NAN
        window = self.window
        window.append((high, low))
        if len(window) < window.maxlen:
            return NAN
        highest = max(row[0] for row in window)
        lowest = min(row[1] for row in window)
        diff = highest - lowest
        # TA-Lib's scale-aware zero test: a range within epsilon of the prices is no range.
        if abs(diff) <= TA_EPSILON * (abs(highest) + abs(lowest)):
            return 0.0
        if self.willr:
            return -100.0 * ((highest - close) / diff)
        return 100.0 * ((close - lowest) / diff)

    def get_state(self) -> list:
        return [list(row) for row in self.window]

    def set_state(self, state: list) -> None:
        self.window = deque((tuple(row) for row in state), maxlen=self.window.maxlen)


class _Cci(Incremental):
    """TA-Lib CCI: typical prices in a circular buffer summed in slot order."""

    __slots__ = ("period", "slots", "index", "count")
    _state = ("slots", "index", "count")

    def __init__(self, period: int) -> None:
        self.period = period
        self.slots = [0.0] * period
        self.index = 0
        self.count = 0

    def step(self, high: float, low: float, close: float) -> float:
        if high != high or low != low or close != close:
            return NAN
        n = self.period
        last = (high + low + close) / 3
        self.slots[self.index] = last
        self.index = (self.index + 1) % n
        self.count += 1
        if self.count < n:
            return NAN
        average = 0.0
        for value in self.slots:
            average += value
        average /= n
        deviation = 0.0
        for value in self.slots:
            deviation += abs(value - average)
        diff = last - average
        # TA-Lib treats a difference within TA_EPSILON of the operands' scale as zero.
        if abs(diff) <= TA_EPSILON * (abs(last) + abs(average)) or deviation == 0.0:
            return 0.0
        return diff / (0.015 * (deviation / n))


class _Mfi(Incremental):
    """TA-Lib MFI: ring of positive/negative money flows with running sums."""

    __slots__ = ("period", "pos", "neg", "index", "count", "prev", "pos_sum", "neg_sum", "null")
    _state = ("pos", "neg", "index", "count", "prev", "pos_sum", "neg_sum", "null")

    def __init__(self, period: int) -> None:
        self.period = period
        self.pos = [0.0] * period
        self.neg = [0.0] * period
        self.index = 0
        self.count = 0
        self.prev = 0.0
        self.pos_sum = 0.0
        self.neg_sum = 0.0
        self.null = 0

    def step(self, high: float, low: float, close: float, volume: float) -> float:
        if high != high or low != low or close != close or volume != volume:
            return NAN
        n = self.period
        typical = (high + low + close) / 3.0
        if self.count == 0:
            self.count = 1
            self.prev = typical
            return NAN
        self.count += 1
        warm = self.count > n + 1
        idx = self.index
        if warm:
            self.pos_sum -= self.pos[idx]
            self.neg_sum -= self.neg[idx]
        diff = typical - self.prev
        scale = abs(typical) + abs(self.prev)
        self.prev = typical
        flow = typical * volume
        money = 0.0 if abs(diff) <= TA_EPSILON * scale else flow
        pos = 0.0 if diff < 0.0 else money
        neg = money if diff < 0.0 else 0.0
        self.pos[idx] = pos
        self.neg[idx] = neg
        self.pos_sum += pos
        self.neg_sum += neg
        self.null = self.null + 1 if money == 0.0 else 0
        if self.null >= n:
            self.null = n
            self.pos_sum = 0.0
            self.neg_sum = 0.0
        self.index = idx + 1 if idx + 1 < n else 0
        if self.count <= n:
            return NAN
        total = self.pos_sum + self.neg_sum
        clamped = 0.0 if self.pos_sum < 0.0 else min(self.pos_sum, total)
        if total <= 0.0:
            return 0.0
        return 100.0 * (clamped / total)


def _n(p: Params) -> int:
    return int(p["period"])


_P = (("period", int),)

register(
    NodeKind(
        "rsi", 1, _P, "series", "series", _n,
        loop_batch(lambda p, lb: _WilderOsc(_n(p), cmo=False)),
        lambda p, lb: _WilderOsc(_n(p), cmo=False),
        "relative strength index (Wilder, as TA-Lib RSI; 0 when gains and losses are both 0)",
        reference=lambda xs, p, lb: talib.RSI(xs[0], timeperiod=_n(p)),
    )
)  # fmt: skip
register(
    NodeKind(
        "cmo", 1, _P, "series", "series", _n,
        lambda xs, p, lb: talib.CMO(xs[0], timeperiod=_n(p)),
        lambda p, lb: _WilderOsc(_n(p), cmo=True),
        "Chande momentum oscillator (TA-Lib CMO)",
    )
)  # fmt: skip
register(
    NodeKind(
        "mom", 1, _P, "series", "series", _n,
        lambda xs, p, lb: talib.MOM(xs[0], timeperiod=_n(p)),
        lambda p, lb: _Diff(_n(p), roc=False),
        "momentum x - x[period] (TA-Lib MOM)",
    )
)  # fmt: skip
register(
    NodeKind(
        "roc", 1, _P, "series", "series", _n,
        lambda xs, p, lb: talib.ROC(xs[0], timeperiod=_n(p)),
        lambda p, lb: _Diff(_n(p), roc=True),
        "rate of change in percent (TA-Lib ROC)",
    )
)  # fmt: skip
register(
    NodeKind(
        "macd", 1, (("fast", int), ("slow", int)), "series", "series",
        lambda p: int(p["slow"]) - 1,
        lambda xs, p, lb: talib.MACD(
            xs[0], fastperiod=int(p["fast"]), slowperiod=int(p["slow"]), signalperiod=1
        )[0],
        lambda p, lb: _MacdLine(int(p["fast"]), int(p["slow"])),
        "MACD line: EMA(fast) - EMA(slow) with TA-Lib's aligned seeding (signal = ema of it)",
    )
)  # fmt: skip
_HLC = ("high", "low", "close")
register(
    NodeKind(
        "stoch_k", 3, _P, "series", "series", lambda p: _n(p) - 1,
        lambda xs, p, lb: talib.STOCHF(
            xs[0], xs[1], xs[2], fastk_period=_n(p), fastd_period=1, fastd_matype=0
        )[0],
        lambda p, lb: _Extremes(_n(p), willr=False),
        "fast stochastic %K of (high, low, close) (TA-Lib STOCHF fastk; smooth with sma)",
        _HLC,
    )
)  # fmt: skip
register(
    NodeKind(
        "willr", 3, _P, "series", "series", lambda p: _n(p) - 1,
        lambda xs, p, lb: talib.WILLR(xs[0], xs[1], xs[2], timeperiod=_n(p)),
        lambda p, lb: _Extremes(_n(p), willr=True),
        "Williams %R of (high, low, close) (TA-Lib WILLR)",
        _HLC,
    )
)  # fmt: skip
register(
    NodeKind(
        "cci", 3, _P, "series", "series", lambda p: _n(p) - 1,
        lambda xs, p, lb: talib.CCI(xs[0], xs[1], xs[2], timeperiod=_n(p)),
        lambda p, lb: _Cci(_n(p)),
        "commodity channel index of (high, low, close) (TA-Lib CCI)",
        _HLC,
    )
)  # fmt: skip
register(
    NodeKind(
        "mfi", 4, _P, "series", "series", _n,
        lambda xs, p, lb: talib.MFI(xs[0], xs[1], xs[2], xs[3], timeperiod=_n(p)),
        lambda p, lb: _Mfi(_n(p)),
        "money flow index of (high, low, close, volume) (TA-Lib MFI)",
        ("high", "low", "close", "volume"),
    )
)  # fmt: skip
