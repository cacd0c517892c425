"""Volume kinds: OBV, Chaikin A/D line and A/D oscillator (TA-Lib).

ADOSC's EMAs are TA-Lib's own: both seeded with the first A/D value (not an SMA) and updated as
``k * ad + (1 - k) * ema``.
"""

from __future__ import annotations

import talib

from tradestream.strategies.kinds.registry import (
    NAN,
    Incremental,
    NodeKind,
    Params,
    loop_batch,
    register,
)


class _Obv(Incremental):
    __slots__ = ("started", "prev_close", "obv")
    _state = ("started", "prev_close", "obv")

    def __init__(self) -> None:
        self.started = False
        self.prev_close = 0.0
        self.obv = 0.0

    def step(self, close: float, volume: float) -> float:
        if close != close or volume != volume:
            return NAN
        if not self.started:
            self.started = True
            self.prev_close = close
            self.obv = volume
            return self.obv
        if close > self.prev_close:
            self.obv += volume
        elif close < self.prev_close:
            self.obv -= volume
        self.prev_close = close
        return self.obv


def _ad_step(ad: float, high: float, low: float, close: float, volume: float) -> float:
    spread = high - low
    if spread > 0.0:
        ad += (((close - low) - (high - close)) / spread) * volume
    return ad


class _Ad(Incremental):
    __slots__ = ("ad",)
    _state = ("ad",)

    def __init__(self) -> None:
        self.ad = 0.0

    def step(self, high: float, low: float, close: float, volume: float) -> float:
        if high != high or low != low or close != close or volume != volume:
            return NAN
        self.ad = _ad_step(self.ad, high, low, close, volume)
        return self.ad


class _Adosc(Incremental):
    __slots__ = ("fast_k", "slow_k", "lookback", "count", "ad", "fast", "slow")
    _state = ("count", "ad", "fast", "slow")

    def __init__(self, fast: int, slow: int) -> None:
        self.fast_k = 2.0 / (fast + 1)
        self.slow_k = 2.0 / (slow + 1)
        self.lookback = max(fast, slow) - 1
        self.count = 0
        self.ad = 0.0
        self.fast = 0.0
        self.slow = 0.0

    def step(self, high: float, low: float, close: float, volume: float) -> float:
        if high != high or low != low or close != close or volume != volume:
            return NAN
        self.ad = ad = _ad_step(self.ad, high, low, close, volume)
        count = self.count
        self.count = count + 1
        if count == 0:
            self.fast = self.slow = ad
        else:
            self.fast = (self.fast_k * ad) + ((1.0 - self.fast_k) * self.fast)
            self.slow = (self.slow_k * ad) + ((1.0 - self.slow_k) * self.slow)
        if count < self.lookback:
            return NAN
        return self.fast - self.slow


_HLCV = ("high", "low", "close", "volume")
register(
    NodeKind(
        "obv", 2, (), "series", "series", lambda p: 0,
        lambda xs, p, lb: talib.OBV(xs[0], xs[1]),
        lambda p, lb: _Obv(),
        "on-balance volume of (close, volume) (TA-Lib OBV)",
        ("close", "volume"),
    )
)  # fmt: skip
register(
    NodeKind(
        "ad", 4, (), "series", "series", lambda p: 0,
        lambda xs, p, lb: talib.AD(xs[0], xs[1], xs[2], xs[3]),
        lambda p, lb: _Ad(),
        "Chaikin accumulation/distribution line (TA-Lib AD)",
        _HLCV,
    )
)  # fmt: skip


def _fs(p: Params) -> tuple[int, int]:
    return int(p["fast"]), int(p["slow"])


register(
    NodeKind(
        "adosc", 4, (("fast", int), ("slow", int)), "series", "series",
        lambda p: max(_fs(p)) - 1,
        loop_batch(lambda p, lb: _Adosc(*_fs(p))),
        lambda p, lb: _Adosc(*_fs(p)),
        "Chaikin A/D oscillator (as TA-Lib ADOSC)",
        _HLCV,
        reference=lambda xs, p, lb: talib.ADOSC(
            xs[0], xs[1], xs[2], xs[3], fastperiod=_fs(p)[0], slowperiod=_fs(p)[1]
        ),
    )
)  # fmt: skip
