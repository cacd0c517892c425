"""WindowTradesToCandles: per-symbol event-time candles (OHLCV + VWAP + trade count).

    built = keyed_trades | WindowTradesToCandles(interval_ms=60_000, allowed_lateness_ms=30_000)
    built.candles        # PCollection[tuple[str, Candle]], keyed by symbol
    built.dead_letters   # PCollection[DeadLetter] for trades that came too late

Semantics (event time = the trade's own `time_ms`; intervals aligned to the epoch):
- A candle `[start, start+interval)` is emitted (revision 0) when the watermark passes its end.
- A trade that arrives after that but within the allowed lateness updates the candle, and a
  corrected candle with revision n+1 is emitted at once; it replaces the earlier one.
- A candle closes when the watermark passes its end plus the allowed lateness. A trade for a
  closed candle is dead-lettered with reason `late`. The decision uses the latest watermark
  that the symbol has observed (its most recent timer), so it is deterministic per symbol.
- A trade already folded into its (open) candle, by exchange and trade id, is not counted
  twice: the copy is dead-lettered with reason `duplicate` (a re-sent or replayed trade).
- A symbol seen for the first time simply starts its own candles.

Implemented as a stateful DoFn with event-time timers per candle, so the same transform
runs in streaming (Flink) and in batch (backtests), where the watermark jumps to the end.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple  # noqa: UP035 - Beam reads typing.Tuple hints

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from tradestream.market import candle_math
from tradestream.market.dead_letters import DEAD_LETTER_TAG, dead_letter
from tradestream.v1 import trade_pb2


class BuiltCandles(NamedTuple):
    candles: beam.PCollection
    dead_letters: beam.PCollection


def ms_timestamp(ms: int) -> Timestamp:
    return Timestamp(micros=ms * 1000)


def timestamp_ms(ts: Timestamp) -> int:
    return ts.micros // 1000


def keyed_at_end(symbol: str, candle):
    """(symbol, candle) stamped at the candle's last millisecond, as candle steps emit it."""
    return TimestampedValue(
        (symbol, candle), ms_timestamp(candle.start_ms + candle.interval_ms - 1)
    )


