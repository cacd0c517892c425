"""TradesToSignals: trades -> candles -> gap filling -> strategies in one stateful step.

    out = keyed_trades | TradesToSignals(strategies, interval_ms=60_000, lateness_ms=0,
                                         max_gap=60)
    out.signals        # PCollection[(symbol, Signal)]
    out.dead_letters   # PCollection[DeadLetter]: trades that came too late, or twice

With strategies that read the order book (`book_imbalance`, ...), `RecordsToSignals` also
takes the book topic's record batches: `(trade_batches, book_batches) | RecordsToSignals(...,
book_depth=10)`. The same keyed step keeps each symbol's book (`BookTracker`, its own state
value, written as updates arrive) and, when it evaluates a candle, closes the book at the
candle's end: the strategies see the book features of exactly the updates stamped before it,
as the backtest's `--book` does (`tradestream.backtest.book_input`).

The same result as WindowTradesToCandles | FillCandleGaps | EvaluateStrategies (their
logic classes `CandleBook`, `GapFiller` and `StrategyRunner` do the work), fused into one
keyed stateful DoFn. Why: on a streaming runner each stateful step waits for the watermark
to reach it, and on Flink each such hop measured 0.3-1 s of trade-to-signal latency; the
three steps also paid the SDK's fixed cost of writing state three times per key and bundle.
Here a candle's end wakes one timer, which builds the candle, fills any gap before it and
evaluates the strategies at once.

The step is keyed by a shard of symbols (`state_shard`, 16 shards), not by the symbol: a
bundle then writes state once per shard it touches instead of once per symbol, which at
hundreds of symbols was about one state write (and runner round trip) per trade. Each
symbol keeps its own candles, gaps, strategies and wake-up times inside its shard's state.

From Kafka (`RecordsToSignals`, without the book), the source's watermark also comes in band
(`SourceWatermark`, see transforms/kafka_source.py): ParseAndFoldFn sends it to every shard
after the partial candles it follows, and the shard serves the wake-ups due by it at once, as
its timers would be fired (they fire later and find nothing due). On Flink that saves the
watermark's wait for the end of each stage's open bundle (p50 ~470 -> ~150 ms at 10 symbols).
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
from apache_beam.utils.windowed_value import WindowedValue

from tradestream.market.book_features import BookTracker, check_update
from tradestream.market.dead_letters import DEAD_LETTER_TAG, UNKNOWN_SYMBOL, dead_letter
from tradestream.strategies.candle_arrays import book_row
from tradestream.strategies.strategy import Strategy
from tradestream.transforms.evaluate import StrategyRunner, symbol_bucket
from tradestream.transforms.gaps import GapFiller
from tradestream.transforms.kafka_source import SourceWatermark
from tradestream.transforms.parse_trades import TradeParser
from tradestream.transforms.trades_to_candles import (
    CandleBook,
    PartialCandles,
    PartialCandlesFn,
    ms_timestamp,
    timestamp_ms,
)
from tradestream.transforms.worker_tuning import tune_worker
from tradestream.v1 import book_pb2, trade_pb2


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

    __slots__ = ("book", "_packed")

    def __init__(self) -> None:
        self.book = CandleBook.new_state()
        self._packed: dict = {}

    def __getstate__(self):
        # The open candles' trade keys are written packed (8 bytes each): pickled as sets
        # of ints at every bundle they were a fifth of the worker's time. A shard's state
        # is written whole whenever one of its symbols has trades, so each bucket's packed
        # keys are kept and packed again only when its set has grown (CandleBook only adds
        # keys to a bucket's set; a new bucket has a new set): packing every symbol's keys
        # again was a quarter of a keyed worker's time at 500 symbols.
        packed, buckets = {}, {}
        for start, (acc, rev, keys) in self.book["buckets"].items():
            kept = self._packed.get(start)
            if kept is None or kept[0] is not keys or kept[1] != len(keys):
                kept = (keys, len(keys), array("q", keys).tobytes())
            packed[start] = kept
            buckets[start] = [acc, rev, kept[2]]
        self._packed = packed
        return {**self.book, "buckets": buckets}

    def __setstate__(self, book) -> None:
        self.book = book
        self._packed = {}
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


# The keyed step's key: a shard of symbols, not the symbol. At hundreds of symbols a 50 ms
# bundle touched most of them, and the SDK paid a state write and a runner round trip per
# symbol and bundle (about one per trade at 500 symbols); with shards it pays one per shard.
# Fixed, not a flag: the stored state of a restarted job is found under these keys, so
# changing them would leave every symbol's state behind under its old shard.
STATE_SHARDS = 16
# The key of each shard. Flink gives a key to a worker by its key group (a murmur hash of
# the encoded key, modulo 128), and 16 consecutive ints fell 10/6 on two workers: at a
# candle boundary one worker then evaluated 62% of the symbols. These keys have one key
# group in each sixteenth of the 128, so 1, 2, 4, 8 or 16 workers get equal shares.
SHARD_KEYS = (8, 225, 212, 2, 79, 58, 218, 2674, 994, 1008, 39, 221, 4, 1900, 2151, 484)


def state_shard(symbol: str) -> int:
    """The key of the shard that keeps `symbol`'s state: the same in every process and
    across restarts."""
    return SHARD_KEYS[symbol_bucket(symbol, STATE_SHARDS, b"state-shard")]


class ShardOpen(CacheAware):
    """A shard's open candles (an `OpenCandles` per symbol) and its symbols' wake-ups.

    `wakes` holds, per symbol, the watermark times at which that symbol must be woken (what
    were its own timers); `scheduled`, the times for which the shard has a timer set. A
    symbol is advanced only at its own wake-ups, never because another symbol of its shard
    woke the shard, so each symbol's candles, late trades and signals are what they would
    be on its own key.
    """

    __slots__ = ("candles", "wakes", "scheduled")

    def __init__(self) -> None:
        self.candles: dict[str, OpenCandles] = {}
        self.wakes: dict[str, set[int]] = {}
        self.scheduled: set[int] = set()

    def __getstate__(self):
        return (self.candles, self.wakes, self.scheduled)

    def __setstate__(self, state) -> None:
        self.candles, self.wakes, self.scheduled = state

    def of(self, symbol: str) -> OpenCandles:
        opened = self.candles.get(symbol)
        if opened is None:
            opened = self.candles[symbol] = OpenCandles()
        return opened

    def wake_at(self, symbol: str, at: int, timer) -> None:
        """Wakes `symbol` when the watermark reaches `at` (one shard timer per time)."""
        self.wakes.setdefault(symbol, set()).add(at)
        if at not in self.scheduled:
            self.scheduled.add(at)
            timer.set(ms_timestamp(at), dynamic_timer_tag=str(at))

    def wakes_until(self, watermark: int):
        """The wake-up times up to `watermark`, earliest first, including those that
        waking adds (an iterator, read as the wake-ups are served); None when none is due."""
        if self._next_wake() > watermark:
            return None

        def times():
            while (at := self._next_wake()) <= watermark:
                yield at

        return times()

    def _next_wake(self) -> float:
        return min((min(times) for times in self.wakes.values()), default=float("inf"))

    def due(self, now: int) -> list[str]:
        """The symbols with a wake-up at or before `now` (those wake-ups taken), in order."""
        self.scheduled = {at for at in self.scheduled if at > now}
        out = []
        for symbol, times in self.wakes.items():
            if min(times) <= now:
                times.difference_update([at for at in times if at <= now])
                out.append(symbol)
        for symbol in out:
            if not self.wakes[symbol]:
                del self.wakes[symbol]
        return sorted(out)

    def get_referents_for_cache(self) -> list:
        return []


class ShardSeries(CacheAware):
    """A shard's closed candles onwards: a `SymbolSeries` per symbol."""

    __slots__ = ("symbols",)

    def __init__(self) -> None:
        self.symbols: dict[str, SymbolSeries] = {}

    def __getstate__(self):
        return self.symbols

    def __setstate__(self, symbols) -> None:
        self.symbols = symbols

    def of(self, symbol: str) -> SymbolSeries:
        series = self.symbols.get(symbol)
        if series is None:
            series = self.symbols[symbol] = SymbolSeries()
        return series

    def get_referents_for_cache(self) -> list:
        return [r for series in self.symbols.values() for r in series.get_referents_for_cache()]


