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

from tradestream.market import candle_math
from tradestream.transforms.trades_to_candles import keyed_at_end, ms_timestamp, timestamp_ms
from tradestream.v1 import candle_pb2


class GapFiller:
    """One symbol's gap filling: the logic of FillCandleGapsFn, on plain-data state.

    State: {"pending": {start_ms: Candle bytes waiting for the watermark},
    "last": (start of the latest candle passed on, its close, flat candles since a real one)}.
    Methods return candles to emit and wake-up timers as (time_ms, tag) pairs.
    """

    def __init__(self, interval_ms: int, max_gap: int, fill_trailing: bool) -> None:
        self.interval = interval_ms
        self.max_gap = max_gap
        self.fill_trailing = fill_trailing

    @staticmethod
    def new_state() -> dict:
        return {"pending": {}, "last": None}

    def add(self, state: dict, candle):
        """A candle arrives -> (candles to pass on at once, timers)."""
        previous = state["last"]
        if candle.revision > 0 or (previous is not None and candle.start_ms <= previous[0]):
            if candle.revision == 0:
                candle = candle_pb2.Candle.FromString(candle.SerializeToString())
                candle.revision = 1
            return [candle], []
        state["pending"][candle.start_ms] = candle.SerializeToString()
        return [], [(candle.start_ms + self.interval - 1, f"f{candle.start_ms}")]

    def advance(self, state: dict, symbol: str, now: int):
        """The watermark reached `now` -> (candles in start order, flats included; timers)."""
        waiting = state["pending"]
        previous = state["last"]
        out = []
        for start in sorted(waiting):
            if start + self.interval - 1 > now:
                break
            candle = candle_pb2.Candle.FromString(waiting.pop(start))
            if previous is not None and start <= previous[0]:
                continue  # an interval already emitted; corrections go through add()
            if previous is not None:
                out.extend(self._flats(symbol, previous, start))
            out.append(candle)
            previous = (start, candle.close, 0)
        timers = []
        if self.fill_trailing and previous is not None:
            flats = self._flats(symbol, previous, None, now)
            out.extend(flats)
            if flats:
                previous = (flats[-1].start_ms, previous[1], previous[2] + len(flats))
            if previous[2] < self.max_gap:
                timers.append((previous[0] + 2 * self.interval - 1, "gap"))
        state["last"] = previous
        return out, timers

    def _flats(self, symbol: str, previous: tuple, before: int | None, now: int | None = None):
        start, close, run = previous
        flats = []
        nxt = start + self.interval
        while run < self.max_gap:
            if before is not None and nxt >= before:
                break
            if now is not None and nxt + self.interval - 1 > now:
                break
            flats.append(candle_math.flat_candle(symbol, nxt, self.interval, close))
            nxt += self.interval
            run += 1
        return flats


class FillCandleGapsFn(beam.DoFn):
    """The Beam step of `GapFiller`: one state value and wake-up timers per symbol."""

    STATE = ReadModifyWriteStateSpec("gaps", PickleCoder())
    # Dynamic tags: `f<start>` per waiting candle, `gap` for the next trailing flat candle.
    TICK = TimerSpec("tick", TimeDomain.WATERMARK)

    def __init__(self, interval_ms: int, max_gap: int, fill_trailing: bool) -> None:
        self._filler = GapFiller(interval_ms, max_gap, fill_trailing)
        self._flats = Metrics.counter("FillCandleGaps", "flat_candles")

    def process(
        self,
        element,
        gaps=beam.DoFn.StateParam(STATE),
        tick=beam.DoFn.TimerParam(TICK),
    ):
        symbol, candle = element
        state = gaps.read() or GapFiller.new_state()
        passed, timers = self._filler.add(state, candle)
        for out in passed:
            yield keyed_at_end(symbol, out)
        for at, tag in timers:
            tick.set(ms_timestamp(at), dynamic_timer_tag=tag)
        if timers:
            gaps.write(state)

    @on_timer(TICK)
    def on_tick(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        gaps=beam.DoFn.StateParam(STATE),
        tick=beam.DoFn.TimerParam(TICK),
    ):
        state = gaps.read() or GapFiller.new_state()
        candles, timers = self._filler.advance(state, key, timestamp_ms(fired))
        for candle in candles:
            if candle.filled:
                self._flats.inc()
            yield keyed_at_end(key, candle)
        for at, tag in timers:
            tick.set(ms_timestamp(at), dynamic_timer_tag=tag)
        gaps.write(state)


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
        return candles | "FillGaps" >> (
            beam.ParDo(self._fn)
            .with_input_types(tuple[str, Any])
            .with_output_types(tuple[str, Any])
        )
