"""ParseTrades: raw Kafka values -> validated protobuf Trades, the rest dead-lettered.

    parsed = records | ParseTrades(allowed_symbols={"BTC-USD"})
    parsed.trades          # PCollection[tuple[str, Trade]], keyed by symbol, event-time stamped
    parsed.dead_letters    # PCollection[DeadLetter] with the original bytes and the reason

Every element ends up in exactly one of the two outputs; each rejection reason is counted in
the Beam metric `ParseTrades/<reason>`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from typing import NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import TimestampedValue
from google.protobuf.message import DecodeError

from tradestream.market.dead_letters import DEAD_LETTER_TAG, dead_letter
from tradestream.market.trade_validation import check_trade
from tradestream.v1 import trade_pb2


class ParsedTrades(NamedTuple):
    trades: beam.PCollection
    dead_letters: beam.PCollection


class TradeParser:
    """One record's bytes -> a valid Trade, or a DeadLetter saying why not (and counted).

    Shared by ParseTradeFn (a record per element) and the realtime pipeline's batched step
    (`tradestream.transforms.symbol_signals.ParseAndFoldFn`), so both accept and refuse the same trades.
    """

    def __init__(
        self,
        allowed_symbols: Collection[str] | None,
        source_topic: str,
        max_clock_skew_ms: int | None = None,
    ) -> None:
        self._allowed = frozenset(allowed_symbols) if allowed_symbols else None
        self._source_topic = source_topic
        self._skew = max_clock_skew_ms
        self._parsed = Metrics.counter("ParseTrades", "parsed")

    def parse(self, payload) -> trade_pb2.Trade | trade_pb2.DeadLetter:
        if payload is None:
            payload = b""
        elif isinstance(payload, str):  # a string deserializer upstream: keep it readable
            payload = payload.encode("utf-8", "surrogateescape")
        try:
            trade = trade_pb2.Trade.FromString(payload)
        except (DecodeError, TypeError, ValueError) as exc:
            return self._reject(payload, "malformed", f"not a protobuf Trade: {exc}", "")
        latest = None if self._skew is None else int(time.time() * 1000) + self._skew
        problem = check_trade(trade, self._allowed, latest)
        if problem is not None:
            return self._reject(payload, problem.reason, problem.detail, trade.symbol)
        self._parsed.inc()
        return trade

    def _reject(self, payload: bytes, reason: str, detail: str, symbol: str):
        Metrics.counter("ParseTrades", reason).inc()
        return dead_letter(payload, reason, detail, self._source_topic, symbol)


class ParseTradeFn(beam.DoFn):
    """bytes | (key, bytes) -> (symbol, Trade) stamped with the trade's own time."""

    def __init__(
        self,
        allowed_symbols: Collection[str] | None,
        source_topic: str,
        max_clock_skew_ms: int | None = None,
    ) -> None:
        self._parser = TradeParser(allowed_symbols, source_topic, max_clock_skew_ms)

    def process(self, element) -> Iterator:
        parsed = self._parser.parse(element[1] if isinstance(element, tuple) else element)
        if isinstance(parsed, trade_pb2.Trade):
            yield TimestampedValue((parsed.symbol, parsed), parsed.time_ms / 1000.0)
        else:
            yield pvalue.TaggedOutput(DEAD_LETTER_TAG, parsed)


class ParseTrades(beam.PTransform):
    """PCollection[bytes | (key, bytes)] -> ParsedTrades(trades, dead_letters).

    Args:
        allowed_symbols: when given, trades of other symbols are dead-lettered
            (`unknown_symbol`); when None, any well-formed symbol starts its own candles.
        source_topic: recorded in each dead letter.
        max_clock_skew_ms: when given (live data), a trade stamped more than this ahead of
            the worker's clock is dead-lettered (`future_time`) instead of being let in:
            it would drag the watermark ahead and make every other trade late.
    """

    def __init__(
        self,
        allowed_symbols: Collection[str] | None = None,
        source_topic: str = "",
        max_clock_skew_ms: int | None = None,
    ) -> None:
        super().__init__()
        self._allowed = allowed_symbols
        self._source_topic = source_topic
        self._skew = max_clock_skew_ms

    def expand(self, records: beam.PCollection) -> ParsedTrades:
        outputs = records | "Parse" >> beam.ParDo(
            ParseTradeFn(self._allowed, self._source_topic, self._skew)
        ).with_outputs(DEAD_LETTER_TAG, main="trades")
        return ParsedTrades(outputs.trades, outputs[DEAD_LETTER_TAG])