class ShardWatermark(NamedTuple):
    """The trades source's in-band watermark (`SourceWatermark`) for one state shard: the
    keyed step's input from ParseAndFoldFn, after the partials it follows."""

    shard: int
    ms: int


def _by_state_shard(kv):
    """(symbol, partial) -> (its state shard, (symbol, partial)); a ShardWatermark goes to
    its own shard."""
    partial = kv[1]
    if isinstance(partial, ShardWatermark):
        return partial.shard, kv
    return state_shard(kv[0]), kv


class BookBatch(list):
    """One symbol's BookUpdate records (bytes) from one poll: the book input of the keyed
    step, told apart from partial candles by its type."""


class SymbolSignalsFn(beam.DoFn):
    """(shard, (symbol, partial candle)) -> (symbol, Signal); late trades to the dead letters.

    Keyed by `state_shard(symbol)`. Three state values per shard: `ShardOpen`, which
    arriving trades change; `ShardSeries`, which only closing candles change; with the book,
    each symbol's `BookTracker`. A shard timer per wake-up time wakes the symbols due then;
    for each, every candle due at that watermark is built, gap-filled and evaluated in start
    order.
    """

    OPEN = ReadModifyWriteStateSpec("open_candles", PickleCoder())
    SERIES = ReadModifyWriteStateSpec("series", PickleCoder())
    BOOK = ReadModifyWriteStateSpec("book", PickleCoder())  # with book_depth: {symbol: tracker}
    WAKE = TimerSpec("wake", TimeDomain.WATERMARK)

    def __init__(
        self,
        strategies: Sequence[Strategy],
        interval_ms: int,
        allowed_lateness_ms: int,
        max_gap: int,
        source_topic: str = "",
        book_depth: int | None = None,
        book_topic: str = "",
    ) -> None:
        if not strategies:
            raise ValueError("TradesToSignals needs at least one strategy")
        self._strategies = list(strategies)
        self._interval = interval_ms
        self._book_depth = book_depth
        self._book_topic = book_topic
        self._book_refused = Metrics.counter("BookFeatures", "refused_updates")
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
        stored_series=beam.DoFn.StateParam(SERIES),
        stored_book=beam.DoFn.StateParam(BOOK),
        wake=beam.DoFn.TimerParam(WAKE),
    ):
        _, (symbol, partial) = element
        shard = stored.read() or ShardOpen()
        if isinstance(partial, ShardWatermark):
            # The source's watermark in band, behind every partial it follows: the wake-ups
            # up to it are served now, one time after another as the runner would fire
            # their timers (those timers then find nothing due).
            times = shard.wakes_until(partial.ms)
            if times is not None:
                yield from self._wake_due(times, shard, stored_series, stored_book, wake)
                stored.write(shard)
            return
        if isinstance(partial, BookBatch):
            trackers = stored_book.read() or {}
            yield from self._receive_book(symbol, partial, trackers, shard, wake)
            stored_book.write(trackers)
            stored.write(shard)
            return
        # Before the watermark passes a candle's end nothing is emitted; after it (a late
        # trade within the allowed lateness) only corrections are, which strategies ignore:
        # signals already sent cannot be taken back.
        corrections, timers, letters = self._book.receive(
            shard.of(symbol).book, symbol, partial, self._source_topic
        )
        for letter in letters:
            (self._late if letter.reason == "late" else self._duplicates).inc()
            yield pvalue.TaggedOutput(DEAD_LETTER_TAG, letter)
        self._corrections.inc(len(corrections))
        for at, _ in timers:
            shard.wake_at(symbol, at, wake)
        stored.write(shard)

    @on_timer(WAKE)
    def on_wake(
        self,
        fired=beam.DoFn.TimestampParam,
        stored_open=beam.DoFn.StateParam(OPEN),
        stored_series=beam.DoFn.StateParam(SERIES),
        stored_book=beam.DoFn.StateParam(BOOK),
        wake=beam.DoFn.TimerParam(WAKE),
    ):
        shard = stored_open.read() or ShardOpen()
        yield from self._wake_due([timestamp_ms(fired)], shard, stored_series, stored_book, wake)
        stored_open.write(shard)

    def _wake_due(self, times, shard, stored_series, stored_book, wake):
        """At each watermark time of `times` in turn, wakes the shard's symbols due then
        (`_wake_symbol` each); the caller writes `shard`."""
        series = trackers = None
        for now in times:
            due = shard.due(now)
            if not due:
                continue
            if series is None:
                series = stored_series.read() or ShardSeries()
                if self._book_depth is not None:
                    trackers = stored_book.read() or {}
            for symbol in due:
                yield from self._wake_symbol(symbol, now, shard, series, trackers, wake)
        if series is not None:
            stored_series.write(series)
            if trackers is not None:
                stored_book.write(trackers)

    def _wake_symbol(self, symbol, now, shard, series, trackers, wake):
        """One symbol's wake-up at watermark `now`: its due candles built, gap-filled and
        evaluated -> signals (and refused book updates), its next wake-ups set."""
        state = series.of(symbol)
        candles, timers = self._book.advance(shard.of(symbol).book, symbol, now)
        for candle in candles:
            passed, more = self._filler.add(state.gaps, candle)
            self._corrections.inc(len(passed))
            timers += more
        filled, more = self._filler.advance(state.gaps, symbol, now)
        timers += more
        for candle in filled:
            if candle.filled:
                self._flats.inc()
            timers += StrategyRunner.add(state.strategies, candle)
        book, refused = None, []
        if trackers is not None:
            tracker = trackers.get(symbol) or self._tracker(symbol)
            book = self._book_at_close(tracker, refused)
        signals, evaluated = self._runner.advance(state.strategies, symbol, now, book)
        if trackers is not None:
            # Every candle evaluated at this watermark has been; close the book up to it
            # too, so that a symbol's buffered updates stay bounded when it has no trades.
            refused += tracker.advance(now + 1)[1]
            trackers[symbol] = tracker
            for update, reason in refused:
                self._book_refused.inc()
                yield pvalue.TaggedOutput(DEAD_LETTER_TAG, self._book_letter(update, reason))
        self._candles.inc(evaluated)
        for signal in signals:
            self._signals.inc()
            yield TimestampedValue((symbol, signal), ms_timestamp(now))
        # Wake-ups at or before `now` were served just now.
        for at, _ in timers:
            if at > now:
                shard.wake_at(symbol, at, wake)

    def _tracker(self, symbol: str) -> BookTracker:
        return BookTracker(symbol, self._interval, self._book_depth)

    def _receive_book(self, symbol: str, batch: BookBatch, trackers: dict, shard, wake):
        """Buffers a symbol's BookUpdates in its tracker, each candle they fall in woken at
        its end; refused ones to the dead letters."""
        tracker = trackers.get(symbol) or self._tracker(symbol)
        ends = set()
        for payload in batch:
            update = book_pb2.BookUpdate.FromString(payload)  # parsed once already upstream
            reason = tracker.receive(update)
            if reason is not None:
                self._book_refused.inc()
                yield pvalue.TaggedOutput(DEAD_LETTER_TAG, self._book_letter(update, reason))
            else:
                ends.add(update.time_ms - update.time_ms % self._interval + self._interval)
        for end in ends:
            shard.wake_at(symbol, end - 1, wake)
        trackers[symbol] = tracker

    @staticmethod
    def _book_at_close(tracker: BookTracker, refused: list):
        """`book(candle)` for the runner: closes the tracker at the candle's end and gives
        that candle's BOOK_FIELDS values (neutral before the symbol's first snapshot)."""

        def book(candle) -> tuple[float, ...]:
            rows, bad = tracker.advance(candle.start_ms + candle.interval_ms)
            refused.extend(bad)
            features = next((f for start, f in rows if start == candle.start_ms), None)
            return book_row(features, candle.close)

        return book

    def _book_letter(self, update, reason: str):
        return dead_letter(
            update.SerializeToString(), reason, f"book update of {update.symbol}",
            self._book_topic, update.symbol,
        )  # fmt: skip


