"""EvaluateStrategies: streaming signals equal the vectorized evaluator's, ids deterministic."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from tests.support.builders import (
    MINUTE,
    T0,
    candle,
    keyed_candle,
    seconds,
    signal_row,
    streaming_options,
)
from tests.support.vectorized_signals import signals_for_candles
from tradestream.market.signal_messages import signal_id
from tradestream.strategies import library
from tradestream.transforms.evaluate import EvaluateStrategies

CLOSES = [10, 11, 12, 13, 12, 11, 10, 9, 10, 12, 14, 15, 13, 11, 9, 8, 9, 11, 13, 14]


def _candles(closes, symbol="BTC-USD"):
    return [candle(T0 + i * MINUTE, float(c), symbol=symbol) for i, c in enumerate(closes)]


def test_evaluate_streaming_signals_equal_vectorized_reference():
    strategies = [
        library.build("SMA_CROSSOVER", {"fast": 2, "slow": 4}),
        library.build("SMA_CROSSOVER", {"fast": 3, "slow": 5}),
    ]
    btc, eth = _candles(CLOSES), _candles([c * 2 for c in reversed(CLOSES)], "ETH-USD")
    expected = [signal_row(s) for s in signals_for_candles(strategies, btc)]
    expected += [signal_row(s) for s in signals_for_candles(strategies, eth)]
    assert {e[4] for e in expected} == {"BUY", "SELL"}, "the series must trigger both actions"

    stream = TestStream()
    for b, e in zip(btc, eth, strict=True):  # interleaved symbols, one candle at a time
        stream = stream.add_elements([keyed_candle(b), keyed_candle(e)]).advance_watermark_to(
            seconds(b.start_ms + MINUTE)
        )
    stream = stream.advance_watermark_to_infinity()
    with TestPipeline(options=streaming_options()) as p:
        signals = p | stream | EvaluateStrategies(strategies)
        assert_that(signals | beam.Map(lambda kv: signal_row(kv[1])), equal_to(expected))


def test_evaluate_out_of_order_candles_are_evaluated_in_start_order():
    strategies = [library.build("SMA_CROSSOVER", {"fast": 2, "slow": 4})]
    candles = _candles(CLOSES)
    expected = [signal_row(s) for s in signals_for_candles(strategies, candles)]
    shuffled = list(candles)
    np.random.default_rng(7).shuffle(shuffled)
    with TestPipeline() as p:
        signals = (
            p | beam.Create(shuffled) | beam.Map(keyed_candle) | EvaluateStrategies(strategies)
        )
        assert_that(signals | beam.Map(lambda kv: signal_row(kv[1])), equal_to(expected))


def test_evaluate_corrections_are_not_re_evaluated():
    strategies = [library.build("SMA_CROSSOVER", {"fast": 2, "slow": 4})]
    candles = _candles(CLOSES)
    corrected = candle(candles[8].start_ms, 99.0, revision=1)  # would change signals
    expected = [signal_row(s) for s in signals_for_candles(strategies, candles)]
    with TestPipeline() as p:
        signals = (
            p
            | beam.Create([*candles, corrected])
            | beam.Map(keyed_candle)
            | EvaluateStrategies(strategies)
        )
        assert_that(signals | beam.Map(lambda kv: signal_row(kv[1])), equal_to(expected))


def test_signal_id_is_deterministic_and_distinguishes_inputs():
    a = signal_id("SMA_CROSSOVER(fast=2,slow=4)", "BTC-USD", T0, "BUY")
    assert a == signal_id("SMA_CROSSOVER(fast=2,slow=4)", "BTC-USD", T0, "BUY")
    assert len(a) == 32 and int(a, 16) >= 0
    others = {
        signal_id("SMA_CROSSOVER(fast=2,slow=5)", "BTC-USD", T0, "BUY"),
        signal_id("SMA_CROSSOVER(fast=2,slow=4)", "ETH-USD", T0, "BUY"),
        signal_id("SMA_CROSSOVER(fast=2,slow=4)", "BTC-USD", T0 + 1, "BUY"),
        signal_id("SMA_CROSSOVER(fast=2,slow=4)", "BTC-USD", T0, "SELL"),
    }
    assert a not in others and len(others) == 4
