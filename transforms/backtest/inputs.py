"""CandlesFromInputs: backtest/optimizer input files -> per-symbol candles, rejects kept.

Trades files go through the very transforms the realtime pipeline uses
(WindowTradesToCandles, FillCandleGaps without trailing fill); candle files are read as they
are. Late trades and unusable rows come out as RejectedRow records, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import apache_beam as beam

from tradestream.backtest.files import rejected_from_dead_letter
from tradestream.transforms.backtest.read_files import ReadCandlesFromFiles, ReadTradesFromFiles
from tradestream.transforms.gaps import FillCandleGaps
from tradestream.transforms.trades_to_candles import WindowTradesToCandles


class CandleInputs(NamedTuple):
    candles: beam.PCollection  # (symbol, Candle)
    rejected: beam.PCollection  # RejectedRow


class CandlesFromInputs(beam.PTransform):
    """PBegin -> CandleInputs(candles, rejected).

    Args:
        kind: "trades" or "candles" (see `tradestream.backtest.files` for detection).
        paths: the input files.
        symbol: the symbol of candle files without a symbol column (None: from the name).
        interval_ms: candle interval (trades files).
        allowed_lateness_ms: for WindowTradesToCandles (trades files).
        max_gap: for FillCandleGaps (trades files).
    """

    def __init__(
        self,
        kind: str,
        paths: Sequence[str],
        symbol: str | None,
        interval_ms: int,
        allowed_lateness_ms: int,
        max_gap: int,
    ) -> None:
        super().__init__()
        if kind not in ("trades", "candles"):
            raise ValueError(f"kind must be 'trades' or 'candles', got {kind!r}")
        self._kind = kind
        self._paths = list(paths)
        self._symbol = symbol
        self._interval = interval_ms
        self._lateness = allowed_lateness_ms
        self._max_gap = max_gap

    def expand(self, pbegin) -> CandleInputs:
        if self._kind == "candles":
            read = pbegin | "ReadCandles" >> ReadCandlesFromFiles(self._paths, self._symbol)
            return CandleInputs(read.records, read.rejected)
        read = pbegin | "ReadTrades" >> ReadTradesFromFiles(self._paths)
        built = read.records | "WindowTradesToCandles" >> WindowTradesToCandles(
            self._interval, self._lateness
        )
        candles = built.candles | "FillCandleGaps" >> FillCandleGaps(
            self._interval, self._max_gap, fill_trailing=False
        )
        late = built.dead_letters | "LateTrades" >> beam.Map(rejected_from_dead_letter)
        rejected = (read.rejected, late) | "Rejected" >> beam.Flatten()
        return CandleInputs(candles, rejected)
