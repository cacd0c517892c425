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
from tradestream.strategies.incremental import TIME_SLOT, IncrementalEvaluator

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


def _stepped_one_by_one(program, row, start_ms) -> list:
    """What `_Program.run` must do, written as the plain loop over its steps."""
    values = program.values
    values[:5] = [float(x) for x in row]
    values[TIME_SLOT] = start_ms
    for step, inputs, out in program.steps:
        values[out] = step(*[values[i] for i in inputs])
    return values


@pytest.mark.parametrize("names", [TYPES, MTF], ids=["library", "multi-timeframe"])
def test_the_compiled_step_sequence_computes_every_node_as_the_plain_loop(names):
    # run() calls the steps through straight-line code made for the program's slots: every
    # node's value after every candle must be the plain loop's, for one-input, two-input
    # and many-input (timeframe) steps alike, in fresh copies too.
    candles = random_candles(5, n=300, gaps=True)
    compiled = IncrementalEvaluator(_strategies(names), interval_ms=candles.interval_ms)
    arities = {len(inputs) for _, inputs, _ in compiled._program.steps}
    assert {1, 2} <= arities and max(arities) > 2
    ran, looped = compiled.fresh(), compiled.fresh()
    for t in range(len(candles)):
        start = int(candles.start_ms[t])
        got = list(ran._program.run(*candles.row(t), start))
        expected = _stepped_one_by_one(looped._program, candles.row(t), start)
        assert len(got) == len(expected)
        for slot, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert a == b or (a != a and b != b), (t, slot, compiled._program.keys)
