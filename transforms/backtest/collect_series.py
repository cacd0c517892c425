"""CollectCandleSeries: PCollection[(symbol, Candle)] -> PCollection[CandleSeries].

    series = candles | CollectCandleSeries(default_interval_ms=60_000)

Groups each symbol's candles and builds its ordered, de-duplicated series with
:func:`tradestream.backtest.series.build_series`.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from tradestream.backtest.series import build_series


class CollectCandleSeries(beam.PTransform):
    """PCollection[(symbol, Candle)] -> PCollection[CandleSeries], one per symbol.

    Args:
        default_interval_ms: the interval of a one-candle series read from a file.
    """

    def __init__(self, default_interval_ms: int) -> None:
        super().__init__()
        self._default = default_interval_ms

    def expand(self, candles: beam.PCollection) -> beam.PCollection:
        default = self._default
        return (
            candles
            | "GroupBySymbol" >> beam.GroupByKey().with_input_types(tuple[str, Any])
            | "BuildSeries" >> beam.MapTuple(lambda symbol, cs: build_series(symbol, cs, default))
        )