class ParseBookFn(beam.DoFn):
    """Batches of book topic records -> (symbol, BookBatch); unreadable records, updates
    whose content is unusable and symbols outside the allow-list to the dead letters."""

    def __init__(self, allowed_symbols: Collection[str] | None, source_topic: str) -> None:
        self._allowed = None if allowed_symbols is None else frozenset(allowed_symbols)
        self._topic = source_topic

    def process(self, batch):
        by_symbol: dict[str, BookBatch] = {}
        for payload in batch:
            try:
                update = book_pb2.BookUpdate.FromString(payload)
            except Exception as exc:  # noqa: BLE001 - any decode failure is bad input
                yield pvalue.TaggedOutput(
                    DEAD_LETTER_TAG,
                    dead_letter(payload, "malformed", f"not a protobuf BookUpdate: {exc}",
                                self._topic),
                )  # fmt: skip
                continue
            reason = check_update(update)
            if reason is None and self._allowed is not None and update.symbol not in self._allowed:
                reason = UNKNOWN_SYMBOL
            if reason is None and not update.symbol:
                reason = UNKNOWN_SYMBOL
            if reason is not None:
                yield pvalue.TaggedOutput(
                    DEAD_LETTER_TAG,
                    dead_letter(payload, reason, f"book update of {update.symbol!r}",
                                self._topic, update.symbol),
                )  # fmt: skip
                continue
            by_symbol.setdefault(update.symbol, BookBatch()).append(payload)
        yield from by_symbol.items()


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
        self._watermark = None  # the bundle's latest SourceWatermark, as a WindowedValue

    def process(self, batch, window=beam.DoFn.WindowParam, ts=beam.DoFn.TimestampParam):
        if isinstance(batch, SourceWatermark):
            if self._watermark is None or batch.ms > self._watermark.value.ms:
                self._watermark = WindowedValue(batch, ts, [window])
            return
        parse, fold = self._parser.parse, self._partials.add
        for payload in batch:
            parsed = parse(payload)
            if isinstance(parsed, trade_pb2.Trade):
                fold(parsed.symbol, parsed, payload, parsed.time_ms, window)
            else:
                yield pvalue.TaggedOutput(DEAD_LETTER_TAG, parsed)

    def finish_bundle(self):
        yield from self._partials.take(ms_timestamp)
        # After the partials it follows, to every shard (a shard's symbols may have had no
        # trades since: they still close at it).
        mark = self._watermark
        if mark is not None:
            for shard in SHARD_KEYS:
                yield mark.with_value(("", ShardWatermark(shard, mark.value.ms)))


