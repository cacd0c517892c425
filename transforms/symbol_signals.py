"""TradesToSignals: trades -> candles -> gap filling -> strategies in one stateful step.

    out = keyed_trades | TradesToSignals(strategies, interval_ms=60_000, lateness_ms=0,
                                         max_gap=60)
    out.signals        # PCollection[(symbol, Signal)]
    out.dead_letters   # PCollection[DeadLetter]: trades that came too late, or twice

The same result as WindowTradesToCandles | FillCandleGaps | EvaluateStrategies (their
logic classes `CandleBook`, `GapFiller` and `StrategyRunner` do the work), fused into one
keyed stateful DoFn. Why: on a streaming runner each stateful step waits for the watermark
to reach it, and on Flink each such hop measured 0.3-1 s of trade-to-signal latency; the
three steps also paid the SDK's fixed cost of writing state three times per key and bundle.
Here a candle's end wakes one timer, which builds the candle, fills any gap before it and
evaluates the strategies at once.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.runners.worker.statecache import CacheAware
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue

from tradestream.market.dead_letters import DEAD_LETTER_TAG
from tradestream.strategies.strategy import Strategy
from tradestream.transforms.evaluate import StrategyRunner
from tradestream.transforms.gaps import GapFiller
from tradestream.transforms.parse_trades import TradeParser
from tradestream.transforms.trades_to_candles import (
    CandleBook,
    PartialCandles,
    PartialCandlesFn,
    ms_timestamp,
    timestamp_ms,
)
from tradestream.transforms.worker_tuning import tune_worker
from tradestream.v1 import trade_pb2


class SymbolSignals(NamedTuple):
    signals: beam.PCollection
    dead_letters: beam.PCollection


class OpenCandles(CacheAware):
    """One symbol's open candles (CandleBook's state): rewritten whenever its trades arrive.

    Kept apart from `SymbolSeries` so that the many writes as trades arrive (one per symbol
    and bundle) do not copy the evaluator's state each time to the runner. The SDK's state
    cache weighs each value it stores by walking its whole object graph (every open
    candle's trade keys) on every write; as a `CacheAware` value it is weighed as a small
    fixed-size object instead.
    """

    __slots__ = ("book",)

    def __init__(self) -> None:
        self.book = CandleBook.new_state()

    def __getstate__(self):
        # The open candles' trade keys are written packed (8 bytes each): pickled as sets
        # of ints at every bundle they were a fifth of the worker's time.
        book = dict(self.book)
        book["buckets"] = {
            start: [acc, rev, array("q", keys).tobytes()]
            for start, (acc, rev, keys) in self.book["buckets"].items()
        }
        return book

    def __setstate__(self, book) -> None:
        self.book = book
        for bucket in book["buckets"].values():
            packed = array("q")
            packed.frombytes(bucket[2])
            bucket[2] = set(packed)

    def get_referents_for_cache(self) -> list:
        return []


class SymbolSeries(CacheAware):
    """One symbol's closed candles onwards: GapFiller's and StrategyRunner's states.

    Written only when the watermark closes candles. Weighed by its largest part, the
    evaluator's pickled state (see `OpenCandles`).
    """

    __slots__ = ("gaps", "strategies")

    def __init__(self) -> None:
        self.gaps = GapFiller.new_state()
        self.strategies = StrategyRunner.new_state()

    def __getstate__(self):
        return (self.gaps, self.strategies)

    def __setstate__(self, state) -> None:
        self.gaps, self.strategies = state

    def get_referents_for_cache(self) -> list:
        evaluator = self.strategies["evaluator"]
        return [evaluator] if evaluator is not None else []


class SymbolSignalsFn(beam.DoFn):
    """(symbol, partial candle) -> (symbol, Signal); late trades to the dead-letter output.

    Two state values per symbol: `OpenCandles`, which arriving trades change, and
    `SymbolSeries`, which only closing candles change. Timers are wake-ups only: whichever
    fires, every candle due at that watermark is built, gap-filled and evaluated in start
    order.
    """

    OPEN = ReadModifyWriteStateSpec("open_candles", PickleCoder())
    SERIES = ReadModifyWriteStateSpec("series", PickleCoder())
    WAKE = TimerSpec("wake", TimeDomain.WATERMARK)

    def __init__(
        self,
        strategies: Sequence[Strategy],
        interval_ms: int,
        allowed_lateness_ms: int,
        max_gap: int,
        source_topic: str = "",
    ) -> None:
        if not strategies:
            raise ValueError("TradesToSignals needs at least one strategy")
        self._strategies = list(strategies)
        self._book = CandleBook(interval_ms, allowed_lateness_ms)
        self._filler = GapFiller(interval_ms, max_gap, fill_trailing=True)
        self._source_topic = source_topic
        self._late = Metrics.counter("WindowTradesToCandles", "late_trades")
        self._duplicates = Metrics.counter("WindowTradesToCandles", "duplicate_trades")
        self._corrections = Metrics.counter("EvaluateStrategies", "corrections_ignored")
        self._flats = Metrics.counter("FillCandleGaps", "flat_candles")
        self._candles = Metrics.counter("EvaluateStrategies", "candles")
        self._signals = Metrics.counter("EvaluateStrategies", "signals")

    def setup(self) -> None:
        tune_worker()
        self._runner = StrategyRunner(self._strategies)

    def process(
        self,
        element,
        stored=beam.DoFn.StateParam(OPEN),
        wake=beam.DoFn.TimerParam(WAKE),
    ):
        symbol, partial = element
        state = stored.read() or OpenCandles()
        # Before the watermark passes a candle's end nothing is emitted; after it (a late
        # trade within the allowed lateness) only corrections are, which strategies ignore:
        # signals already sent cannot be taken back.
        corrections, timers, letters = self._book.receive(
            state.book, symbol, partial, self._source_topic
        )
        for letter in letters:
            (self._late if letter.reason == "late" else self._duplicates).inc()
            yield pvalue.TaggedOutput(DEAD_LETTER_TAG, letter)
        self._corrections.inc(len(corrections))
        for at, tag in timers:
            wake.set(ms_timestamp(at), dynamic_timer_tag=tag)
        stored.write(state)

    @on_timer(WAKE)
    def on_wake(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        stored_open=beam.DoFn.StateParam(OPEN),
        stored_series=beam.DoFn.StateParam(SERIES),
        wake=beam.DoFn.TimerParam(WAKE),
    ):
        now = timestamp_ms(fired)
        opened = stored_open.read() or OpenCandles()
        state = stored_series.read() or SymbolSeries()
        candles, timers = self._book.advance(opened.book, key, now)
        stored_open.write(opened)
        for candle in candles:
            passed, more = self._filler.add(state.gaps, candle)
            self._corrections.inc(len(passed))
            timers += more
        filled, more = self._filler.advance(state.gaps, key, now)
        timers += more
        for candle in filled:
            if candle.filled:
                self._flats.inc()
            timers += StrategyRunner.add(state.strategies, candle)
        signals, evaluated = self._runner.advance(state.strategies, key, now)
        self._candles.inc(evaluated)
        for signal in signals:
            self._signals.inc()
            yield TimestampedValue((key, signal), fired)
        # Wake-ups at or before `now` were served just now.
        for at, tag in timers:
            if at > now:
                wake.set(ms_timestamp(at), dynamic_timer_tag=tag)
        stored_series.write(state)


class ParseAndFoldFn(beam.DoFn):
    """Batches of record values -> partial candles; bad records to the dead-letter output.

    ParseTrades and PartialCandlesFn in one step over whole batches (from `ReadTrades`):
    the same checks (`TradeParser`) and the same partials (`PartialCandles`), with
    the SDK's per-element cost paid per batch instead of three times per trade. A partial
    carries its trades' original bytes.
    """

    def __init__(self, parser: TradeParser, interval_ms: int) -> None:
        self._parser = parser
        self._interval = interval_ms

    def start_bundle(self) -> None:
        self._partials = PartialCandles(self._interval)

    def process(self, batch, window=beam.DoFn.WindowParam):
        parse, fold = self._parser.parse, self._partials.add
        for payload in batch:
            parsed = parse(payload)
            if isinstance(parsed, trade_pb2.Trade):
                fold(parsed.symbol, parsed, payload, parsed.time_ms, window)
            else:
                yield pvalue.TaggedOutput(DEAD_LETTER_TAG, parsed)

    def finish_bundle(self):
        yield from self._partials.take(ms_timestamp)


class TradesToSignals(beam.PTransform):
    """PCollection[(symbol, Trade)] -> SymbolSignals(signals, dead_letters), streaming.

    Args:
        strategies: built strategies (from `tradestream.strategies.library` or a strategy file).
        interval_ms: candle length.
        allowed_lateness_ms: how long after a candle's end late trades still correct it
            (corrections are counted, not re-evaluated).
        max_gap: at most this many flat candles after a real one.
        source_topic: recorded in dead letters.
    """

    def __init__(
        self,
        strategies: Sequence[Strategy],
        interval_ms: int,
        allowed_lateness_ms: int = 0,
        max_gap: int = 60,
        source_topic: str = "",
    ) -> None:
        super().__init__()
        if interval_ms <= 0:
            raise ValueError("candle interval must be > 0 ms")
        if allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must be >= 0 ms")
        if max_gap < 0:
            raise ValueError("max_gap must be >= 0")
        self._interval = interval_ms
        self._fn = SymbolSignalsFn(
            strategies, interval_ms, allowed_lateness_ms, max_gap, source_topic
        )

    def expand(self, trades: beam.PCollection) -> SymbolSignals:
        # Keyed by symbol (a str): Beam then picks a deterministic key coder for the step.
        partials = trades | "PartialCandles" >> beam.ParDo(
            PartialCandlesFn(self._interval)
        ).with_output_types(tuple[str, Any])
        return self._signals(partials)

    def _signals(self, partials: beam.PCollection) -> SymbolSignals:
        outputs = partials | "CandlesToSignals" >> beam.ParDo(self._fn).with_input_types(
            tuple[str, Any]
        ).with_outputs(DEAD_LETTER_TAG, main="signals")
        return SymbolSignals(outputs.signals, outputs[DEAD_LETTER_TAG])


class RecordsToSignals(TradesToSignals):
    """PCollection[list[bytes]] (batches from `ReadTrades`) -> SymbolSignals, streaming.

    ParseTrades | TradesToSignals for batches of raw trade records, with the parse and the
    partial candles in one step (`ParseAndFoldFn`). Dead letters: the records ParseTrades
    refuses, then late and duplicate trades.

    Args: those of TradesToSignals (`source_topic` is the trades topic), and
        allowed_symbols: when given, trades of other symbols are dead-lettered.
        max_clock_skew_ms: trades stamped further ahead of the worker's clock are
            dead-lettered (`future_time`); None: no bound.
    """

    def __init__(
        self,
        strategies: Sequence[Strategy],
        interval_ms: int,
        allowed_lateness_ms: int = 0,
        max_gap: int = 60,
        source_topic: str = "",
        allowed_symbols: Collection[str] | None = None,
        max_clock_skew_ms: int | None = None,
    ) -> None:
        super().__init__(strategies, interval_ms, allowed_lateness_ms, max_gap, source_topic)
        self._parser = TradeParser(allowed_symbols, source_topic, max_clock_skew_ms)

    def expand(self, batches: beam.PCollection) -> SymbolSignals:
        parsed = batches | "ParseAndFold" >> beam.ParDo(
            ParseAndFoldFn(self._parser, self._interval)
        ).with_output_types(tuple[str, Any]).with_outputs(DEAD_LETTER_TAG, main="partials")
        out = self._signals(parsed.partials)
        letters = (parsed[DEAD_LETTER_TAG], out.dead_letters) | "DeadLetters" >> beam.Flatten()
        return SymbolSignals(out.signals, letters)
