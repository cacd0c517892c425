"""FillCandleGaps: flat candles for intervals without trades, and candles in start order.

    filled = candles | FillCandleGaps(interval_ms=60_000, max_gap=60)

Input and output: PCollection[(symbol, Candle)]. For each symbol, real candles are passed on
in start order once the watermark passes their end; an interval without trades gets a flat
candle (open = high = low = close = previous close, volume 0, `filled=True`) when the
watermark passes its end. At most `max_gap` flat candles follow a real one: a symbol that
goes silent for longer stops producing candles until it trades again.

`fill_trailing=False` (batch backtests) fills only between real candles, never after the last
one, since in batch the watermark jumps to the end of time.

Corrections (revision > 0), and real candles for an interval already emitted (as a flat
candle), pass through at once with revision >= 1: they replace what was emitted before.
"""

from __future__ import annotations

from typing import Any  # noqa: UP035 - Beam reads typing.Tuple hints

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue

from tradestream.v1 import candle_pb2
from transforms import candle_math
from transforms.candles import ms_timestamp, timestamp_ms


class FillCandleGapsFn(beam.DoFn):
    PENDING = ReadModifyWriteStateSpec("pending", PickleCoder())  # start -> Candle bytes
    LAST = ReadModifyWriteStateSpec("last", PickleCoder())  # (last start, last close, flat run)
    # Dynamic tags: `c<start>` per waiting candle, `gap` for the next trailing flat candle.
    TICK = TimerSpec("tick", TimeDomain.WATERMARK)

    def __init__(self, interval_ms: int, max_gap: int, fill_trailing: bool) -> None:
        self._interval = interval_ms
        self._max_gap = max_gap
        self._fill_trailing = fill_trailing
        self._flats = Metrics.counter("FillCandleGaps", "flat_candles")

    def process(
        self,
        element,
        pending=beam.DoFn.StateParam(PENDING),
        last=beam.DoFn.StateParam(LAST),
        tick=beam.DoFn.TimerParam(TICK),
    ):
        symbol, candle = element
        previous = last.read()
        if candle.revision > 0 or (previous is not None and candle.start_ms <= previous[0]):
            if candle.revision == 0:
                candle = candle_pb2.Candle.FromString(candle.SerializeToString())
                candle.revision = 1
            yield self._out(symbol, candle)
            return
        waiting = pending.read() or {}
        waiting[candle.start_ms] = candle.SerializeToString()
        pending.write(waiting)
        tick.set(
            ms_timestamp(candle.start_ms + self._interval - 1),
            dynamic_timer_tag=f"c{candle.start_ms}",
        )

    @on_timer(TICK)
    def on_tick(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        last=beam.DoFn.StateParam(LAST),
        tick=beam.DoFn.TimerParam(TICK),
    ):
        now = timestamp_ms(fired)
        waiting = pending.read() or {}
        previous = last.read()
        for start in sorted(waiting):
            if start + self._interval - 1 > now:
                break
            candle = candle_pb2.Candle.FromString(waiting.pop(start))
            if previous is not None and start <= previous[0]:
                continue  # an interval already emitted; corrections go through process()
            if previous is not None:
                yield from self._flats_until(key, previous, start)
            yield self._out(key, candle)
            previous = (start, candle.close, 0)
        if self._fill_trailing and previous is not None:
            yield from self._flats_until(key, previous, None, now)
            previous = self._advanced(previous, None, now)
        if previous is not None:
            last.write(previous)
        if waiting:
            pending.write(waiting)
        else:
            pending.clear()
        if self._fill_trailing and previous is not None and previous[2] < self._max_gap:
            tick.set(ms_timestamp(previous[0] + 2 * self._interval - 1), dynamic_timer_tag="gap")

    def _flat_starts(self, previous: tuple, before: int | None, now: int | None = None):
        start, _, run = previous
        nxt = start + self._interval
        while run < self._max_gap:
            if before is not None and nxt >= before:
                return
            if now is not None and nxt + self._interval - 1 > now:
                return
            yield nxt
            nxt += self._interval
            run += 1

    def _flats_until(self, symbol: str, previous: tuple, before: int | None, now=None):
        for start in self._flat_starts(previous, before, now):
            self._flats.inc()
            yield self._out(
                symbol, candle_math.flat_candle(symbol, start, self._interval, previous[1])
            )

    def _advanced(self, previous: tuple, before: int | None, now: int | None) -> tuple:
        starts = list(self._flat_starts(previous, before, now))
        if not starts:
            return previous
        return (starts[-1], previous[1], previous[2] + len(starts))

    def _out(self, symbol: str, candle) -> TimestampedValue:
        return TimestampedValue(
            (symbol, candle), ms_timestamp(candle.start_ms + self._interval - 1)
        )


class FillCandleGaps(beam.PTransform):
    """PCollection[(symbol, Candle)] -> PCollection[(symbol, Candle)], gaps filled, in order.

    Args:
        interval_ms: the candle interval of the input.
        max_gap: at most this many flat candles after a real one.
        fill_trailing: also fill after the latest real candle as the watermark advances
            (streaming); False for batch.
    """

    def __init__(self, interval_ms: int, max_gap: int = 60, fill_trailing: bool = True):
        super().__init__()
        if max_gap < 0:
            raise ValueError("max_gap must be >= 0")
        self._fn = FillCandleGapsFn(interval_ms, max_gap, fill_trailing)

    def expand(self, candles: beam.PCollection) -> beam.PCollection:
        return candles | "FillGaps" >> beam.ParDo(self._fn).with_input_types(tuple[str, Any])
