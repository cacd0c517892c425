"""Model inputs as strategy-graph nodes: the default indicator set, or a strategy's values.

    nodes = default_features()                      # [roc(close,1), ..., rsi(close,14), ...]
    nodes = strategy_features(strategies)           # the values a strategy's rules compare
    x, lookback = feature_matrix(nodes, candles)    # (n, k) float64, NaN before `lookback`

A feature is a value node of the strategy vocabulary (:mod:`tradestream.strategies.nodes`),
computed by the vectorized evaluator over a symbol's candles. Every node is causal (its value
at candle t reads candles <= t), so the feature row of candle t is what the live evaluator
would have at t's close; the model node that reads them later in a strategy file is fed by the
same nodes (`node_spec` spells them as strategy-file nodes, and their text, ``str(node)``, is
the manifest's feature list).

The default set is scale-free (returns, ratios to the price, oscillators), so a model trained
on one symbol or period can read another: returns over 1, 5 and 15 candles (ROC, percent),
RSI(14), the MACD line over the close, ATR(14) over the close, the close's z-score in its
20-candle Bollinger band, the volume over its 20-candle mean, ADX(14), the 20-candle
regression slope over the close and the distance to the 50-candle EMA over the close.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tradestream.strategies import nodes as n
from tradestream.strategies.candle_arrays import BOOK_FIELDS, FIELDS, CandleArrays
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import TIMEFRAME, Node, interval_text, topological
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.timeframes import lookbacks
from tradestream.strategies.vectorized import compute_nodes


def default_features() -> list[Node]:
    """The default indicator set (module docstring), in input order."""
    close = n.close
    mean20 = n.sma(close, 20)
    return [
        n.roc(close, 1),
        n.roc(close, 5),
        n.roc(close, 15),
        n.rsi(close, 14),
        n.div(n.macd(close, 12, 26), close),
        n.div(n.atr(14), close),
        n.div(n.sub(close, mean20), n.stddev(close, 20)),
        n.div(n.volume, n.sma(n.volume, 20)),
        n.adx(14),
        n.div(n.linearreg_slope(close, 20), close),
        n.div(n.sub(close, n.ema(close, 50)), close),
    ]


def strategy_features(strategies: Iterable[Strategy]) -> list[Node]:
    """The value nodes the strategies' rules read: every series input of a rule node that is
    not a constant, in graph order, each once (``SMA_CROSSOVER``: its two averages).

    Raises:
        StrategyError: no such node (the strategies compare only constants), or a strategy
            reads the order book (training reads candles only).
    """
    found: list[Node] = []
    for strategy in strategies:
        if strategy.reads_book:
            raise StrategyError(
                f"{strategy.strategy_id} reads the order book; training reads candles only"
            )
        for node in topological(strategy.roots()):
            if node.output != "rule":
                continue
            for child in node.inputs:
                if child.output == "series" and child.kind != "const" and child not in found:
                    found.append(child)
    if not found:
        raise StrategyError("the strategies' rules compare no value node to use as a feature")
    return found


def feature_lookback(features: Sequence[Node], interval_ms: int) -> int:
    """The first candle at which every feature is defined (the model node's input lookback)."""
    known = lookbacks(list(features), interval_ms)
    return max(known[f] for f in features)


def feature_matrix(features: Sequence[Node], candles: CandleArrays) -> tuple[np.ndarray, int]:
    """The features of every candle.

    Args:
        features: value nodes, in input order.
        candles: one symbol's candles (with times and interval).

    Returns:
        ((n, k) float64 matrix, lookback): row t holds the features at candle t's close; rows
        before the lookback are not defined (NaN or TA-Lib's warm-up values).
    """
    values = compute_nodes(list(features), candles)
    matrix = np.empty((len(candles), len(features)), dtype=np.float64)
    for j, feature in enumerate(features):
        matrix[:, j] = values[feature]
    return matrix, feature_lookback(features, candles.interval_ms)


def node_spec(node: Node) -> Any:
    """A node as a strategy file spells it: a candle field's name, a number for a constant,
    else ``{kind, inputs, params}`` (with ``interval`` for a node on longer candles), so that
    loading the file gives back an equal node.

    Raises:
        StrategyError: a node the file format cannot spell (a model node, a candle field on
            longer candles).
    """
    if node.kind in FIELDS or node.kind in BOOK_FIELDS:
        return node.kind
    if node.kind == "const":
        value = node.params[0][1]
        return int(value) if float(value).is_integer() and abs(value) < 1e15 else value
    if node.kind == "model":
        raise StrategyError(f"{node}: a model node cannot be a feature of another model")
    if node.kind == TIMEFRAME:
        inner = node_spec(node.inputs[0])
        if not isinstance(inner, dict):
            raise StrategyError(f"{node}: a candle field on longer candles has no file spelling")
        return {**inner, "interval": interval_text(node.params[0][1] * 1000)}
    spec: dict[str, Any] = {"kind": node.kind}
    if node.inputs:
        spec["inputs"] = [node_spec(child) for child in node.inputs]
    if node.params:
        spec["params"] = {name: value for name, value in node.params}
    return spec
