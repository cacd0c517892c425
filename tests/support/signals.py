"""Builders for the paper executor tests: signal events, protobuf signals, streams."""

from __future__ import annotations

import random

from tradestream.market.signal_messages import make_signal, signal_id, strategy_proto
from tradestream.portfolio.engine import SignalEvent
from tradestream.v1 import signal_pb2

MINUTE = 60_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC, a Wednesday


def event(
    action: str,
    price: float,
    minute: int,
    strategy: str = "S1",
    symbol: str = "BTC-USD",
    confidence: float = 1.0,
    t0: int = T0,
) -> SignalEvent:
    """A signal of `strategy` on the candle starting `minute` minutes after t0."""
    start = t0 + minute * MINUTE
    return SignalEvent(
        signal_id=signal_id(strategy, symbol, start, action),
        symbol=symbol,
        action=action,
        price=price,
        candle_start_ms=start,
        candle_interval_ms=MINUTE,
        strategy_id=strategy,
        strategy_type=strategy.split("(")[0],
        reason="test",
        confidence=confidence,
    )


def proto(
    action: str, price: float, minute: int, strategy: str = "SMA_CROSSOVER(fast=2,slow=5)",
    symbol: str = "BTC-USD", confidence: float = 1.0,
) -> signal_pb2.Signal:  # fmt: skip
    """The protobuf Signal the realtime pipeline would write."""
    type_name = strategy.split("(")[0]
    strat = strategy_proto(type_name, {}, strategy)
    return make_signal(
        strat, symbol, action, price, T0 + minute * MINUTE, MINUTE, "test", confidence
    )


def random_stream(
    seed: int,
    n: int,
    symbols: tuple[str, ...] = ("BTC-USD", "ETH-USD", "SOL-USD"),
    strategies: tuple[str, ...] = ("A(x=1)", "B(x=2)", "C(x=3)"),
) -> list[signal_pb2.Signal]:
    """A plausible signal stream: random walks per symbol, strategies alternating BUY/SELL
    per symbol (with some repeats and low-confidence signals), in candle order."""
    rng = random.Random(seed)
    prices = {s: 100.0 * (i + 1) for i, s in enumerate(symbols)}
    last: dict[tuple[str, str], str] = {}
    out = []
    for minute in range(n):
        symbol = rng.choice(symbols)
        prices[symbol] *= 1.0 + rng.gauss(0.0, 0.01)
        strategy = rng.choice(strategies)
        previous = last.get((symbol, strategy), "SELL")
        action = ("BUY" if previous == "SELL" else "SELL") if rng.random() < 0.9 else previous
        last[(symbol, strategy)] = action
        confidence = round(rng.uniform(0.3, 1.0), 2)
        out.append(proto(action, round(prices[symbol], 4), minute, strategy, symbol, confidence))
    return out
