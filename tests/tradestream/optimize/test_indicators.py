"""Cached indicator values give exactly the vectorized evaluator's signals."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tradestream.optimize.builders import sine_close
from tradestream.optimize.genome import make_space
from tradestream.optimize.indicators import NodeCache, cached_signals
from tradestream.strategies import library
from tradestream.strategies.candle_arrays import CandleArrays
from tradestream.strategies.vectorized import evaluate_vectorized


def _candles(n=800):
    close = sine_close(n, noise=0.004)
    rng = np.random.default_rng(2)
    high = close * (1 + 0.002 * rng.random(n))
    low = close * (1 - 0.002 * rng.random(n))
    return CandleArrays(close, high, low, close, 1 + rng.random(n))


@pytest.mark.parametrize(
    "name", ["SMA_RSI", "SMA_CROSSOVER", "MACD_CROSSOVER", "ATR_TRAILING_STOP", "STOCHASTIC_RSI"]
)
def test_indicators_cached_signals_equal_evaluate_vectorized(name):
    stype = library.get(name)
    rng = np.random.default_rng(0)
    space = make_space(stype)
    built = (space.build(space.sample(rng)) for _ in range(6))
    strategies = list({s.strategy_id: s for s in built}.values())
    candles = _candles()
    cache = NodeCache(64 * 1024 * 1024)
    expected = evaluate_vectorized(strategies, candles)
    first = cached_signals(strategies, candles, "series@800", cache)
    assert cache.misses > 0 and len(cache) > 0
    again = cached_signals(strategies[::-1], candles, "series@800", cache)
    assert cache.hits > 0
    for s in strategies:
        np.testing.assert_array_equal(first[s.strategy_id], expected[s.strategy_id])
        np.testing.assert_array_equal(again[s.strategy_id], expected[s.strategy_id])


def test_indicators_cache_keys_separate_histories_and_evict_by_size():
    cache = NodeCache(3 * 8 * 100)  # 2,400 bytes: three arrays of 100 floats
    s = library.build("SMA_CROSSOVER", {"fast": 3, "slow": 9})
    cached_signals([s], _candles(100), "a@100", cache)
    assert len(cache) == 2 and cache.misses == 2  # two SMAs; rules and fields are not kept
    cached_signals([s], _candles(150), "a@150", cache)  # another history: not served from a@100
    assert cache.hits == 0 and cache.misses == 4
    assert len(cache) == 2  # the 1,200-byte arrays pushed the older ones out
    cached_signals([s], _candles(150), "a@150", cache)
    assert cache.hits == 2


def test_indicators_cached_values_are_read_only():
    cache = NodeCache(10**6)
    cached_signals([library.build("SMA_CROSSOVER", {})], _candles(100), "k", cache)
    value = cache.get(next(iter(cache._values)))
    with pytest.raises(ValueError):
        value[0] = 1.0
