"""StrategyRunner's live evaluators: shared by a worker's DoFn instances, never stale.

Beam makes a DoFn instance per bundle processor, so one symbol's candles reach several
StrategyRunners of one worker process. They share the live evaluators; a symbol's is used
only while its stored state carries the token written with it, so an evaluator ahead of the
state (a failed bundle, a restore) or from another history is never used.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from tests.strategies.series import random_candles
from tradestream.backtest.series import CandleSeries
from tradestream.strategies import library
from tradestream.strategies.incremental import IncrementalEvaluator
from tradestream.transforms import evaluate
from tradestream.transforms.evaluate import StrategyRunner
from tradestream.v1 import candle_pb2, signal_pb2

_SET_NUMBERS = itertools.count()
NAMES = ["SMA_CROSSOVER", "EMA_MACD", "RSI_TWO_TIMEFRAMES", "BBAND_W_R", "DONCHIAN_BREAKOUT"]


def _candles(seed: int, n: int = 300) -> list[candle_pb2.Candle]:
    a = random_candles(seed, n=n)
    series = CandleSeries(
        "BTC-USD", a.interval_ms, a.start_ms, a.open, a.high, a.low, a.close, a.volume,
        filled=np.zeros(n, dtype=bool),
    )  # fmt: skip
    return series.candles()


def _step(runner: StrategyRunner, state: dict, candle) -> list[tuple[str, str, int]]:
    StrategyRunner.add(state, candle)
    signals, evaluated = runner.advance(state, "BTC-USD", candle.start_ms + candle.interval_ms - 1)
    assert evaluated == 1
    return [
        (s.strategy.strategy_id, signal_pb2.Action.Name(s.action).removeprefix("ACTION_"),
         s.candle_start_ms)
        for s in signals
    ]  # fmt: skip


def _reference(strategies, candles) -> list[tuple[str, str, int]]:
    evaluator = IncrementalEvaluator(strategies, interval_ms=candles[0].interval_ms)
    out = []
    for c in candles:
        for e in evaluator.update(c.open, c.high, c.low, c.close, c.volume, c.start_ms):
            out.append((e.strategy_id, e.action, c.start_ms))
    return out


@pytest.fixture
def strategies():
    # A strategy set of its own per test: the live evaluators are per process and set.
    return [library.build(name) for name in NAMES] + [
        library.build("SMA_CROSSOVER", {"fast": 3, "slow": 7 + next(_SET_NUMBERS)})
    ]


def _no_rebuilds(monkeypatch) -> list:
    rebuilds = []
    real = IncrementalEvaluator.with_state
    monkeypatch.setattr(
        IncrementalEvaluator, "with_state",
        lambda self, state: rebuilds.append(1) or real(self, state),
    )  # fmt: skip
    return rebuilds


def test_runners_of_one_worker_share_the_live_evaluators(strategies, monkeypatch):
    candles = _candles(1)
    rebuilds = _no_rebuilds(monkeypatch)
    runners = [StrategyRunner(strategies) for _ in range(3)]  # three DoFn instances
    state = StrategyRunner.new_state()
    got = []
    for i, candle in enumerate(candles):
        got += _step(runners[i % 3], state, candle)
    assert got == _reference(strategies, candles)
    assert got  # the series made them signal
    assert rebuilds == []  # no evaluator was rebuilt from its state


def test_a_live_evaluator_ahead_of_the_state_is_not_used(strategies, monkeypatch):
    candles = _candles(2)
    runner = StrategyRunner(strategies)
    state = StrategyRunner.new_state()
    for candle in candles[:150]:
        _step(runner, state, candle)
    stored = copy.deepcopy(state)  # the state a checkpoint holds
    for candle in candles[150:170]:  # evaluated, then lost (a failed bundle, a restore)
        _step(runner, state, candle)
    rebuilds = _no_rebuilds(monkeypatch)
    got = []
    for candle in candles[150:]:
        got += _step(StrategyRunner(strategies), stored, candle)
    assert got == [s for s in _reference(strategies, candles) if s[2] >= candles[150].start_ms]
    assert rebuilds == [1]  # rebuilt once from the stored state, then live again


def test_a_state_of_the_same_version_but_another_history_is_rebuilt(strategies):
    """Two histories from one stored state reach the same version: the live evaluator of
    the one evaluated last must not serve the other (a version number alone would)."""
    candles = _candles(3)
    other = _candles(4)
    runner = StrategyRunner(strategies)
    base = StrategyRunner.new_state()
    for candle in candles[:100]:
        _step(runner, base, candle)
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    _step(runner, ours, candles[100])
    moved = copy.copy(other[100])
    moved.start_ms = candles[100].start_ms
    _step(runner, theirs, moved)  # the live evaluator now follows `theirs`
    assert ours["version"] == theirs["version"]
    got = []
    for candle in candles[101:]:
        got += _step(runner, ours, candle)
    assert got == [s for s in _reference(strategies, candles) if s[2] > candles[100].start_ms]


def test_a_worker_keeps_the_live_evaluators_of_a_few_strategy_sets_only():
    sets = [[library.build("SMA_CROSSOVER", {"fast": 2, "slow": 40 + i})] for i in range(12)]
    for strategies in sets:
        evaluate._LiveEvaluators.of(strategies, 60_000)
    kept = evaluate._LiveEvaluators._sets
    assert len(kept) == evaluate._LiveEvaluators.MAX_SETS
    assert (60_000, tuple(sets[-1])) in kept and (60_000, tuple(sets[0])) not in kept


def test_an_evaluator_rebuilt_from_any_stored_state_continues_exactly(strategies):
    """The state holds the evaluator as it was some candles ago and the candles since: a
    rebuild (a restore, another worker) replays them, whatever their number."""
    candles = _candles(5, n=160)
    expected = _reference(strategies, candles)
    runner = StrategyRunner(strategies)
    state = StrategyRunner.new_state()
    replayed = set()
    for i, candle in enumerate(candles[:120]):
        _step(runner, state, candle)
        if i < 100:
            continue
        stored = copy.deepcopy(state)
        assert len(stored["since"]) < evaluate.SNAPSHOT_EVERY
        replayed.add(len(stored["since"]))
        stored["token"] = None  # no live evaluator matches: rebuilt from the stored state
        got = []
        for later in candles[i + 1 :]:
            got += _step(StrategyRunner(strategies), stored, later)
        assert got == [s for s in expected if s[2] > candle.start_ms]
    assert replayed == set(range(evaluate.SNAPSHOT_EVERY))  # every length was replayed


def test_symbols_take_their_whole_state_at_different_candles():
    strategies = [library.build("SMA_CROSSOVER", {"fast": 2, "slow": 5})]
    candles = _candles(6, n=40)
    first_snapshot = set()
    runner = StrategyRunner(strategies)
    for n in range(40):
        symbol, state = f"S{n}-USD", StrategyRunner.new_state()
        for i, candle in enumerate(candles):
            StrategyRunner.add(state, candle)
            runner.advance(state, symbol, candle.start_ms + candle.interval_ms - 1)
            if state["evaluator"] is not None:
                first_snapshot.add(i)
                break
    # Spread over the snapshot period, so a boundary does not take every symbol's at once.
    assert len(first_snapshot) > evaluate.SNAPSHOT_EVERY // 2
