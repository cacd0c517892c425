"""Worker tuning: cheaper state sizing with the same weights; SymbolState weighs little."""

from __future__ import annotations

import pickle

from apache_beam.runners.worker import statecache

from tests.support.builders import T0, trade
from transforms import candle_math
from transforms.symbol_signals import SymbolState
from transforms.worker_tuning import tune_worker


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


def test_symbol_state_round_trips_and_is_weighed_by_its_evaluator_blob():
    state = SymbolState()
    state.book["buckets"][T0] = [candle_math.new_accumulator(trade(time_ms=T0)), 0, {-5, 7, 2**62}]
    state.strategies["evaluator"] = b"e" * 10_000
    copy = pickle.loads(pickle.dumps(state))
    assert (copy.book, copy.gaps, copy.strategies) == (state.book, state.gaps, state.strategies)
    weight = statecache.get_deep_size(state)
    assert 10_000 <= weight < 10_000 + 1_000  # the blob, not a walk over every field
