"""The training data: one symbol's candle series from trades or candles files, without Beam.

    loaded = load_series(["trades.csv"], candle_interval_ms=60_000, symbol=None)
    loaded.series          # tradestream.backtest.series.CandleSeries, oldest first
    loaded.symbols         # every symbol the inputs hold

The files are read as `tradestream backtest` reads them (:mod:`tradestream.backtest.files`:
globs, CSV/CSV.gz/Parquet, trades or candles detected from the header, unusable rows counted
by reason). Trades become candles with the candle arithmetic of the realtime pipeline
(:mod:`tradestream.market.candle_math`: epoch-aligned intervals, open/close by event time and
trade id) and the gaps between two real candles are filled as a batch backtest fills them
(FillCandleGaps with `fill_trailing=False`: at most `max_gap` flat candles, none after the
last trade). A whole file is at hand, so no trade is late. Candles files keep their own
interval (the most common gap).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from tradestream.backtest.files import RejectedRow, read_candles, resolve_inputs
from tradestream.backtest.series import CandleSeries, build_series
from tradestream.market import candle_math
from tradestream.market.trade_files import BadRow, TradeFileError, read_trades
from tradestream.v1 import candle_pb2


@dataclass(frozen=True)
class LoadedSeries:
    """The chosen symbol's candles and what reading the inputs found."""

    series: CandleSeries
    kind: str  # "trades" or "candles"
    paths: tuple[str, ...]
    symbols: tuple[str, ...]  # every symbol of the inputs, sorted
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> rows


def load_series(
    patterns: Sequence[str],
    candle_interval_ms: int = 60_000,
    symbol: str | None = None,
    input_format: str = "auto",
    max_gap: int = 60,
) -> LoadedSeries:
    """Reads the inputs and returns one symbol's candle series.

    Args:
        patterns: files or globs (trades or candles, not both).
        candle_interval_ms: the candle length for trades files.
        symbol: the symbol to train on; None: the first in sorted order.
        input_format: "auto", "trades" or "candles".
        max_gap: at most this many flat candles fill a silent stretch (trades).

    Raises:
        TradeFileError: unreadable or mixed inputs, no usable row, an unknown symbol.
    """
    paths, kind = resolve_inputs(patterns, input_format)
    rejected: Counter[str] = Counter()
    if kind == "candles":
        by_symbol: dict[str, list[candle_pb2.Candle]] = defaultdict(list)
        for path in paths:
            for record in read_candles(path):
                if isinstance(record, RejectedRow):
                    rejected[record.reason] += 1
                else:
                    by_symbol[record.symbol].append(record)
        chosen = _choose(sorted(by_symbol), symbol, paths)
        candles = by_symbol[chosen]
    else:
        buckets: dict[str, dict[int, list]] = defaultdict(dict)
        for path in paths:
            for trade in read_trades(path):
                if isinstance(trade, BadRow):
                    rejected[trade.reason] += 1
                    continue
                start = candle_math.bucket_start(trade.time_ms, candle_interval_ms)
                per_symbol = buckets[trade.symbol]
                acc = per_symbol.get(start)
                if acc is None:
                    per_symbol[start] = candle_math.new_accumulator(trade)
                else:
                    candle_math.add_trade(acc, trade)
        chosen = _choose(sorted(buckets), symbol, paths)
        candles = _filled(chosen, buckets[chosen], candle_interval_ms, max_gap)
        by_symbol = buckets
    series = build_series(chosen, candles, candle_interval_ms)
    return LoadedSeries(series, kind, tuple(paths), tuple(sorted(by_symbol)), dict(rejected))


def _choose(symbols: list[str], wanted: str | None, paths: Sequence[str]) -> str:
    if not symbols:
        raise TradeFileError(f"no usable row in {', '.join(paths)}")
    if wanted is None:
        return symbols[0]
    if wanted.strip().upper() not in symbols:
        raise TradeFileError(
            f"--symbol {wanted}: not in the inputs, which hold {', '.join(symbols)}"
        )
    return wanted.strip().upper()


def _filled(
    symbol: str, accumulators: dict[int, list], interval_ms: int, max_gap: int
) -> list[candle_pb2.Candle]:
    """Real candles in start order, with at most `max_gap` flat candles after each."""
    out: list[candle_pb2.Candle] = []
    previous = None
    for start in sorted(accumulators):
        if previous is not None:
            gap = (start - previous.start_ms) // interval_ms - 1
            for k in range(1, min(gap, max_gap) + 1):
                out.append(
                    candle_math.flat_candle(
                        symbol, previous.start_ms + k * interval_ms, interval_ms, previous.close
                    )
                )
        previous = candle_math.to_candle(symbol, start, interval_ms, accumulators[start])
        out.append(previous)
    return out
