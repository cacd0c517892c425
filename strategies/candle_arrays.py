"""Candle series as numpy arrays, the input of the vectorized evaluator.

``CandleArrays`` holds five aligned float64 arrays (open, high, low, close, volume), oldest
first. The incremental evaluator takes the same values one candle at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradestream.strategies.errors import StrategyError

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class CandleArrays:
    """Aligned OHLCV arrays of one symbol, oldest candle first."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

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

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def field(self, name: str) -> np.ndarray:
        """Returns the array of one field by name ("open", ..., "volume")."""
        return getattr(self, name)

    def row(self, index: int) -> tuple[float, float, float, float, float]:
        """Returns candle ``index`` as plain floats (open, high, low, close, volume)."""
        return tuple(float(getattr(self, name)[index]) for name in FIELDS)  # type: ignore[return-value]

    @classmethod
    def from_rows(cls, rows: list[tuple[float, float, float, float, float]]) -> CandleArrays:
        """Builds arrays from (open, high, low, close, volume) tuples."""
        columns = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        return cls(*(columns[:, i].copy() for i in range(5)))
