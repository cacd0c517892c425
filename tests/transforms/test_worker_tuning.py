"""Worker tuning: cheaper state sizing with the same weights; the fused step's state values weigh little."""

from __future__ import annotations

import pickle

from apache_beam.runners.worker import statecache

from tests.support.builders import T0, trade
from tradestream.market import candle_math
from tradestream.transforms.symbol_signals import OpenCandles, SymbolSeries
from tradestream.transforms.worker_tuning import tune_worker


def _plain_state() -> dict:
    acc = candle_math.new_accumulator(trade(time_ms=T0))
    keys = set(range(-50, 50))
    return {"buckets": {T0: [acc, -1, keys]}, "floor": T0 - 1, "blob": b"x" * 4096}


def test_cheap_sizing_weighs_plain_data_exactly_as_before():
    value = _plain_state()
    before = statecache.get_deep_size(value)
    tune_worker()
    tune_worker()  # idempotent
    assert statecache.get_deep_size(value) == before


def test_symbol_states_round_trip_and_are_weighed_without_walking_them():
    opened = OpenCandles()
    keys = set(range(-5_000, 5_000))
    opened.book["buckets"][T0] = [candle_math.new_accumulator(trade(time_ms=T0)), 0, keys]
    copy = pickle.loads(pickle.dumps(opened))
    assert copy.book == opened.book
    assert statecache.get_deep_size(opened) < 1_000  # not a walk over 10,000 keys

    series = SymbolSeries()
    series.gaps["last"] = (T0, 101.5)
    series.strategies["evaluator"] = b"e" * 10_000
    copy = pickle.loads(pickle.dumps(series))
    assert (copy.gaps, copy.strategies) == (series.gaps, series.strategies)
    weight = statecache.get_deep_size(series)
    assert 10_000 <= weight < 10_000 + 1_000  # the evaluator's blob


def test_open_candles_written_again_carry_every_key_added_since():
    opened = OpenCandles()
    acc = candle_math.new_accumulator(trade(time_ms=T0))
    keys = set(range(100))
    opened.book["buckets"][T0] = [acc, -1, keys]
    pickle.dumps(opened)  # written once: its packed keys are kept
    keys.update(range(100, 150))  # more trades in the same open candle
    assert pickle.loads(pickle.dumps(opened)).book["buckets"][T0][2] == set(range(150))
    # The candle closed and one opened at the same start, with as many keys: packed anew.
    opened.book["buckets"][T0] = [acc, -1, set(range(1_000, 1_150))]
    assert pickle.loads(pickle.dumps(opened)).book["buckets"][T0][2] == set(range(1_000, 1_150))
    # A copy read back writes what it read.
    copy = pickle.loads(pickle.dumps(opened))
    assert pickle.loads(pickle.dumps(copy)).book == opened.book
