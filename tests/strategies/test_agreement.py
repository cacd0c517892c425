"""The key property: vectorized and incremental evaluators emit the same signals at the same
candles, for every library strategy type, random valid parameters and random candle series
(including integer prices and flat stretches, which create exact ties); and the incremental
state survives a JSON round trip mid-stream."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.strategies.series import random_candles
from tradestream.strategies import library
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.incremental import IncrementalEvaluator
from tradestream.strategies.vectorized import evaluate_vectorized

series = st.builds(
    random_candles,
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 160),
    integer=st.booleans(),
    flat=st.booleans(),
)


def draw_params(data, type_name: str) -> dict:
    params = {}
    for spec in library.get(type_name).params:
        if spec.kind == "int":
            high = min(spec.high, max(spec.low, spec.default * 2, 12))
            params[spec.name] = data.draw(st.integers(spec.low, high), label=spec.name)
        else:
            params[spec.name] = data.draw(
                st.floats(spec.low, spec.high, allow_nan=False), label=spec.name
            )
    return params


def run_incremental(strategies, candles, split: int | None = None) -> dict[str, np.ndarray]:
    out = {s.strategy_id: np.zeros(len(candles), dtype=np.int8) for s in strategies}
    interval = candles.interval_ms
    evaluator = IncrementalEvaluator(strategies, interval_ms=interval)
    for t in range(len(candles)):
        if t == split:
            state = json.loads(json.dumps(evaluator.get_state()))
            evaluator = IncrementalEvaluator.from_state(strategies, state, interval_ms=interval)
        start = None if candles.start_ms is None else int(candles.start_ms[t])
        book = candles.book_values(t)
        for emission in evaluator.update(*candles.row(t), start_ms=start, book=book):
            assert emission.index == t
            out[emission.strategy_id][t] = 1 if emission.action == "BUY" else -1
    return out


@pytest.mark.parametrize("type_name", library.names())
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data(), candles=series)
def test_evaluators_agree_for_every_strategy_type(type_name, data, candles):
    try:
        strategy = library.build(type_name, draw_params(data, type_name))
    except StrategyError:
        assume(False)
    split = data.draw(st.integers(0, len(candles)), label="state round trip at")
    vectorized = evaluate_vectorized([strategy], candles)[strategy.strategy_id]
    incremental = run_incremental([strategy], candles, split)[strategy.strategy_id]
    assert np.array_equal(vectorized, incremental)
    assert not vectorized[: strategy.warmup_at(candles.interval_ms)].any()


def test_all_types_together_share_nodes_and_agree_with_unshared():
    candles = random_candles(3, 400, integer=True, flat=True)
    strategies = [library.build(name) for name in library.names()]
    shared = evaluate_vectorized(strategies, candles)
    unshared = evaluate_vectorized(strategies, candles, share_nodes=False)
    incremental = run_incremental(strategies, candles, split=200)
    for strategy in strategies:
        key = strategy.strategy_id
        assert np.array_equal(shared[key], unshared[key])
        assert np.array_equal(shared[key], incremental[key])


def test_incremental_state_is_plain_json_data():
    strategies = [library.build(name) for name in library.names()]
    evaluator = IncrementalEvaluator(strategies, interval_ms=60_000)
    candles = random_candles(5, 120)
    for t in range(len(candles)):
        evaluator.update(
            *candles.row(t), start_ms=int(candles.start_ms[t]), book=candles.book_values(t)
        )
    state = evaluator.get_state()
    assert json.loads(json.dumps(state, allow_nan=False)) == state


def test_from_state_rejects_state_of_other_strategies():
    a = [library.build("SMA_CROSSOVER")]
    b = [library.build("SMA_CROSSOVER", {"fast": 5})]
    state = IncrementalEvaluator(a).get_state()
    with pytest.raises(StrategyError):
        IncrementalEvaluator.from_state(b, state)
