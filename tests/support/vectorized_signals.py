"""The vectorized counterpart of EvaluateStrategies: one symbol's whole candle list at once.

Backtests and the optimizer use it; tests use it as the reference that the streaming
pipeline must reproduce signal for signal (same ids, same candles, same actions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from strategies.candle_arrays import CandleArrays
from strategies.strategy import Strategy
from strategies.vectorized import evaluate_vectorized
from tradestream.market.signal_messages import make_signal, strategy_proto
from tradestream.v1 import candle_pb2, signal_pb2


def candle_arrays(candles: Sequence[candle_pb2.Candle]) -> CandleArrays:
    """OHLCV arrays of candles already in start order."""
    return CandleArrays(
        np.fromiter((c.open for c in candles), np.float64, len(candles)),
        np.fromiter((c.high for c in candles), np.float64, len(candles)),
        np.fromiter((c.low for c in candles), np.float64, len(candles)),
        np.fromiter((c.close for c in candles), np.float64, len(candles)),
        np.fromiter((c.volume for c in candles), np.float64, len(candles)),
    )


def signals_for_candles(
    strategies: Sequence[Strategy], candles: Sequence[candle_pb2.Candle]
) -> list[signal_pb2.Signal]:
    """Every signal of every strategy over one symbol's candles (start order, no corrections).

    Reasons are left empty: the vectorized evaluator reports actions; the incremental one
    (realtime) adds the rule that fired.
    """
    if not candles:
        return []
    actions = evaluate_vectorized(strategies, candle_arrays(candles))
    out = []
    for strategy in strategies:
        proto = strategy_proto(strategy.type_name, strategy.params, strategy.strategy_id)
        column = actions[strategy.strategy_id]
        for index in np.flatnonzero(column):
            c = candles[int(index)]
            action = "BUY" if column[index] > 0 else "SELL"
            out.append(make_signal(proto, c.symbol, action, c.close, c.start_ms, c.interval_ms, ""))
    out.sort(key=lambda s: (s.candle_start_ms, s.strategy.strategy_id, s.action))
    return out
