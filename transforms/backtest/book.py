"""AttachBook: each symbol's candle series gets the order book's fields at its candles' closes.

    series = series | AttachBook(updates, depth=10)

`updates`: the BookUpdates of a recorded level-2 session (`--book FILE`, read by
`tradestream.exchanges.recordings.book_updates_from_recording` as `ingest` replays it). Per
symbol the features come from `tradestream.market.book_features.book_features_by_candle`,
closed at the series' end: the same `BookTracker` the realtime step keeps, so a strategy reading the book sees what it sees live.
Updates the books refuse (a crossing, a repeat, ...) are said on stderr with their reasons;
a symbol without book data reads the neutral book values (`book_row`).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence

import apache_beam as beam

from tradestream.backtest.series import CandleSeries
from tradestream.market.book_features import book_features_by_candle
from tradestream.v1 import book_pb2


def _attach(element, depth: int):
    symbol, grouped = element
    updates = [book_pb2.BookUpdate.FromString(b) for b in grouped["book"]]
    for series in grouped["series"]:
        end = int(series.start_ms[-1]) + series.interval_ms
        rows, refused = book_features_by_candle(
            updates, series.interval_ms, depth, symbols=[symbol], until_ms={symbol: end}
        )
        if refused:
            reasons = Counter(reason for _, reason in refused)
            said = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items()))
            print(f"[backtest] {symbol}: {len(refused)} book update(s) not applied ({said})",
                  file=sys.stderr)  # fmt: skip
        yield series.with_book(rows[symbol])


class AttachBook(beam.PTransform):
    """PCollection[CandleSeries] -> PCollection[CandleSeries] with `book` arrays.

    Args:
        updates: recorded BookUpdates, any symbols, in the order recorded.
        depth: levels per side in the depth and imbalance figures.
    """

    def __init__(self, updates: Sequence[book_pb2.BookUpdate], depth: int) -> None:
        super().__init__()
        self._updates = [(u.symbol, u.SerializeToString()) for u in updates]
        self._depth = depth

    def expand(self, series: beam.PCollection) -> beam.PCollection:
        keyed = series | "BySymbol" >> beam.Map(lambda s: (s.symbol, s))
        book = series.pipeline | "BookUpdates" >> beam.Create(self._updates)
        return (
            {"series": keyed, "book": book}
            | "Join" >> beam.CoGroupByKey()
            | "Attach" >> beam.FlatMap(_attach, self._depth).with_output_types(CandleSeries)
        )
