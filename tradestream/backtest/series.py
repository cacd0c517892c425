"""CandleSeries: each symbol's candles as one ordered set of numpy arrays.

    series = build_series(symbol, candles, default_interval_ms=60_000)

(:class:`tradestream.transforms.backtest.collect_series.CollectCandleSeries` does it per symbol in Beam.)

Backtests need a symbol's whole history at once (the vectorized evaluator and the simulator
work on arrays), so candles are grouped per symbol, sorted by start and de-duplicated: for
an interval seen more than once the candle with the highest revision is kept (a correction
replaces the on-time candle); further copies (e.g. a row repeated in a candles file) are
dropped and counted in `CandleSeries.duplicates`. Two inputs (two candles files) that give
one symbol and time different values are a conflict: one is used (the same one every run),
and `CandleSeries.conflicts` / `conflict_examples` say so, for summary.json and stderr.
(Within one file the reader already resolves and reports it: the last row wins.)

The interval is the candles' own `interval_ms` (candles built from trades); candles read from
files have none, so it is inferred as the most common gap between consecutive candles
(weekends in daily stock data do not change it), or `default_interval_ms` for a series of one
candle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from tradestream.market.book_features import BookFeatures
from tradestream.strategies.candle_arrays import BOOK_FIELDS, CandleArrays, book_row
from tradestream.v1 import candle_pb2

CONFLICT_EXAMPLES = 10


@dataclass(frozen=True)
class CandleSeries:
    """One symbol's candles, oldest first, as aligned arrays."""

    symbol: str
    interval_ms: int
    start_ms: np.ndarray  # int64
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    filled: np.ndarray  # bool: a flat candle made by FillCandleGaps
    duplicates: int = 0
    # Candles of one time from different inputs (two files) that disagree: how many, and
    # the first CONFLICT_EXAMPLES as lines for people.
    conflicts: int = 0
    conflict_examples: tuple[str, ...] = ()
    # The order book's BOOK_FIELDS arrays at each candle's close (`with_book`), when given.
    book: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return int(self.start_ms.shape[0])

    def arrays(self) -> CandleArrays:
        """The OHLCV arrays the strategy evaluators take."""
        return CandleArrays(
            self.open, self.high, self.low, self.close, self.volume,
            start_ms=self.start_ms, interval_ms=self.interval_ms, book=self.book,
        )  # fmt: skip

    def with_book(self, rows: Sequence[tuple[int, BookFeatures]]) -> CandleSeries:
        """This series with the order book's fields at each candle's close, from a symbol's
        (start_ms, BookFeatures) rows (`book_features_by_candle`); candles without a row (before the
        first snapshot) read the neutral values of `book_row`."""
        by_start = dict(rows)
        values = [
            book_row(by_start.get(start), close)
            for start, close in zip(self.start_ms.tolist(), self.close.tolist(), strict=True)
        ]
        columns = np.asarray(values, dtype=np.float64).reshape(len(self), len(BOOK_FIELDS))
        book = {name: columns[:, i].copy() for i, name in enumerate(BOOK_FIELDS)}
        return dataclasses.replace(self, book=book)

    def candles(self) -> list[candle_pb2.Candle]:
        """The series as Candle messages (for tests and small outputs)."""
        return [
            candle_pb2.Candle(
                symbol=self.symbol,
                start_ms=int(self.start_ms[i]),
                interval_ms=self.interval_ms,
                open=float(self.open[i]),
                high=float(self.high[i]),
                low=float(self.low[i]),
                close=float(self.close[i]),
                volume=float(self.volume[i]),
                filled=bool(self.filled[i]),
            )
            for i in range(len(self))
        ]


def infer_interval_ms(start_ms: np.ndarray, default_ms: int) -> int:
    """The most common positive gap between consecutive starts (ties: the smallest)."""
    gaps = np.diff(np.asarray(start_ms, dtype=np.int64))
    gaps = gaps[gaps > 0]
    if gaps.size == 0:
        return default_ms
    values, counts = np.unique(gaps, return_counts=True)
    return int(values[np.argmax(counts)])


def build_series(
    symbol: str, candles: Iterable[candle_pb2.Candle], default_interval_ms: int
) -> CandleSeries:
    """Sorts and de-duplicates one symbol's candles (see the module docstring)."""
    ordered = sorted(candles, key=lambda c: (c.start_ms, -c.revision, c.SerializeToString()))
    kept: list[candle_pb2.Candle] = []
    conflicts: list[str] = []
    conflict_count = 0
    for candle in ordered:
        if kept and kept[-1].start_ms == candle.start_ms:
            first = kept[-1]
            if candle.revision == first.revision and _ohlcv(candle) != _ohlcv(first):
                conflict_count += 1
                if len(conflicts) < CONFLICT_EXAMPLES:
                    conflicts.append(_conflict_text(symbol, first, candle))
            continue
        kept.append(candle)
    start = np.fromiter((c.start_ms for c in kept), np.int64, len(kept))
    intervals = {c.interval_ms for c in kept if c.interval_ms > 0}
    if len(intervals) == 1:
        interval = intervals.pop()
    else:
        interval = infer_interval_ms(start, default_interval_ms)

    def column(name: str) -> np.ndarray:
        return np.fromiter((getattr(c, name) for c in kept), np.float64, len(kept))

    return CandleSeries(
        symbol=symbol,
        interval_ms=interval,
        start_ms=start,
        open=column("open"),
        high=column("high"),
        low=column("low"),
        close=column("close"),
        volume=column("volume"),
        filled=np.fromiter((c.filled for c in kept), bool, len(kept)),
        duplicates=len(ordered) - len(kept),
        conflicts=conflict_count,
        conflict_examples=tuple(conflicts),
    )


def _ohlcv(c: candle_pb2.Candle) -> tuple[float, ...]:
    return (c.open, c.high, c.low, c.close, c.volume)


def _conflict_text(symbol: str, kept: candle_pb2.Candle, dropped: candle_pb2.Candle) -> str:
    when = datetime.fromtimestamp(kept.start_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"{symbol} {when}: two inputs give this candle (close {kept.close!r} and "
        f"{dropped.close!r}, or other values); the one with close {kept.close!r} is used"
    )