def trade_key(trade: trade_pb2.Trade) -> int:
    """What makes a trade the same trade: its exchange and its id (within one symbol).

    A 64-bit hash of both, so that an open candle's set of keys is small and cheap to
    store (a false duplicate needs a collision among one candle's trades: ~n²/2⁶⁵).
    """
    digest = hashlib.blake2b(f"{trade.exchange}|{trade.trade_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class PartialCandles:
    """Folds trades per (symbol, interval) into partial candles until they are taken.

    A partial is (symbol, (start, accumulator, {trade_key: bytes}, [duplicates])), stamped
    with the earliest stamp among its trades. A trade seen before in the same partial (same
    exchange and trade id) is not folded again: its bytes go in the duplicates list, to be
    dead-lettered. The trade bytes travel along so that late and duplicate trades can be
    dead-lettered one by one.
    """

    def __init__(self, interval_ms: int) -> None:
        self._interval = interval_ms
        self._partials: dict[tuple[str, int], list] = {}

    def add(self, symbol: str, trade: trade_pb2.Trade, payload: bytes, stamp, window) -> None:
        """Folds one trade; `stamp` is any ordered value (its Timestamp, or time_ms)."""
        start = candle_math.bucket_start(trade.time_ms, self._interval)
        key = trade_key(trade)
        partial = self._partials.get((symbol, start))
        if partial is None:
            self._partials[(symbol, start)] = [
                candle_math.new_accumulator(trade),
                {key: payload},
                [],
                stamp,
                window,
            ]
            return
        if key in partial[1]:
            partial[2].append(payload)
            return
        candle_math.add_trade(partial[0], trade)
        partial[1][key] = payload
        if stamp < partial[3]:
            partial[3] = stamp

    def take(self, to_timestamp=lambda stamp: stamp):
        """Every partial so far as a WindowedValue (emptying the fold)."""
        partials, self._partials = self._partials, {}
        for (symbol, start), (acc, payloads, dups, stamp, window) in partials.items():
            yield WindowedValue(
                (symbol, (start, acc, payloads, dups)), to_timestamp(stamp), [window]
            )


class PartialCandlesFn(beam.DoFn):
    """(symbol, Trade) -> partial candles (see `PartialCandles`), folded per bundle.

    So that the keyed, stateful step touches state once per partial candle instead of once
    per trade.
    """

    def __init__(self, interval_ms: int) -> None:
        self._interval = interval_ms

    def start_bundle(self) -> None:
        self._partials = PartialCandles(self._interval)

    def process(self, element, ts=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        symbol, trade = element
        self._partials.add(symbol, trade, trade.SerializeToString(), ts, window)
        return ()  # the partial candles leave in finish_bundle

    def finish_bundle(self):
        yield from self._partials.take()


class CandleBook:
    """One symbol's open candles: the logic of BuildCandlesFn, on plain-data state.

    State: {"buckets": {start_ms: [accumulator, revision emitted (-1: not yet), keys of the
    trades folded in]},
    "floor": the latest watermark time this symbol has seen (None before the first)}.
    Methods return what to emit and which wake-up timers to set, as (time_ms, tag) pairs;
    the caller owns Beam state and timers, so the same logic serves BuildCandlesFn and
    the fused realtime step (`tradestream.transforms.symbol_signals`).
    """

    def __init__(self, interval_ms: int, allowed_lateness_ms: int) -> None:
        self.interval = interval_ms
        self.lateness = allowed_lateness_ms

    @staticmethod
    def new_state() -> dict:
        return {"buckets": {}, "floor": None}

    def closed_at(self, state: dict, start: int) -> int | None:
        """The watermark at which candle `start` closed, or None while it is open."""
        seen = state["floor"]
        if seen is not None and start + self.interval - 1 + self.lateness <= seen:
            return seen
        return None

    def add(self, state: dict, symbol: str, start: int, acc: list, payloads: dict):
        """Folds a partial candle into an open one -> (corrected candles, timers, duplicates).

        `payloads` maps each trade key of the partial to its bytes. Trades the candle has
        folded already (same key) are not folded again; their bytes come back as duplicates.
        """
        end = start + self.interval
        seen = state["floor"]
        buckets = state["buckets"]
        bucket = buckets.get(start)
        if bucket is None:
            bucket = buckets[start] = [acc, -1, set(payloads)]
            if seen is not None and end - 1 <= seen:
                # The on-time moment has passed already (late, within lateness): the
                # first candle of this interval is already a correction.
                bucket[1] = 1
                out = [self._candle(symbol, start, bucket)]
                return out, [(end - 1 + self.lateness, f"c{start}")], []
            return [], [(end - 1, f"e{start}")], []
        keys = bucket[2]
        repeated = keys.intersection(payloads)
        duplicates = [payloads[k] for k in sorted(repeated)]
        if repeated:
            # Rare: fold again from the bytes, without the trades seen before.
            acc = candle_math.fold(
                trade_pb2.Trade.FromString(b) for k, b in payloads.items() if k not in repeated
            )
            if acc is None:
                return [], [], duplicates
        keys.update(payloads)
        bucket[0] = candle_math.merge(bucket[0], acc)
        if bucket[1] >= 0:
            bucket[1] += 1
            return [self._candle(symbol, start, bucket)], [], duplicates
        return [], [], duplicates

    def receive(self, state: dict, symbol: str, partial: tuple, source_topic: str):
        """A partial candle from PartialCandlesFn -> (corrected candles, timers, dead letters).

        The dead letters are all its trades (reason `late`) when its candle has closed
        already, which changes nothing else; otherwise its duplicates (reason `duplicate`).
        """
        start, acc, payloads, repeated = partial
        seen = self.closed_at(state, start)
        if seen is not None:
            end = start + self.interval
            detail = (
                f"trade belongs to candle [{start}, {end}) which closed at watermark "
                f"{seen} (allowed lateness {self.lateness} ms)"
            )
            letters = [*payloads.values(), *repeated]
            return [], [], [dead_letter(p, "late", detail, source_topic, symbol) for p in letters]
        candles, timers, duplicates = self.add(state, symbol, start, acc, payloads)
        detail = f"a trade with this exchange and trade id is already in candle [{start}, ...)"
        letters = [*repeated, *duplicates]
        return (
            candles,
            timers,
            [dead_letter(p, "duplicate", detail, source_topic, symbol) for p in letters],
        )

    def advance(self, state: dict, symbol: str, now: int):
        """The watermark reached `now`: on-time candles due, in start order -> (candles, timers).

        Every due candle is handled whichever timer woke us, so the order in which a runner
        fires timers of equal time does not matter.
        """
        if state["floor"] is None or now > state["floor"]:
            state["floor"] = now
        buckets = state["buckets"]
        out, timers = [], []
        for start in sorted(buckets):
            bucket = buckets[start]
            end = start + self.interval
            if end - 1 > now:
                break
            if bucket[1] < 0:
                bucket[1] = 0
                out.append(self._candle(symbol, start, bucket))
            close = end - 1 + self.lateness
            if close <= now:
                del buckets[start]
            else:
                timers.append((close, f"c{start}"))
        return out, timers

    def _candle(self, symbol: str, start: int, bucket: list):
        return candle_math.to_candle(symbol, start, self.interval, bucket[0], bucket[1])


class BuildCandlesFn(beam.DoFn):
    """(symbol, partial candle) -> (symbol, Candle), late trades to the dead-letter output.

    Event-time timers per open candle (dynamic tags `e<start>` to emit, `c<start>` to
    close), so that when the watermark leaps ahead (catching up on a backlog) every due
    candle fires in the same watermark step. The logic is `CandleBook`.
    """

    STATE = ReadModifyWriteStateSpec("book", PickleCoder())
    TIMER = TimerSpec("candle", TimeDomain.WATERMARK)

    def __init__(self, interval_ms: int, allowed_lateness_ms: int, source_topic: str = "") -> None:
        self._book = CandleBook(interval_ms, allowed_lateness_ms)
        self._source_topic = source_topic
        self._late = Metrics.counter("WindowTradesToCandles", "late_trades")
        self._corrections = Metrics.counter("WindowTradesToCandles", "corrections")
        self._duplicates = Metrics.counter("WindowTradesToCandles", "duplicate_trades")

    def process(
        self,
        element,
        book=beam.DoFn.StateParam(STATE),
        timer=beam.DoFn.TimerParam(TIMER),
    ):
        symbol, partial = element
        state = book.read() or CandleBook.new_state()
        candles, timers, letters = self._book.receive(state, symbol, partial, self._source_topic)
        for letter in letters:
            (self._late if letter.reason == "late" else self._duplicates).inc()
            yield pvalue.TaggedOutput(DEAD_LETTER_TAG, letter)
        for candle in candles:
            self._corrections.inc()
            yield keyed_at_end(symbol, candle)
        for at, tag in timers:
            timer.set(ms_timestamp(at), dynamic_timer_tag=tag)
        book.write(state)

    @on_timer(TIMER)
    def on_timer(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        book=beam.DoFn.StateParam(STATE),
        timer=beam.DoFn.TimerParam(TIMER),
    ):
        now = timestamp_ms(fired)
        state = book.read() or CandleBook.new_state()
        candles, timers = self._book.advance(state, key, now)
        for candle in candles:
            yield keyed_at_end(key, candle)
        for at, tag in timers:
            timer.set(ms_timestamp(at), dynamic_timer_tag=tag)
        book.write(state)


class WindowTradesToCandles(beam.PTransform):
    """PCollection[(symbol, Trade)] -> BuiltCandles(candles, dead_letters).

    Args:
        interval_ms: candle length (e.g. 60_000 for 1m).
        allowed_lateness_ms: how long after a candle's end late trades still correct it.
        source_topic: recorded in dead letters.
    """

    def __init__(self, interval_ms: int, allowed_lateness_ms: int = 0, source_topic: str = ""):
        super().__init__()
        if interval_ms <= 0:
            raise ValueError("candle interval must be > 0 ms")
        if allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must be >= 0 ms")
        self._interval = interval_ms
        self._lateness = allowed_lateness_ms
        self._source_topic = source_topic

    def expand(self, trades: beam.PCollection) -> BuiltCandles:
        # Typed, so that the next (stateful) step keys its state with a deterministic coder.
        partials = trades | "PartialCandles" >> beam.ParDo(
            PartialCandlesFn(self._interval)
        ).with_output_types(tuple[str, Any])
        build = (
            beam.ParDo(BuildCandlesFn(self._interval, self._lateness, self._source_topic))
            .with_input_types(tuple[str, Any])
            .with_output_types(tuple[str, Any])
            .with_outputs(DEAD_LETTER_TAG, main="candles")
        )
        outputs = partials | "BuildCandles" >> build
        return BuiltCandles(outputs.candles, outputs[DEAD_LETTER_TAG])
