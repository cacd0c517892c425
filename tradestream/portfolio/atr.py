"""ATR for ATR stops: Wilder's average true range over candles built from the trades topic.

One `AtrTracker` per symbol turns trades (in Kafka order) into candles of `interval_ms`:
a trade older than the open candle is ignored, an empty interval becomes a flat candle at
the last close (at most `MAX_GAP` in a row, like the realtime pipeline's gap filling). Each
closed candle updates the ATR exactly as TA-Lib's `ATR(high, low, close, period)`: true
range from the second candle on, the first ATR is the mean of `period` true ranges, then
`atr = (atr * (period - 1) + tr) / period`.

The executor asks for the ATR *as of a signal's candle end*, from a bounded history of
(candle end, ATR), so the answer does not depend on how far the trades topic has been read
beyond that time. `ready_for(t)` says whether the candle that answer needs is closed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

MAX_GAP = 60
MAX_HISTORY = 2_000


@dataclass
class AtrTracker:
    interval_ms: int
    period: int
    start_ms: int | None = None  # the open candle
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    prev_close: float | None = None
    seed: list[float] = field(default_factory=list)  # true ranges before the first ATR
    atr: float | None = None
    ends: list[int] = field(default_factory=list)  # candle ends with an ATR, ascending
    values: list[float] = field(default_factory=list)

    def add_trade(self, time_ms: int, price: float) -> None:
        start = time_ms - time_ms % self.interval_ms
        if self.start_ms is None:
            self._open(start, price)
            return
        if start < self.start_ms:
            return  # late for a closed candle: ignored (deterministic in Kafka order)
        if start == self.start_ms:
            self.high = max(self.high, price)
            self.low = min(self.low, price)
            self.close = price
            return
        self._close_candle()
        missing = (start - self.start_ms) // self.interval_ms - 1
        for i in range(min(missing, MAX_GAP)):
            flat_start = self.start_ms + (i + 1) * self.interval_ms
            self.start_ms = flat_start
            self.high = self.low = self.close = self.prev_close  # type: ignore[assignment]
            self._close_candle()
        self._open(start, price)

    def add_candle(self, start_ms: int, high: float, low: float, close: float) -> None:
        """A whole candle of `interval_ms` (a portfolio backtest, where candles are known).

        The candle is closed at once; the tracker then waits for the next one. Not to be
        mixed with `add_trade` on one tracker.
        """
        if self.start_ms is not None and start_ms < self.start_ms:
            return  # older than a candle already closed: ignored, as a late trade
        self.start_ms, self.high, self.low, self.close = start_ms, high, low, close
        self._close_candle()
        self.start_ms = start_ms + self.interval_ms

    def ready_for(self, time_ms: int) -> bool:
        """True once every candle ending at or before `time_ms` is closed."""
        boundary = time_ms - time_ms % self.interval_ms
        return self.start_ms is not None and self.start_ms >= boundary

    def atr_at(self, time_ms: int) -> float | None:
        """The ATR after the last candle that ended at or before `time_ms` (None: unknown)."""
        i = bisect.bisect_right(self.ends, time_ms)
        if i == 0:
            return None
        # A gap wider than MAX_GAP leaves a hole: an ATR from before it is stale.
        if time_ms - self.ends[i - 1] >= (MAX_GAP + 1) * self.interval_ms:
            return None
        return self.values[i - 1]

    def _open(self, start: int, price: float) -> None:
        self.start_ms = start
        self.high = self.low = self.close = price

    def _close_candle(self) -> None:
        if self.prev_close is not None:
            tr = max(
                self.high - self.low,
                abs(self.high - self.prev_close),
                abs(self.low - self.prev_close),
            )
            if self.atr is None:
                self.seed.append(tr)
                if len(self.seed) == self.period:
                    self.atr = sum(self.seed) / self.period
                    self.seed = []
            else:
                self.atr = (self.atr * (self.period - 1) + tr) / self.period
            if self.atr is not None:
                self.ends.append(self.start_ms + self.interval_ms)  # type: ignore[operator]
                self.values.append(self.atr)
                if len(self.ends) > MAX_HISTORY:
                    del self.ends[: len(self.ends) - MAX_HISTORY]
                    del self.values[: len(self.values) - MAX_HISTORY]
        self.prev_close = self.close

    def to_json(self) -> dict:
        return {
            "interval_ms": self.interval_ms,
            "period": self.period,
            "start_ms": self.start_ms,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "prev_close": self.prev_close,
            "seed": list(self.seed),
            "atr": self.atr,
            "ends": list(self.ends),
            "values": list(self.values),
        }

    @classmethod
    def from_json(cls, data: dict) -> AtrTracker:
        return cls(**data)
