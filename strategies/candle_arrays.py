"""Candle series as numpy arrays, the input of the vectorized evaluator.

``CandleArrays`` holds five aligned float64 arrays (open, high, low, close, volume), oldest
first, and optionally the candles' start times and interval (needed by multi-timeframe
strategies, :mod:`tradestream.strategies.timeframes`). The incremental evaluator takes the same
values one candle at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tradestream.market.book_features import BookFeatures
from tradestream.strategies.errors import StrategyError

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
# The order book's features at each candle's close (level-2 data: `book_row`), inputs of
# graphs beside the candle fields. Always finite: a candle without a live book reads
# imbalance, spread, ofi and depths 0, microprice its close, book_live 0.
BOOK_FIELDS: tuple[str, ...] = (
    "book_imbalance",
    "book_spread",
    "book_microprice",
    "book_ofi",
    "book_bid_depth",
    "book_ask_depth",
    "book_live",
)


def book_row(features: BookFeatures | None, close: float) -> tuple[float, ...]:
    """One candle's values of BOOK_FIELDS from its BookFeatures (None: no book yet), the one
    mapping of both evaluators' callers (realtime and backtest)."""
    if features is None or not features.has_book:
        return (0.0, 0.0, float(close), 0.0, 0.0, 0.0, 0.0)

    def finite(value: float, neutral: float) -> float:
        return float(value) if math.isfinite(value) else neutral

    return (
        finite(features.imbalance, 0.0),
        finite(features.spread, 0.0),
        finite(features.microprice, float(close)),
        finite(features.ofi, 0.0),
        finite(features.bid_depth, 0.0),
        finite(features.ask_depth, 0.0),
        1.0,
    )


@dataclass(frozen=True)
class CandleArrays:
    """Aligned OHLCV arrays of one symbol, oldest candle first."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    start_ms: np.ndarray | None = None  # int64 candle starts (epoch ms), when known
    interval_ms: int | None = None  # the candle length, when known
    book: Mapping[str, np.ndarray] | None = None  # BOOK_FIELDS arrays, when known

    def __post_init__(self) -> None:
        lengths = set()
        for name in FIELDS:
            array = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if array.ndim != 1:
                raise StrategyError(f"candle field {name!r} must be one-dimensional")
            if np.isnan(array).any():
                raise StrategyError(f"candle field {name!r} contains NaN")
            object.__setattr__(self, name, array)
            lengths.add(array.shape[0])
        if len(lengths) != 1:
            raise StrategyError(f"candle fields have different lengths: {sorted(lengths)}")
        if self.start_ms is not None:
            starts = np.ascontiguousarray(self.start_ms, dtype=np.int64)
            if starts.shape != self.close.shape:
                raise StrategyError("candle start times and fields have different lengths")
            if starts.shape[0] > 1 and not (np.diff(starts) > 0).all():
                raise StrategyError("candle start times must increase")
            object.__setattr__(self, "start_ms", starts)
        if self.book is not None:
            if set(self.book) != set(BOOK_FIELDS):
                raise StrategyError(f"book arrays must be exactly {list(BOOK_FIELDS)}")
            book = {}
            for name in BOOK_FIELDS:
                array = np.ascontiguousarray(self.book[name], dtype=np.float64)
                if array.shape != self.close.shape or not np.isfinite(array).all():
                    raise StrategyError(f"book field {name!r}: one finite value per candle")
                book[name] = array
            object.__setattr__(self, "book", book)
        if self.interval_ms is not None:
            if int(self.interval_ms) <= 0:
                raise StrategyError(f"candle interval must be > 0 ms, got {self.interval_ms}")
            object.__setattr__(self, "interval_ms", int(self.interval_ms))

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def field(self, name: str) -> np.ndarray:
        """Returns the array of one field by name ("open", ..., "volume", "book_...").

        Raises:
            StrategyError: a book field of candles without book data.
        """
        if name in BOOK_FIELDS:
            if self.book is None:
                raise StrategyError(
                    f"{name} needs order-book data (level 2): none was given with these candles"
                )
            return self.book[name]
        return getattr(self, name)

    def book_values(self, index: int) -> tuple[float, ...] | None:
        """Candle ``index``'s BOOK_FIELDS values, or None without book data."""
        if self.book is None:
            return None
        return tuple(float(self.book[name][index]) for name in BOOK_FIELDS)

    def row(self, index: int) -> tuple[float, float, float, float, float]:
        """Returns candle ``index`` as plain floats (open, high, low, close, volume)."""
        return tuple(float(getattr(self, name)[index]) for name in FIELDS)  # type: ignore[return-value]

    def head(self, stop: int) -> CandleArrays:
        """The first ``stop`` candles (times and interval kept)."""
        return CandleArrays(
            *(getattr(self, name)[:stop] for name in FIELDS),
            start_ms=None if self.start_ms is None else self.start_ms[:stop],
            interval_ms=self.interval_ms,
            book=None if self.book is None else {k: v[:stop] for k, v in self.book.items()},
        )

    @classmethod
    def from_rows(
        cls,
        rows: list[tuple[float, float, float, float, float]],
        start_ms: np.ndarray | None = None,
        interval_ms: int | None = None,
    ) -> CandleArrays:
        """Builds arrays from (open, high, low, close, volume) tuples."""
        columns = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        return cls(
            *(columns[:, i].copy() for i in range(5)), start_ms=start_ms, interval_ms=interval_ms
        )
