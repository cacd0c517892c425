"""Signals as they leave TradeStream: protobuf `Signal` with a deterministic id.

`signal_id` is the first 32 hex digits of SHA-256 over
`"{strategy_id}|{symbol}|{candle_start_ms}|{BUY|SELL}"`: the same strategy firing on the
same candle always has the same id, whichever run (realtime, replay, restart, backtest)
produced it, so executors can de-duplicate.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping

from tradestream.v1 import signal_pb2, strategy_pb2

ACTIONS = {"BUY": signal_pb2.ACTION_BUY, "SELL": signal_pb2.ACTION_SELL}
ACTION_NAMES = {v: k for k, v in ACTIONS.items()}


def signal_id(strategy_id: str, symbol: str, candle_start_ms: int, action: str) -> str:
    """Deterministic id of a signal (see the module docstring)."""
    if action not in ACTIONS:
        raise ValueError(f"action must be BUY or SELL, got {action!r}")
    text = f"{strategy_id}|{symbol}|{candle_start_ms}|{action}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def strategy_proto(
    type_name: str, params: Mapping[str, int | float], strategy_id: str, graph: str = ""
) -> strategy_pb2.Strategy:
    """The protobuf form of a built strategy (parameters sorted by name)."""
    proto = strategy_pb2.Strategy(type=type_name, strategy_id=strategy_id, graph=graph)
    for name in sorted(params):
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"parameter {name} must be int or float, got {value!r}")
        if isinstance(value, int):
            proto.params.add(name=name, int_value=value)
        else:
            proto.params.add(name=name, float_value=value)
    return proto


def make_signal(
    strategy: strategy_pb2.Strategy,
    symbol: str,
    action: str,
    price: float,
    candle_start_ms: int,
    candle_interval_ms: int,
    reason: str,
    confidence: float = 1.0,
    order: tuple | None = None,
) -> signal_pb2.Signal:
    """A Signal; `order` = (type, price, time in force, stop, take-profit) of an entry's
    OrderIntent (an Emission's `order`), None for none."""
    return signal_pb2.Signal(
        signal_id=signal_id(strategy.strategy_id, symbol, candle_start_ms, action),
        symbol=symbol,
        action=ACTIONS[action],
        price=price,
        candle_start_ms=candle_start_ms,
        candle_interval_ms=candle_interval_ms,
        strategy=strategy,
        reason=reason,
        confidence=confidence,
        emitted_ms=int(time.time() * 1000),
        order=order_intent(order) if order is not None else None,
    )


_ORDER_TYPES = {
    "market": signal_pb2.ORDER_TYPE_MARKET,
    "limit": signal_pb2.ORDER_TYPE_LIMIT,
    "stop": signal_pb2.ORDER_TYPE_STOP,
}


def order_intent(order: tuple) -> signal_pb2.OrderIntent:
    """The OrderIntent of (type, price, time in force, stop, take-profit); None values: 0."""
    kind, price, time_in_force, stop, take_profit = order
    return signal_pb2.OrderIntent(
        type=_ORDER_TYPES[kind],
        price=price or 0.0,
        time_in_force_candles=time_in_force,
        stop_price=stop or 0.0,
        take_profit_price=take_profit or 0.0,
    )
