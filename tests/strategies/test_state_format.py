"""The incremental evaluator's stored state: version 2 (node states listed in program order,
checked against a digest of that order) and the version-1 states of older checkpoints."""

from __future__ import annotations

import json

import pytest

from tests.strategies.series import random_candles
from tradestream.strategies import library
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.incremental import IncrementalEvaluator, TimeframeStep

NAMES = ["SMA_CROSSOVER", "RSI_OVERBOUGHT_OVERSOLD", "MACD_CROSSOVER", "RSI_TWO_TIMEFRAMES"]


def _run(evaluator: IncrementalEvaluator, candles, first: int, last: int) -> list:
    out = []
    for t in range(first, last):
        out += evaluator.update(*candles.row(t), start_ms=int(candles.start_ms[t]))
    return out


def _version_1(evaluator: IncrementalEvaluator, state: dict) -> dict:
    """`state` as version 1 stored it: node states keyed by expression (in timeframe nodes'
    programs too), the previous rule values keyed by strategy id."""

    def by_key(program, nodes: list) -> dict:
        out = {}
        for key, impl, node_state in zip(program.keys, program.impls, nodes, strict=True):
            if isinstance(impl, TimeframeStep):
                node_state = [*node_state[:4], by_key(impl.program, node_state[4])]
            out[key] = node_state
        return out

    return {
        "version": 1,
        "candles": state["candles"],
        "nodes": by_key(evaluator._program, state["nodes"]),
        "previous": {
            s.strategy_id: prev
            for s, prev in zip(evaluator.strategies, state["previous"], strict=True)
        },
    }


def test_a_version_1_state_resumes_as_the_evaluator_it_was_taken_from():
    strategies = [library.build(name) for name in NAMES]
    candles = random_candles(41, n=400, gaps=True)
    split = 250
    first = IncrementalEvaluator(strategies, interval_ms=candles.interval_ms)
    _run(first, candles, 0, split)
    old = json.loads(json.dumps(_version_1(first, first.get_state())))
    resumed = IncrementalEvaluator(strategies, interval_ms=candles.interval_ms).with_state(old)
    expected = _run(first, candles, split, len(candles))
    assert expected  # the strategies signal after the split
    assert _run(resumed, candles, split, len(candles)) == expected
    assert resumed.get_state() == first.get_state()


def test_a_state_of_the_same_strategies_in_another_order_is_refused():
    strategies = [library.build(name) for name in NAMES]
    state = IncrementalEvaluator(strategies, interval_ms=60_000).get_state()
    reordered = IncrementalEvaluator(strategies[::-1], interval_ms=60_000)
    # Same nodes, same number of strategies: only the digest tells the lists apart.
    with pytest.raises(StrategyError, match="does not match"):
        reordered.with_state(state)


def test_a_state_with_a_node_list_of_another_length_is_refused():
    strategies = [library.build(name) for name in NAMES]
    evaluator = IncrementalEvaluator(strategies, interval_ms=60_000)
    state = evaluator.get_state()
    state["nodes"] = state["nodes"][:-1]
    with pytest.raises(StrategyError, match="does not match"):
        evaluator.with_state(state)
