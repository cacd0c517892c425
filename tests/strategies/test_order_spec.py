"""A strategy graph that sets its entries' order (README "Order types"): parsed from a strategy
file, evaluated alike by both evaluators, carried by the signal protobuf."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from tests.strategies.series import random_candles
from tradestream.market.signal_messages import make_signal, strategy_proto
from tradestream.portfolio.engine import SignalEvent
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.incremental import IncrementalEvaluator
from tradestream.strategies.spec import load_strategy_file
from tradestream.strategies.vectorized import explain_signals, signal_orders
from tradestream.v1 import signal_pb2

PULLBACK_YAML = """
strategies:
  - name: SMA_PULLBACK
    description: SMA crossover entries as a limit order half an ATR below the close.
    params:
      fast: {kind: int, low: 2, high: 50, default: 5}
      slow: {kind: int, low: 3, high: 200, default: 20}
    nodes:
      fast_ma: {kind: sma, inputs: [close], params: {period: $fast}}
      slow_ma: {kind: sma, inputs: [close], params: {period: $slow}}
      atr: {kind: atr, inputs: [high, low, close], params: {period: 30}}
    entry: {kind: crosses_above, inputs: [fast_ma, slow_ma]}
    exit: {kind: crosses_below, inputs: [fast_ma, slow_ma]}
    order:
      type: limit
      price: {kind: sub, inputs: [close, {kind: mul, inputs: [0.5, atr]}]}
      time_in_force: 3
      stop: {kind: sub, inputs: [close, {kind: mul, inputs: [2, atr]}]}
      take_profit: {kind: add, inputs: [close, {kind: mul, inputs: [3, atr]}]}
"""


@pytest.fixture
def pullback(tmp_path):
    path = tmp_path / "pullback.yaml"
    path.write_text(PULLBACK_YAML)
    [strategy] = load_strategy_file(path)
    return strategy


def test_the_order_is_read_from_the_file_and_its_nodes_count_in_the_warmup(pullback):
    assert pullback.order is not None and pullback.order.type == "limit"
    assert set(pullback.order.nodes()) == {"price", "stop", "take_profit"}
    assert pullback.order.time_in_force == 3
    assert pullback.warmup == 31  # ATR(30) needs 30 candles before its first value


def test_an_entrys_order_values_are_the_nodes_at_its_candle_against_talib(pullback):
    candles = random_candles(4, 600)
    orders = signal_orders(pullback, candles)
    buys = [t for t, action, _ in explain_signals(pullback, candles) if action == "BUY"]
    assert sorted(orders) == buys and len(buys) > 5
    atr = talib.ATR(candles.high, candles.low, candles.close, timeperiod=30)
    for t in buys:
        kind, price, tif, stop, target = orders[t]
        close = candles.close[t]
        assert (kind, tif) == ("limit", 3)
        assert price == pytest.approx(close - 0.5 * atr[t], rel=1e-12)
        assert stop == pytest.approx(close - 2 * atr[t], rel=1e-12)
        assert target == pytest.approx(close + 3 * atr[t], rel=1e-12)


def test_both_evaluators_give_the_same_orders(pullback):
    candles = random_candles(9, 800)
    vectorized = signal_orders(pullback, candles)
    evaluator = IncrementalEvaluator([pullback])
    incremental = {}
    for t in range(len(candles.close)):
        for emission in evaluator.update(
            candles.open[t], candles.high[t], candles.low[t], candles.close[t], candles.volume[t]
        ):
            if emission.action == "BUY":
                incremental[t] = emission.order
            else:
                assert emission.order is None
    assert sorted(incremental) == sorted(vectorized)
    for t, got in incremental.items():
        want = vectorized[t]
        assert got[0] == want[0] and got[2] == want[2]
        np.testing.assert_allclose([got[1], got[3], got[4]], [want[1], want[3], want[4]],
                                   rtol=1e-9)  # fmt: skip


def test_a_signal_carries_the_order_to_the_executor(pullback):
    candles = random_candles(4, 600)
    t, order = next(iter(signal_orders(pullback, candles).items()))
    proto = make_signal(strategy_proto(pullback.type_name, pullback.params, pullback.strategy_id),
                        "BTC-USD", "BUY", float(candles.close[t]), 0, 60_000, "r", order=order)  # fmt: skip
    event = SignalEvent.from_proto(signal_pb2.Signal.FromString(proto.SerializeToString()))
    assert (event.order_type, event.time_in_force) == ("limit", 3)
    assert (event.order_price, event.stop_price, event.take_profit_price) == order[1:2] + order[3:]


@pytest.mark.parametrize(
    "order,message",
    [
        ({"type": "limit"}, "a limit order needs a 'price' node"),
        ({"type": "iceberg", "price": "close"}, "order type must be one of"),
        (
            {"type": "market", "stop": {"kind": "above", "inputs": ["close", 1]}},
            "order stop must be a value node",
        ),  # fmt: skip
        ({"type": "limit", "price": "close", "size": 3}, "order: unknown keys ['size']"),
        ({"type": "stop", "price": "close", "time_in_force": -1}, "time_in_force must be"),
    ],
)
def test_bad_orders_are_refused_with_the_strategys_name(tmp_path, order, message):
    import yaml

    document = yaml.safe_load(PULLBACK_YAML)
    document["strategies"][0]["order"] = order
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(StrategyError, match="SMA_PULLBACK") as raised:
        load_strategy_file(path)
    assert message in str(raised.value)
