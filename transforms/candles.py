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

Implemented as a stateful DoFn with event-time timers per candle, so the same transform
runs in streaming (Flink) and in batch (backtests), where the watermark jumps to the end.
"""

from __future__ import annotations

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

from transforms import candle_math
from transforms.dead_letters import DEAD_LETTER_TAG, dead_letter


class BuiltCandles(NamedTuple):
    candles: beam.PCollection
    dead_letters: beam.PCollection


def ms_timestamp(ms: int) -> Timestamp:
    return Timestamp(micros=ms * 1000)


def timestamp_ms(ts: Timestamp) -> int:
    return ts.micros // 1000


class PartialCandlesFn(beam.DoFn):
    """(symbol, Trade) -> (symbol, (start, accumulator, trade bytes)) once per bundle.

    Folds the trades of one bundle per (symbol, interval) before the keyed, stateful step,
    so that state is touched once per partial candle instead of once per trade. The trade
    bytes travel along only so that late trades can be dead-lettered one by one.
    """

    def __init__(self, interval_ms: int) -> None:
        self._interval = interval_ms

    def start_bundle(self) -> None:
        self._partials: dict[tuple[str, int], list] = {}

    def process(self, element, ts=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        symbol, trade = element
        start = candle_math.bucket_start(trade.time_ms, self._interval)
        partial = self._partials.get((symbol, start))
        if partial is None:
            self._partials[(symbol, start)] = [
                candle_math.new_accumulator(trade),
                [trade.SerializeToString()],
                ts,
                window,
            ]
        else:
            candle_math.add_trade(partial[0], trade)
            partial[1].append(trade.SerializeToString())
            if ts < partial[2]:
                partial[2] = ts

    def finish_bundle(self):
        for (symbol, start), (acc, payloads, ts, window) in self._partials.items():
            yield WindowedValue((symbol, (start, acc, payloads)), ts, [window])
        self._partials = {}


class BuildCandlesFn(beam.DoFn):
    """(symbol, partial candle) -> (symbol, Candle), late trades to the dead-letter output.

    One event-time timer per open candle (dynamic timer tags `e<start>` to emit and
    `c<start>` to close), so that when the watermark leaps ahead (catching up on a backlog)
    every due candle fires in the same watermark step.
    """

    # start_ms -> [accumulator, revision emitted so far (-1: not yet emitted)]
    BUCKETS = ReadModifyWriteStateSpec("buckets", PickleCoder())
    # The latest timer time this symbol has seen: a lower bound of the watermark.
    FLOOR = ReadModifyWriteStateSpec("floor", PickleCoder())
    TIMER = TimerSpec("candle", TimeDomain.WATERMARK)

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
        timer=beam.DoFn.TimerParam(TIMER),
    ):
        symbol, (start, acc, payloads) = element
        end = start + self._interval
        seen = floor.read()
        if seen is not None and end - 1 + self._lateness <= seen:
            for payload in payloads:
                self._late.inc()
                yield pvalue.TaggedOutput(
                    DEAD_LETTER_TAG,
                    dead_letter(
                        payload,
                        "late",
                        f"trade belongs to candle [{start}, {end}) which closed at watermark "
                        f"{seen} (allowed lateness {self._lateness} ms)",
                        self._source_topic,
                        symbol,
                    ),
                )
            return
        state = buckets.read() or {}
        bucket = state.get(start)
        if bucket is None:
            bucket = [acc, -1]
            if seen is not None and end - 1 <= seen:
                # The on-time moment has passed already (late, within lateness).
                bucket[1] = 0
                self._corrections.inc()
                yield self._candle(symbol, start, bucket, revision=1)
                timer.set(ms_timestamp(end - 1 + self._lateness), dynamic_timer_tag=f"c{start}")
            else:
                timer.set(ms_timestamp(end - 1), dynamic_timer_tag=f"e{start}")
        else:
            bucket[0] = candle_math.merge(bucket[0], acc)
            if bucket[1] >= 0:
                bucket[1] += 1
                self._corrections.inc()
                yield self._candle(symbol, start, bucket)
        state[start] = bucket
        buckets.write(state)

    @on_timer(TIMER)
    def on_timer(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        tag=beam.DoFn.DynamicTimerTagParam,
        buckets=beam.DoFn.StateParam(BUCKETS),
        floor=beam.DoFn.StateParam(FLOOR),
        timer=beam.DoFn.TimerParam(TIMER),
    ):
        now = timestamp_ms(fired)
        seen = floor.read()
        if seen is None or now > seen:
            floor.write(now)
        action, start = tag[0], int(tag[1:])
        state = buckets.read() or {}
        bucket = state.get(start)
        if bucket is None:
            return
        if action == "e":
            bucket[1] = 0
            yield self._candle(key, start, bucket)
            if self._lateness > 0:
                timer.set(ms_timestamp(now + self._lateness), dynamic_timer_tag=f"c{start}")
            else:
                del state[start]
        else:
            del state[start]
        if state:
            buckets.write(state)
        else:
            buckets.clear()

    def _candle(self, symbol: str, start: int, bucket: list, revision: int | None = None):
        rev = bucket[1] if revision is None else revision
        bucket[1] = rev
        candle = candle_math.to_candle(symbol, start, self._interval, bucket[0], rev)
        return TimestampedValue((symbol, candle), ms_timestamp(start + self._interval - 1))


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
        partials = trades | "PartialCandles" >> beam.ParDo(PartialCandlesFn(self._interval))
        outputs = partials | "BuildCandles" >> beam.ParDo(
            BuildCandlesFn(self._interval, self._lateness, self._source_topic)
        ).with_input_types(tuple[str, Any]).with_outputs(DEAD_LETTER_TAG, main="candles")
        return BuiltCandles(outputs.candles, outputs[DEAD_LETTER_TAG])
