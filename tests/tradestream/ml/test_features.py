"""Features: computed from candles up to their own (no look-ahead), and spelled in strategy
files so that loading the file gives back the same nodes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.strategies.series import random_candles
from tradestream.ml.features import (
    default_features,
    feature_matrix,
    node_spec,
    strategy_features,
)
from tradestream.ml.supervised import labels, training_rows
from tradestream.strategies import library
from tradestream.strategies import nodes as n
from tradestream.strategies.candle_arrays import CandleArrays
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.spec import parse_document


def _perturbed_after(candles: CandleArrays, t: int, seed: int) -> CandleArrays:
    """The same candles up to t; every later candle moved at random (still a valid candle)."""
    rng = np.random.default_rng(seed)
    k = len(candles) - t - 1
    factor = np.concatenate([np.ones(t + 1), rng.uniform(0.5, 2.0, k)])
    volume = np.concatenate([candles.volume[: t + 1], rng.uniform(0.0, 5000.0, k)])
    return CandleArrays(
        candles.open * factor,
        candles.high * factor,
        candles.low * factor,
        candles.close * factor,
        volume,
        start_ms=candles.start_ms,
        interval_ms=candles.interval_ms,
    )


@pytest.mark.parametrize("t", [60, 137, 250])
def test_features_of_candle_t_do_not_change_when_later_candles_do(t):
    candles = random_candles(11, 400)
    features = [*default_features(), n.at_interval(n.rsi(n.close, 5), 300)]
    before, lookback = feature_matrix(features, candles)

    after, _ = feature_matrix(features, _perturbed_after(candles, t, seed=t))

    assert lookback < t
    np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
    assert not np.array_equal(after[t + 1 :], before[t + 1 :])  # the perturbation is seen


def test_training_rows_never_take_a_label_that_ends_after_the_window():
    candles = random_candles(3, 200)
    x, lookback = feature_matrix(default_features(), candles)
    horizon = 5

    rows = training_rows(x, lookback, 0, 120, horizon)
    y = labels(candles.close, horizon)

    assert rows.min() >= lookback and rows.max() + horizon < 120
    assert np.isfinite(y[rows]).all()
    assert np.isnan(y[-horizon:]).all()


def test_strategy_features_are_the_values_its_rules_compare():
    strategy = library.build("SMA_CROSSOVER", {"fast": 5, "slow": 20})

    assert strategy_features([strategy]) == [n.sma(n.close, 5), n.sma(n.close, 20)]


def test_strategy_features_refuse_a_strategy_that_reads_the_order_book():
    with pytest.raises(StrategyError, match="order book"):
        strategy_features([library.build("ORDER_BOOK_IMBALANCE")])


def test_node_spec_read_back_by_the_strategy_file_parser_gives_the_same_nodes():
    features = [
        *default_features(),
        n.at_interval(n.ema(n.close, 9), 3600),
        n.sub(n.close, 2.5),
        *strategy_features([library.build(name) for name in ("SMA_RSI", "ICHIMOKU_CLOUD")]),
    ]
    names = [f"f{i}" for i in range(len(features))]
    document = {
        "strategies": [
            {
                "name": "READ_BACK",
                "nodes": {name: node_spec(f) for name, f in zip(names, features, strict=True)},
                "entry": {
                    "kind": "and",
                    "inputs": [{"kind": "above", "inputs": [nm, 0]} for nm in names],
                },
                "exit": {"kind": "below", "inputs": [names[0], 0]},
            }
        ]
    }

    [(stype, values)] = parse_document(document)
    entry = stype.build(values).entry

    assert [rule.inputs[0] for rule in entry.inputs] == features
    assert [str(rule.inputs[0]) for rule in entry.inputs] == [str(f) for f in features]
