"""EvaluateStrategies: per-symbol incremental evaluation of many strategies -> Signals.

    signals = candles | EvaluateStrategies(strategies)

Input: PCollection[(symbol, Candle)] in the form FillCandleGaps produces. Output:
PCollection[(symbol, Signal)].

Each symbol keeps one `strategies.IncrementalEvaluator` for all configured strategies (shared
nodes computed once). Its state is plain data kept in Beam state, so it is part of Flink's
checkpoints and survives restarts; a per-worker cache avoids rebuilding the evaluator for
every candle. Candles are evaluated in start order when the watermark passes their end.
Strategies see the on-time candle of each interval: corrections (revision > 0) are counted
(`EvaluateStrategies/corrections_ignored`) and not re-evaluated, because signals already
sent cannot be taken back; use allowed lateness 0 when replays must match exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any  # noqa: UP035 - Beam reads typing.Tuple hints

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue

from strategies.incremental import IncrementalEvaluator
from strategies.strategy import Strategy
from tradestream.v1 import candle_pb2
from transforms.candles import ms_timestamp, timestamp_ms
from transforms.signals import make_signal, strategy_proto


class EvaluateStrategiesFn(beam.DoFn):
    PENDING = ReadModifyWriteStateSpec("pending", PickleCoder())  # start -> Candle bytes
    # (version, last evaluated start, evaluator state)
    EVALUATOR = ReadModifyWriteStateSpec("evaluator", PickleCoder())
    TICK = TimerSpec("tick", TimeDomain.WATERMARK)  # dynamic tag per waiting candle

    def __init__(self, strategies: Sequence[Strategy]) -> None:
        if not strategies:
            raise ValueError("EvaluateStrategies needs at least one strategy")
        self._strategies = list(strategies)
        self._signals = Metrics.counter("EvaluateStrategies", "signals")
        self._ignored = Metrics.counter("EvaluateStrategies", "corrections_ignored")
        self._candles = Metrics.counter("EvaluateStrategies", "candles")

    def setup(self) -> None:
        self._protos = {
            s.strategy_id: strategy_proto(s.type_name, s.params, s.strategy_id)
            for s in self._strategies
        }
        # symbol -> (version, evaluator): valid while the state's version matches.
        self._cache: dict[str, tuple[int, IncrementalEvaluator]] = {}

    def process(
        self,
        element,
        pending=beam.DoFn.StateParam(PENDING),
        tick=beam.DoFn.TimerParam(TICK),
    ):
        symbol, candle = element
        if candle.revision > 0:
            self._ignored.inc()
            return
        waiting = pending.read() or {}
        waiting[candle.start_ms] = candle.SerializeToString()
        pending.write(waiting)
        tick.set(
            ms_timestamp(candle.start_ms + candle.interval_ms - 1),
            dynamic_timer_tag=str(candle.start_ms),
        )

    @on_timer(TICK)
    def on_tick(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        pending=beam.DoFn.StateParam(PENDING),
        evaluator_state=beam.DoFn.StateParam(EVALUATOR),
    ):
        now = timestamp_ms(fired)
        waiting = pending.read() or {}
        stored = evaluator_state.read()
        version, last_start, evaluator = self._evaluator(key, stored)
        changed = False
        try:
            for start in sorted(waiting):
                candle = candle_pb2.Candle.FromString(waiting[start])
                if start + candle.interval_ms - 1 > now:
                    break
                del waiting[start]
                if last_start is not None and start <= last_start:
                    continue  # evaluated already (a replayed or duplicate candle)
                self._candles.inc()
                changed = True
                last_start = start
                emissions = evaluator.update(
                    candle.open, candle.high, candle.low, candle.close, candle.volume
                )
                for emission in emissions:
                    self._signals.inc()
                    signal = make_signal(
                        self._protos[emission.strategy_id],
                        key,
                        emission.action,
                        candle.close,
                        candle.start_ms,
                        candle.interval_ms,
                        emission.reason,
                    )
                    yield TimestampedValue((key, signal), fired)
        except BaseException:
            # The cached evaluator may be ahead of the stored state: rebuild on retry.
            self._cache.pop(key, None)
            raise
        if changed:
            version += 1
            evaluator_state.write((version, last_start, evaluator.get_state()))
            self._cache[key] = (version, evaluator)
        if waiting:
            pending.write(waiting)
        else:
            pending.clear()

    def _evaluator(self, symbol: str, stored) -> tuple[int, int | None, IncrementalEvaluator]:
        if stored is None:
            evaluator = IncrementalEvaluator(self._strategies)
            return 0, None, evaluator
        version, last_start, state = stored
        cached = self._cache.get(symbol)
        if cached is not None and cached[0] == version:
            return version, last_start, cached[1]
        return version, last_start, IncrementalEvaluator.from_state(self._strategies, state)


class EvaluateStrategies(beam.PTransform):
    """PCollection[(symbol, Candle)] -> PCollection[(symbol, Signal)].

    Args:
        strategies: built strategies (from `strategies.library` or a strategy file).
    """

    def __init__(self, strategies: Sequence[Strategy]) -> None:
        super().__init__()
        self._fn = EvaluateStrategiesFn(strategies)

    def expand(self, candles: beam.PCollection) -> beam.PCollection:
        return candles | "Evaluate" >> beam.ParDo(self._fn).with_input_types(tuple[str, Any])
