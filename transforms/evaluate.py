"""EvaluateStrategies: per-symbol incremental evaluation of many strategies -> Signals.

    signals = candles | EvaluateStrategies(strategies)

Input: PCollection[(symbol, Candle)] in the form FillCandleGaps produces. Output:
PCollection[(symbol, Signal)].

Each symbol keeps one `tradestream.strategies.IncrementalEvaluator` for all configured strategies (shared
nodes computed once). Its state is plain data kept in Beam state, so it is part of Flink's
checkpoints and survives restarts; a per-worker cache avoids rebuilding the evaluator for
every candle. Candles are evaluated in start order when the watermark passes their end.
Strategies see the on-time candle of each interval: corrections (revision > 0) are counted
(`EvaluateStrategies/corrections_ignored`) and not re-evaluated, because signals already
sent cannot be taken back; use allowed lateness 0 when replays must match exactly.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any  # noqa: UP035 - Beam reads typing.Tuple hints

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue

from tradestream.market.signal_messages import make_signal, strategy_proto
from tradestream.strategies.incremental import IncrementalEvaluator
from tradestream.strategies.strategy import Strategy
from tradestream.transforms.trades_to_candles import ms_timestamp, timestamp_ms
from tradestream.v1 import candle_pb2

# Live evaluators kept per worker process and strategy set (see _LiveEvaluators).
MAX_LIVE_EVALUATORS = 2048
# A symbol's evaluator state is stored whole at most this many candles apart; the candles
# evaluated since are stored instead, and replayed when the evaluator must be rebuilt.
# Taking the whole state was a third of a symbol's evaluation with the 66 library types.
SNAPSHOT_EVERY = 16
# Draws the state tokens: seeded per process from the OS (os.urandom on every candle cost
# 13% of a worker catching up on this machine's VM).
_TOKENS = random.Random(os.urandom(16))
os.register_at_fork(after_in_child=lambda: _TOKENS.seed(os.urandom(16)))


class _LiveEvaluators:
    """One worker process's live evaluators of one strategy set, shared by all of its
    StrategyRunners (Beam makes a DoFn instance per bundle processor; a cache per instance
    missed whenever a symbol's next candle went to another one).

    A symbol's entry is (token, evaluator), valid while the symbol's stored state carries the
    same token: every evaluation stores a new random token with the evaluator's state, so an
    entry left ahead of the state (a failed bundle, a restore from an older checkpoint) is
    never used. Evaluators missing here are made from one compiled evaluator
    (`IncrementalEvaluator.fresh`/`with_state`: ~2 ms for the library's 66 strategies,
    where compiling them takes ~75 ms). At most MAX_LIVE_EVALUATORS symbols, the least
    recently used dropped first.
    """

    _sets: OrderedDict[tuple, _LiveEvaluators] = OrderedDict()
    _sets_lock = threading.Lock()
    MAX_SETS = 8  # a worker runs one pipeline's set; a test process may build many

    def __init__(self, strategies: list[Strategy], interval_ms: int) -> None:
        self.compiled = IncrementalEvaluator(strategies, interval_ms=interval_ms)
        self._live: OrderedDict[str, tuple[int, IncrementalEvaluator]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def of(cls, strategies: list[Strategy], interval_ms: int) -> _LiveEvaluators:
        key = (interval_ms, tuple(strategies))
        with cls._sets_lock:
            found = cls._sets.get(key)
            if found is None:
                found = cls._sets[key] = cls(strategies, interval_ms)
                while len(cls._sets) > cls.MAX_SETS:
                    cls._sets.popitem(last=False)
            cls._sets.move_to_end(key)
            return found

    def get(self, symbol: str, token: int | None) -> IncrementalEvaluator | None:
        with self._lock:
            entry = self._live.get(symbol)
            if entry is None or token is None or entry[0] != token:
                return None
            self._live.move_to_end(symbol)
            return entry[1]

    def put(self, symbol: str, token: int, evaluator: IncrementalEvaluator) -> None:
        with self._lock:
            self._live[symbol] = (token, evaluator)
            self._live.move_to_end(symbol)
            while len(self._live) > MAX_LIVE_EVALUATORS:
                self._live.popitem(last=False)

    def drop(self, symbol: str) -> None:
        with self._lock:
            self._live.pop(symbol, None)


def symbol_bucket(symbol: str, buckets: int, purpose: bytes) -> int:
    """`symbol`'s bucket among `buckets`, the same in every process and run; `purpose` (up
    to 16 bytes) makes the buckets of one use independent of another's.

    A BLAKE2b digest of the name: CRC-32, being linear, put names that differ in a digit or
    two into a few residues only.
    """
    digest = hashlib.blake2b(symbol.encode(), digest_size=8, person=purpose).digest()
    return int.from_bytes(digest, "little") % buckets


class StrategyRunner:
    """One symbol's strategies: the logic of EvaluateStrategiesFn, on plain-data state.

    State: {"pending": {start_ms: Candle bytes}, "version": int, "last": latest evaluated
    start, "evaluator": the evaluator's pickled state at some candle, "since": the
    (Candle bytes, book values) evaluated after that one, "token": random id of this
    state}. The worker process keeps each symbol's live evaluator while the stored token
    matches (`_LiveEvaluators`), so it is not rebuilt for every candle; a rebuild loads the
    stored state and replays the candles since, which gives the same evaluator (evaluation
    is deterministic). The whole state is taken once every `SNAPSHOT_EVERY` candles, at a
    different candle for each symbol. Create one per DoFn instance, in `setup`.
    """

    def __init__(self, strategies: Sequence[Strategy]) -> None:
        self._strategies = list(strategies)
        self._protos = {
            s.strategy_id: strategy_proto(s.type_name, s.params, s.strategy_id)
            for s in self._strategies
        }
        self._live: _LiveEvaluators | None = None  # per candle interval, from the first candle

    @staticmethod
    def new_state() -> dict:
        return {"pending": {}, "version": 0, "last": None, "evaluator": None, "since": []}

    @staticmethod
    def add(state: dict, candle) -> list[tuple[int, str]]:
        """Queues an on-time candle until the watermark passes its end -> timers."""
        state["pending"][candle.start_ms] = candle.SerializeToString()
        end = candle.start_ms + candle.interval_ms
        return [(end - 1, f"r{candle.start_ms}")]

    def advance(self, state: dict, symbol: str, now: int, book=None) -> tuple[list, int]:
        """Evaluates the due candles in start order -> (Signals, candles evaluated).

        `book(candle)`: the candle's BOOK_FIELDS values, when the strategies read the book.
        """
        waiting = state["pending"]
        # Appended to a copy: the stored list changes only once the evaluation succeeded.
        since = list(state.get("since", ()))
        evaluator = None
        last = state["last"]
        signals, evaluated = [], 0
        try:
            for start in sorted(waiting):
                waiting_bytes = waiting[start]
                candle = candle_pb2.Candle.FromString(waiting_bytes)
                if start + candle.interval_ms - 1 > now:
                    break
                del waiting[start]
                if last is not None and start <= last:
                    continue  # evaluated already (a replayed or duplicate candle)
                evaluated += 1
                last = start
                if evaluator is None:
                    evaluator = self._evaluator(symbol, state, candle.interval_ms)
                values = None if book is None else tuple(book(candle))
                since.append((waiting_bytes, values))
                emissions = evaluator.update(
                    candle.open, candle.high, candle.low, candle.close, candle.volume,
                    candle.start_ms, values,
                )  # fmt: skip
                for emission in emissions:
                    signals.append(
                        make_signal(
                            self._protos[emission.strategy_id],
                            symbol,
                            emission.action,
                            candle.close,
                            candle.start_ms,
                            candle.interval_ms,
                            emission.reason,
                            emission.confidence,
                            order=emission.order,
                        )
                    )
        except BaseException:
            # The live evaluator may be ahead of the stored state: rebuild on retry.
            if self._live is not None:
                self._live.drop(symbol)
            raise
        if evaluated:
            state["version"] += 1
            state["last"] = last
            phase = symbol_bucket(symbol, SNAPSHOT_EVERY, b"snapshot")
            if (
                len(since) >= SNAPSHOT_EVERY
                or (evaluator.candles_seen + phase) % SNAPSHOT_EVERY == 0
            ):
                # Pickled here: the runner's state cache sizes plain bytes at no cost.
                state["evaluator"] = pickle.dumps(evaluator.get_state(), pickle.HIGHEST_PROTOCOL)
                since = []
            state["since"] = since
            state["token"] = _TOKENS.getrandbits(63)
            self._live.put(symbol, state["token"], evaluator)
        return signals, evaluated

    def _evaluator(self, symbol: str, state: dict, interval_ms: int) -> IncrementalEvaluator:
        # The candles' interval: strategies reading longer candles need it (one per pipeline).
        if self._live is None or self._live.compiled.interval_ms != interval_ms:
            self._live = _LiveEvaluators.of(self._strategies, interval_ms)
        live = self._live.get(symbol, state.get("token"))
        if live is not None:
            return live
        compiled = self._live.compiled
        if state["evaluator"] is None:
            evaluator = compiled.fresh()
        else:
            evaluator = compiled.with_state(pickle.loads(state["evaluator"]))
        for payload, book in state.get("since", ()):  # evaluated after that state was taken
            c = candle_pb2.Candle.FromString(payload)
            evaluator.update(c.open, c.high, c.low, c.close, c.volume, c.start_ms, book)
        return evaluator


class EvaluateStrategiesFn(beam.DoFn):
    """The Beam step of `StrategyRunner`: one state value and wake-up timers per symbol."""

    STATE = ReadModifyWriteStateSpec("strategies", PickleCoder())
    TICK = TimerSpec("tick", TimeDomain.WATERMARK)  # dynamic tag per waiting candle

    def __init__(self, strategies: Sequence[Strategy]) -> None:
        if not strategies:
            raise ValueError("EvaluateStrategies needs at least one strategy")
        self._strategies = list(strategies)
        self._signals = Metrics.counter("EvaluateStrategies", "signals")
        self._ignored = Metrics.counter("EvaluateStrategies", "corrections_ignored")
        self._candles = Metrics.counter("EvaluateStrategies", "candles")

    def setup(self) -> None:
        self._runner = StrategyRunner(self._strategies)

    def process(
        self,
        element,
        stored=beam.DoFn.StateParam(STATE),
        tick=beam.DoFn.TimerParam(TICK),
    ):
        symbol, candle = element
        if candle.revision > 0:
            self._ignored.inc()
            return ()
        state = stored.read() or StrategyRunner.new_state()
        for at, tag in StrategyRunner.add(state, candle):
            tick.set(ms_timestamp(at), dynamic_timer_tag=tag)
        stored.write(state)
        return ()  # signals come from the timers

    @on_timer(TICK)
    def on_tick(
        self,
        key=beam.DoFn.KeyParam,
        fired=beam.DoFn.TimestampParam,
        stored=beam.DoFn.StateParam(STATE),
    ):
        state = stored.read() or StrategyRunner.new_state()
        signals, evaluated = self._runner.advance(state, key, timestamp_ms(fired))
        self._candles.inc(evaluated)
        for signal in signals:
            self._signals.inc()
            yield TimestampedValue((key, signal), fired)
        stored.write(state)


class EvaluateStrategies(beam.PTransform):
    """PCollection[(symbol, Candle)] -> PCollection[(symbol, Signal)].

    Args:
        strategies: built strategies (from `tradestream.strategies.library` or a strategy file).
    """

    def __init__(self, strategies: Sequence[Strategy]) -> None:
        super().__init__()
        self._fn = EvaluateStrategiesFn(strategies)

    def expand(self, candles: beam.PCollection) -> beam.PCollection:
        return candles | "Evaluate" >> (
            beam.ParDo(self._fn)
            .with_input_types(tuple[str, Any])
            .with_output_types(tuple[str, Any])
        )
