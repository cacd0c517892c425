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
- A symbol seen for the first time simply starts its own candles.

Implemented as a stateful DoFn with one event-time timer per symbol, so the same transform
runs in streaming (Flink) and in batch (backtests), where the watermark jumps to the end.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from transforms import candle_math
from transforms.dead_letters import DEAD_LETTER_TAG, dead_letter


class BuiltCandles(NamedTuple):
    candles: beam.PCollection
    dead_letters: beam.PCollection


def ms_timestamp(ms: int) -> Timestamp:
    return Timestamp(micros=ms * 1000)


def timestamp_ms(ts: Timestamp) -> int:
    return ts.micros // 1000


class BuildCandlesFn(beam.DoFn):
    """(symbol, Trade) -> (symbol, Candle), late trades to the dead-letter output."""

    # start_ms -> [accumulator, revision emitted so far (-1: not yet emitted)]
    BUCKETS = ReadModifyWriteStateSpec("buckets", PickleCoder())
    # The latest timer time this symbol has seen: a lower bound of the watermark.
    FLOOR = ReadModifyWriteStateSpec("floor", PickleCoder())
    TIMER_AT = ReadModifyWriteStateSpec("timer_at", PickleCoder())
    FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)

    def __init__(self, interval_ms: int, allowed_lateness_ms: int, source_topic: str = "") -> None:
        self._interval = interval_ms
        self._lateness = allowed_lateness_ms
        self._source_topic = source_topic
        self._late = Metrics.counter("WindowTradesToCandles", "late_trades")
        self._corrections = Metrics.counter("WindowTradesToCandles", "corrections")

    def process(
        self,
        element,
        buckets=beam.DoFn.StateParam(BUCKETS),
        floor=beam.DoFn.StateParam(FLOOR),
        timer_at=beam.DoFn.StateParam(TIMER_AT),
        flush=beam.DoFn.TimerParam(FLUSH),
    ):
        symbol, trade = element
        start = candle_math.bucket_start(trade.time_ms, self._interval)
        end = start + self._interval
        seen = floor.read()
        if seen is not None and end - 1 + self._lateness <= seen:
            self._late.inc()
            yield pvalue.TaggedOutput(
                DEAD_LETTER_TAG,
                dead_letter(
                    trade.SerializeToString(),
                    "late",
                    f"trade at {trade.time_ms} belongs to candle [{start}, {end}) which closed "
                    f"at watermark {seen} (allowed lateness {self._lateness} ms)",
                    self._source_topic,
                    symbol,
                ),
            )
            return
        state = buckets.read() or {}
        bucket = state.get(start)
        if bucket is None:
            bucket = [candle_math.new_accumulator(trade), -1]
        else:
            candle_math.add_trade(bucket[0], trade)
        if bucket[1] >= 0 or (seen is not None and end - 1 <= seen):
            # The on-time candle is out already: emit the correction now.
            bucket[1] = max(bucket[1] + 1, 1)
            self._corrections.inc()
            yield self._candle(symbol, start, bucket)
        state[start] = bucket
        buckets.write(state)
        self._schedule(state, timer_at, flush)

    @on_timer(FLUSH)
    def on_flush(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        buckets=beam.DoFn.StateParam(BUCKETS),
        floor=beam.DoFn.StateParam(FLOOR),
        timer_at=beam.DoFn.StateParam(TIMER_AT),
        flush=beam.DoFn.TimerParam(FLUSH),
    ):
        now = timestamp_ms(fired)
        seen = floor.read()
        if seen is None or now > seen:
            floor.write(now)
        timer_at.clear()
        state = buckets.read() or {}
        for start in sorted(state):
            bucket = state[start]
            end = start + self._interval
            if bucket[1] < 0 and end - 1 <= now:
                bucket[1] = 0
                yield self._candle(key, start, bucket)
            if bucket[1] >= 0 and end - 1 + self._lateness <= now:
                del state[start]
        if state:
            buckets.write(state)
        else:
            buckets.clear()
        self._schedule(state, timer_at, flush)

    def _candle(self, symbol: str, start: int, bucket: list) -> TimestampedValue:
        candle = candle_math.to_candle(symbol, start, self._interval, bucket[0], bucket[1])
        return TimestampedValue((symbol, candle), ms_timestamp(start + self._interval - 1))

    def _schedule(self, state: dict, timer_at, flush) -> None:
        """Keeps the single timer at the earliest pending emission or close."""
        if not state:
            return
        due = min(
            start + self._interval - 1 + (self._lateness if bucket[1] >= 0 else 0)
            for start, bucket in state.items()
        )
        if timer_at.read() != due:
            flush.set(ms_timestamp(due))
            timer_at.write(due)


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
        outputs = trades | "BuildCandles" >> beam.ParDo(
            BuildCandlesFn(self._interval, self._lateness, self._source_topic)
        ).with_input_types(tuple[str, Any]).with_outputs(DEAD_LETTER_TAG, main="candles")
        return BuiltCandles(outputs.candles, outputs[DEAD_LETTER_TAG])
