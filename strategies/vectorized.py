"""The vectorized evaluator: whole candle arrays in, one signal array per strategy out.

Used by backtests and the optimizer. Each distinct node is computed once per call (TA-Lib over
the whole array, or numpy), however many strategies share it; ``share_nodes=False`` computes
every strategy on its own (for the benchmark).

Signals follow the package semantics (see :mod:`strategies`): +1 BUY on a rising edge of the
entry rule, -1 SELL on a rising edge of the exit rule, 0 otherwise, nothing before the warm-up
and nothing when both fire on the same candle.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from tradestream.strategies.actions import BUY, clip_confidence, order_tuple, reason_text
from tradestream.strategies.candle_arrays import BOOK_FIELDS, FIELDS, CandleArrays
from tradestream.strategies.graph import TIMEFRAME, Node, topological
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.timeframes import (
    aggregate,
    has_timeframes,
    input_lookback,
    lookbacks,
    node_interval_ms,
    ratio,
    spread_back,
)


class NodeStore(Protocol):
    """Where `compute_nodes` may find and keep series values (the optimizer's cache)."""

    def get(self, node: Node) -> np.ndarray | None: ...

    def put(self, node: Node, value: np.ndarray) -> None: ...


def compute_nodes(
    roots: Iterable[Node], candles: CandleArrays, store: NodeStore | None = None
) -> dict[Node, np.ndarray]:
    """Computes every node under ``roots`` once, inputs first.

    Args:
        roots: the nodes wanted.
        candles: one symbol's candles (with their times and interval when a node reads
            longer candles).
        store: series values to reuse and keep (rules are always computed).

    Returns:
        node -> float64 array (series) or bool array (rules), all of length ``len(candles)``.

    Raises:
        StrategyError: a node reads longer candles that the candles' interval does not divide,
            or the candles carry no times.
    """
    roots = list(roots)
    values: dict[Node, np.ndarray] = {}
    n = len(candles)
    known = lookbacks(roots, candles.interval_ms) if has_timeframes(roots) else None
    longer: dict[int, tuple[CandleArrays, np.ndarray]] = {}
    for node in topological(roots, into_timeframes=False):
        if node.kind in FIELDS or node.kind in BOOK_FIELDS:
            values[node] = candles.field(node.kind)
            continue
        if node.kind == "const":
            values[node] = np.full(n, node.params[0][1], dtype=np.float64)
            continue
        rule = node.output == "rule"
        cached = None if rule or store is None else store.get(node)
        if cached is not None:
            values[node] = cached
            continue
        if node.kind == TIMEFRAME:
            out = _timeframe(node, candles, known[node], longer)
        else:
            inputs = [values[child] for child in node.inputs]
            lookback = node.input_lookback if known is None else input_lookback(node, known)
            out = node.spec.batch(inputs, node.param_dict, lookback)
        value = np.asarray(out, dtype=bool if rule else np.float64).reshape(n)
        if not rule and store is not None:
            store.put(node, value)
        values[node] = value
    return values


def _timeframe(node: Node, candles: CandleArrays, lookback: int, longer: dict) -> np.ndarray:
    """A timeframe node's values: its input computed on the longer candles, shown on each
    candle from the one its longer candle closes at (`timeframes` module docstring)."""
    ratio(node, candles.interval_ms)  # a clear error when the interval does not divide
    size = node_interval_ms(node)
    if size not in longer:
        longer[size] = aggregate(candles, size)
    bars, closes = longer[size]
    child = node.inputs[0]
    inner = compute_nodes([child], bars)[child] if len(bars) else np.zeros(0)
    if child.output == "rule":
        inner = inner.astype(bool)
    return spread_back(inner, closes, len(candles), lookback)


def signals_from_rules(entry: np.ndarray, exit_: np.ndarray, warmup: int) -> np.ndarray:
    """Turns entry/exit truth arrays into the int8 signal array (edges, warm-up, conflicts)."""
    n = entry.shape[0]
    buy = np.zeros(n, dtype=bool)
    sell = np.zeros(n, dtype=bool)
    buy[1:] = entry[1:] & ~entry[:-1]
    sell[1:] = exit_[1:] & ~exit_[:-1]
    out = buy.astype(np.int8) - sell.astype(np.int8)
    out[: min(warmup, n)] = 0
    return out


def evaluate_vectorized(
    strategies: Iterable[Strategy], candles: CandleArrays, *, share_nodes: bool = True
) -> dict[str, np.ndarray]:
    """Evaluates strategies over one symbol's candles.

    Args:
        strategies: built strategies (ids must be distinct).
        candles: the symbol's candle arrays, oldest first.
        share_nodes: compute shared nodes once (default) or per strategy (benchmarking).

    Returns:
        strategy_id -> int8 array (+1 BUY, -1 SELL, 0 nothing), one entry per candle.
    """
    strategies = list(strategies)
    warmups = [s.warmup_at(candles.interval_ms) for s in strategies]  # errors name the strategy
    out: dict[str, np.ndarray] = {}
    if share_nodes:
        values = compute_nodes([r for s in strategies for r in (s.entry, s.exit)], candles)
    for strategy, warmup in zip(strategies, warmups, strict=True):
        if not share_nodes:
            values = compute_nodes([strategy.entry, strategy.exit], candles)
        out[strategy.strategy_id] = signals_from_rules(
            values[strategy.entry], values[strategy.exit], warmup
        )
    return out


def explain_signals(strategy: Strategy, candles: CandleArrays) -> list[tuple[int, str, str]]:
    """Lists every signal of ``strategy`` with its reason.

    Returns:
        ``(candle index, "BUY" | "SELL", reason)`` tuples in candle order.
    """
    values = compute_nodes([strategy.entry, strategy.exit], candles)
    signals = signals_from_rules(
        values[strategy.entry], values[strategy.exit], strategy.warmup_at(candles.interval_ms)
    )
    result = []
    for t in np.flatnonzero(signals):
        action = int(signals[t])
        rule = strategy.entry if action == BUY else strategy.exit
        text = reason_text(action, rule, lambda node, t=t: bool(values[node][t]))
        result.append((int(t), "BUY" if action == BUY else "SELL", text))
    return result


def signal_confidences(strategy: Strategy, candles: CandleArrays) -> dict[int, float]:
    """The confidence of each signal of ``strategy``, by candle index ({} without a confidence
    node: every signal's is 1), as the incremental evaluator emits it."""
    if strategy.confidence is None:
        return {}
    values = compute_nodes(strategy.roots(), candles)
    signals = signals_from_rules(
        values[strategy.entry], values[strategy.exit], strategy.warmup_at(candles.interval_ms)
    )
    return {
        int(t): clip_confidence(values[strategy.confidence][t]) for t in np.flatnonzero(signals)
    }


def signal_orders(strategy: Strategy, candles: CandleArrays) -> dict[int, tuple]:
    """The order each BUY of ``strategy`` asks for, by candle index ({} without an OrderSpec):
    ``(type, price, time in force, stop, take-profit)`` as the incremental evaluator emits it."""
    if strategy.order is None:
        return {}
    nodes = strategy.order.nodes()
    values = compute_nodes([strategy.entry, strategy.exit, *nodes.values()], candles)
    signals = signals_from_rules(
        values[strategy.entry], values[strategy.exit], strategy.warmup_at(candles.interval_ms)
    )
    return {
        int(t): order_tuple(strategy.order, lambda name, t=t: values[nodes[name]][t])
        for t in np.flatnonzero(signals == BUY)
    }
