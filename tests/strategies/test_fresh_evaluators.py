"""`IncrementalEvaluator.fresh` and `with_state`: one compiled evaluator, many symbols.

The realtime step makes each symbol's evaluator from one compiled evaluator instead of
compiling the strategies' graph again (about 75 ms for the library). A fresh evaluator must
be exactly what compiling again gives, whatever the compiled one has been through, and two
fresh evaluators must not share any state.
"""

from __future__ import annotations

import json

import pytest

from tests.strategies.series import random_candles
from tradestream.strategies import library
from tradestream.strategies.incremental import IncrementalEvaluator

# Every type that needs no order book, the multi-timeframe ones included.
TYPES = [name for name in library.names() if not library.build(name).reads_book]
MTF = ["MTF_TREND_CROSSOVER", "RSI_TWO_TIMEFRAMES", "NSE_WEIGHTED_VOTE"]


def _run(evaluator: IncrementalEvaluator, candles, first: int = 0) -> list:
    out = []
    for t in range(first, len(candles)):
        out += evaluator.update(*candles.row(t), start_ms=int(candles.start_ms[t]))
    return out


def _strategies(names):
    return [library.build(name) for name in names]


@pytest.mark.parametrize("names", [TYPES, MTF], ids=["library", "multi-timeframe"])
def test_a_fresh_evaluator_is_the_compiled_one_before_its_first_candle(names):
    strategies = _strategies(names)
    candles = random_candles(11, n=400, gaps=True)
    reference = IncrementalEvaluator(strategies, interval_ms=candles.interval_ms)
    expected = _run(reference, candles)
    compiled = IncrementalEvaluator(strategies, interval_ms=candles.interval_ms)
    _run(compiled, random_candles(12, n=300))  # what it went through must not carry over
    fresh = compiled.fresh()
    assert _run(fresh, candles) == expected
    assert fresh.get_state() == reference.get_state()
    assert expected  # the series made the strategies signal


@pytest.mark.parametrize("names", [TYPES, MTF], ids=["library", "multi-timeframe"])
def test_with_state_continues_as_from_state_does(names):
    strategies = _strategies(names)
    candles = random_candles(21, n=400, gaps=True)
    split = 250
    reference = IncrementalEvaluator(strategies, interval_ms=candles.interval_ms)
    expected = _run(reference, candles)
    first = IncrementalEvaluator(strategies, interval_ms=candles.interval_ms)
    for t in range(split):
        first.update(*candles.row(t), start_ms=int(candles.start_ms[t]))
    state = json.loads(json.dumps(first.get_state()))
    compiled = IncrementalEvaluator(strategies, interval_ms=candles.interval_ms)
    resumed = compiled.with_state(state)
    assert _run(resumed, candles, split) == [e for e in expected if e.index >= split]
    assert resumed.get_state() == reference.get_state()


def test_fresh_evaluators_share_no_state():
    strategies = _strategies(TYPES[:20] + MTF[:1])
    a_candles, b_candles = random_candles(31, n=300), random_candles(32, n=300)
    compiled = IncrementalEvaluator(strategies, interval_ms=a_candles.interval_ms)
    a, b = compiled.fresh(), compiled.fresh()
    out_a, out_b = [], []
    for t in range(300):  # interleaved, as one worker steps many symbols
        out_a += a.update(*a_candles.row(t), start_ms=int(a_candles.start_ms[t]))
        out_b += b.update(*b_candles.row(t), start_ms=int(b_candles.start_ms[t]))
    assert out_a == _run(IncrementalEvaluator(strategies, interval_ms=a_candles.interval_ms),
                         a_candles)  # fmt: skip
    assert out_b == _run(IncrementalEvaluator(strategies, interval_ms=b_candles.interval_ms),
                         b_candles)  # fmt: skip
    assert compiled.candles_seen == 0
