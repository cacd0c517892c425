"""State sizing in the SDK worker: cheaper, and the same weights for plain-data state."""

from __future__ import annotations

import pickle

from apache_beam.runners.worker import statecache

from tests.support.builders import T0, trade
from transforms import candle_math
from transforms.state_sizing import use_cheap_state_sizing
from transforms.symbol_signals import SymbolState


def _plain_state() -> dict:
    acc = candle_math.new_accumulator(trade(time_ms=T0))
    keys = {f"test|{i}" for i in range(100)}
    return {"buckets": {T0: [acc, -1, keys]}, "floor": T0 - 1, "blob": b"x" * 4096}


def test_cheap_sizing_weighs_plain_data_exactly_as_before():
    value = _plain_state()
    before = statecache.get_deep_size(value)
    use_cheap_state_sizing()
    use_cheap_state_sizing()  # idempotent
    assert statecache.get_deep_size(value) == before


def test_symbol_state_round_trips_and_is_weighed_by_its_evaluator_blob():
    state = SymbolState()
    state.book["buckets"][T0] = [candle_math.new_accumulator(trade(time_ms=T0)), 0, {"a|1"}]
    state.strategies["evaluator"] = b"e" * 10_000
    copy = pickle.loads(pickle.dumps(state))
    assert (copy.book, copy.gaps, copy.strategies) == (state.book, state.gaps, state.strategies)
    weight = statecache.get_deep_size(state)
    assert 10_000 <= weight < 10_000 + 1_000  # the blob, not a walk over every field