class TradesToSignals(beam.PTransform):
    """PCollection[(symbol, Trade)] -> SymbolSignals(signals, dead_letters), streaming.

    Args:
        strategies: built strategies (from `tradestream.strategies.library` or a strategy file).
        interval_ms: candle length.
        allowed_lateness_ms: how long after a candle's end late trades still correct it
            (corrections are counted, not re-evaluated).
        max_gap: at most this many flat candles after a real one.
        source_topic: recorded in dead letters.
        book_depth: with strategies that read the order book: the levels per side of its
            depth figures (then the input carries book batches too; see RecordsToSignals).
        book_topic: recorded in the book's dead letters.
    """

    def __init__(
        self,
        strategies: Sequence[Strategy],
        interval_ms: int,
        allowed_lateness_ms: int = 0,
        max_gap: int = 60,
        source_topic: str = "",
        book_depth: int | None = None,
        book_topic: str = "",
    ) -> None:
        super().__init__()
        if interval_ms <= 0:
            raise ValueError("candle interval must be > 0 ms")
        if allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must be >= 0 ms")
        if max_gap < 0:
            raise ValueError("max_gap must be >= 0")
        self._interval = interval_ms
        if any(s.reads_book for s in strategies) and book_depth is None:
            raise ValueError("strategies that read the order book need book_depth and the book")
        self._fn = SymbolSignalsFn(
            strategies, interval_ms, allowed_lateness_ms, max_gap, source_topic,
            book_depth, book_topic,
        )  # fmt: skip

    def expand(self, trades: beam.PCollection) -> SymbolSignals:
        # Keyed by symbol (a str): Beam then picks a deterministic key coder for the step.
        partials = trades | "PartialCandles" >> beam.ParDo(
            PartialCandlesFn(self._interval)
        ).with_output_types(tuple[str, Any])
        return self._signals(partials)

    def _signals(self, partials: beam.PCollection) -> SymbolSignals:
        # Keyed by the symbol's state shard (an int: Beam picks a deterministic key coder).
        sharded = partials | "ByStateShard" >> beam.Map(_by_state_shard).with_output_types(
            tuple[int, Any]
        )
        outputs = sharded | "CandlesToSignals" >> beam.ParDo(self._fn).with_input_types(
            tuple[int, Any]
        ).with_outputs(DEAD_LETTER_TAG, main="signals")
        return SymbolSignals(outputs.signals, outputs[DEAD_LETTER_TAG])


