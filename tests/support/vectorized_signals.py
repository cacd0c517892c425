"""The signals a strategy set gives over one symbol's candles, computed the vectorized way.

Tests use it as the reference that the streaming steps (EvaluateStrategies, TradesToSignals,
the realtime pipeline on Flink) must reproduce signal for signal: same ids, candles, actions
and prices.

What it shares with the code it checks, truthfully: the strategy evaluation itself,
`tradestream.strategies.vectorized.evaluate_vectorized` (whole arrays, mostly TA-Lib; checked on its own
against TA-Lib and hand-computed values in tests/strategies), and the protobuf message
classes. The signal messages and their `signal_id` are built here from the documented formula
(`tradestream/market/signal_messages.py`'s module docstring; `signal.proto` says only "a hash
of (strategy_id, symbol, candle_start_ms, action)"), not with the pipeline's helpers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from tradestream.strategies.candle_arrays import CandleArrays
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.vectorized import evaluate_vectorized
from tradestream.v1 import candle_pb2, signal_pb2, strategy_pb2


def reference_signal_id(strategy_id: str, symbol: str, candle_start_ms: int, action: str) -> str:
    """The first 32 hex digits of SHA-256 over "{strategy_id}|{symbol}|{candle_start_ms}|{action}"
    (action "BUY" or "SELL")."""
    text = "|".join((strategy_id, symbol, str(candle_start_ms), action))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def candle_arrays(candles: Sequence[candle_pb2.Candle]) -> CandleArrays:
    """OHLCV arrays of candles already in start order, with their starts and interval
    (multi-timeframe strategies need them)."""
    return CandleArrays(
        np.fromiter((c.open for c in candles), np.float64, len(candles)),
        np.fromiter((c.high for c in candles), np.float64, len(candles)),
        np.fromiter((c.low for c in candles), np.float64, len(candles)),
        np.fromiter((c.close for c in candles), np.float64, len(candles)),
        np.fromiter((c.volume for c in candles), np.float64, len(candles)),
        start_ms=np.fromiter((c.start_ms for c in candles), np.int64, len(candles)),
        interval_ms=candles[0].interval_ms if candles else None,
    )


def _signal(strategy: Strategy, candle: candle_pb2.Candle, action: str) -> signal_pb2.Signal:
    return signal_pb2.Signal(
        signal_id=reference_signal_id(strategy.strategy_id, candle.symbol, candle.start_ms, action),
        symbol=candle.symbol,
        action=signal_pb2.ACTION_BUY if action == "BUY" else signal_pb2.ACTION_SELL,
        price=candle.close,
        candle_start_ms=candle.start_ms,
        candle_interval_ms=candle.interval_ms,
        strategy=strategy_pb2.Strategy(type=strategy.type_name, strategy_id=strategy.strategy_id),
        confidence=1.0,
    )


def signals_for_candles(
    strategies: Sequence[Strategy], candles: Sequence[candle_pb2.Candle]
) -> list[signal_pb2.Signal]:
    """Every signal of every strategy over one symbol's candles (start order, no corrections).

    Reasons, parameters and emission times are left empty: the tests compare ids, symbols,
    strategy ids, candles, actions and prices.
    """
    if not candles:
        return []
    actions = evaluate_vectorized(strategies, candle_arrays(candles))
    out = []
    for strategy in strategies:
        column = actions[strategy.strategy_id]
        for index in np.flatnonzero(column):
            action = "BUY" if column[index] > 0 else "SELL"
            out.append(_signal(strategy, candles[int(index)], action))
    out.sort(key=lambda s: (s.candle_start_ms, s.strategy.strategy_id, s.action))
    return out
