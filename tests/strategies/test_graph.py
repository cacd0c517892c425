"""Graph nodes: validation, canonical text, sharing by value, lookbacks."""

import pytest

from tradestream.strategies import nodes as n
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import Node, topological


def test_identical_nodes_are_equal_and_shared_once():
    a = n.crosses_above(n.sma(n.close, 10), n.sma(n.close, 30))
    b = n.above(n.sma(n.close, 10), 70)
    assert n.sma(n.close, 10) == n.sma(n.close, 10.0)
    assert hash(n.sma(n.close, 10)) == hash(n.sma(n.close, 10))
    order = topological([a, b])
    assert order.count(n.sma(n.close, 10)) == 1
    assert order.index(n.sma(n.close, 10)) < order.index(a)


def test_canonical_text_and_lookback():
    node = n.crosses_above(n.sma(n.close, 10), n.sma(n.close, 30))
    assert str(node) == "crosses_above(sma(close,10),sma(close,30))"
    assert node.lookback == 30
    assert n.ema(n.rsi(n.close, 14), 9).lookback == 14 + 8
    assert n.rising(n.close, 3).lookback == 3


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Node("nope"), "unknown node kind"),
        (lambda: Node("sma", (n.close, n.close), (("period", 3),)), "takes 1 input"),
        (lambda: Node("sma", (n.close,), ()), "missing"),
        (lambda: Node("sma", (n.close,), (("period", 3), ("x", 1))), "unknown"),
        (lambda: Node("and", (n.above(n.close, 1),)), "at least 2"),
        (lambda: Node("sma", (n.above(n.close, 1),), (("period", 3),)), "expected a series"),
        (lambda: n.macd(n.close, 26, 12), "fast must be < slow"),
        (lambda: n.rsi(n.close, 1), ">= 2"),
    ],
)
def test_invalid_nodes_raise_strategy_error(build, message):
    with pytest.raises(StrategyError, match=message):
        build()