class RecordsToSignals(TradesToSignals):
    """PCollection[list[bytes]] (batches from `ReadTrades`) -> SymbolSignals, streaming.

    ParseTrades | TradesToSignals for batches of raw trade records, with the parse and the
    partial candles in one step (`ParseAndFoldFn`). Dead letters: the records ParseTrades
    refuses, then late and duplicate trades.

    With `book_depth`, the input is a pair `(trade batches, book batches)`: the book topic's
    records are parsed (`ParseBookFn`) and flattened into the same keyed step.

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
        book_depth: int | None = None,
        book_topic: str = "",
    ) -> None:
        super().__init__(
            strategies, interval_ms, allowed_lateness_ms, max_gap, source_topic, book_depth,
            book_topic,
        )  # fmt: skip
        self._parser = TradeParser(allowed_symbols, source_topic, max_clock_skew_ms)
        self._book = None if book_depth is None else ParseBookFn(allowed_symbols, book_topic)

    def expand(self, inputs) -> SymbolSignals:
        batches, book_batches = inputs if self._book is not None else (inputs, None)
        parsed = batches | "ParseAndFold" >> beam.ParDo(
            ParseAndFoldFn(self._parser, self._interval)
        ).with_output_types(tuple[str, Any]).with_outputs(DEAD_LETTER_TAG, main="partials")
        keyed = parsed.partials
        letters = [parsed[DEAD_LETTER_TAG]]
        if book_batches is not None:
            book = book_batches | "ParseBook" >> beam.ParDo(self._book).with_output_types(
                tuple[str, Any]
            ).with_outputs(DEAD_LETTER_TAG, main="books")
            keyed = (keyed, book.books) | "TradesAndBook" >> beam.Flatten()
            letters.append(book[DEAD_LETTER_TAG])
        out = self._signals(keyed)
        letters = (*letters, out.dead_letters) | "DeadLetters" >> beam.Flatten()
        return SymbolSignals(out.signals, letters)
