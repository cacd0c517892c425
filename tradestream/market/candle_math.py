"""The arithmetic of a candle: folding trades into OHLCV + VWAP + count.

Open and close are the prices of the earliest and latest trades by event time; trades with
the same time are ordered by trade id (numeric ids compare as numbers), so the result does
not depend on the order in which trades arrive. The fold is associative (`merge`), so partial
candles can be combined in any grouping.
"""

from __future__ import annotations

from collections.abc import Iterable

from tradestream.v1 import candle_pb2, trade_pb2

# Accumulator layout: a plain list, cheap to pickle into Beam state.
_OPEN_KEY, _OPEN, _CLOSE_KEY, _CLOSE, _HIGH, _LOW, _VOLUME, _NOTIONAL, _COUNT = range(9)


def trade_order_key(time_ms: int, trade_id: str) -> tuple[int, int, str]:
    """Event-time order, ties broken by trade id ("9" before "10")."""
    return (time_ms, len(trade_id), trade_id)


def new_accumulator(trade: trade_pb2.Trade) -> list:
    key = trade_order_key(trade.time_ms, trade.trade_id)
    p, s = trade.price, trade.size
    return [key, p, key, p, p, p, s, p * s, 1]


def add_trade(acc: list, trade: trade_pb2.Trade) -> list:
    """Folds one trade into the accumulator (in place) and returns it."""
    key = trade_order_key(trade.time_ms, trade.trade_id)
    p, s = trade.price, trade.size
    if key < acc[_OPEN_KEY]:
        acc[_OPEN_KEY], acc[_OPEN] = key, p
    if key >= acc[_CLOSE_KEY]:
        acc[_CLOSE_KEY], acc[_CLOSE] = key, p
    if p > acc[_HIGH]:
        acc[_HIGH] = p
    if p < acc[_LOW]:
        acc[_LOW] = p
    acc[_VOLUME] += s
    acc[_NOTIONAL] += p * s
    acc[_COUNT] += 1
    return acc


def merge(a: list, b: list) -> list:
    """Combines two accumulators of the same interval (associative, commutative)."""
    out = list(a)
    if b[_OPEN_KEY] < out[_OPEN_KEY]:
        out[_OPEN_KEY], out[_OPEN] = b[_OPEN_KEY], b[_OPEN]
    if b[_CLOSE_KEY] >= out[_CLOSE_KEY]:
        out[_CLOSE_KEY], out[_CLOSE] = b[_CLOSE_KEY], b[_CLOSE]
    out[_HIGH] = max(out[_HIGH], b[_HIGH])
    out[_LOW] = min(out[_LOW], b[_LOW])
    out[_VOLUME] += b[_VOLUME]
    out[_NOTIONAL] += b[_NOTIONAL]
    out[_COUNT] += b[_COUNT]
    return out


def fold(trades: Iterable[trade_pb2.Trade]) -> list | None:
    acc = None
    for trade in trades:
        acc = new_accumulator(trade) if acc is None else add_trade(acc, trade)
    return acc


def to_candle(
    symbol: str, start_ms: int, interval_ms: int, acc: list, revision: int = 0
) -> candle_pb2.Candle:
    volume = acc[_VOLUME]
    return candle_pb2.Candle(
        symbol=symbol,
        start_ms=start_ms,
        interval_ms=interval_ms,
        open=acc[_OPEN],
        high=acc[_HIGH],
        low=acc[_LOW],
        close=acc[_CLOSE],
        volume=volume,
        vwap=acc[_NOTIONAL] / volume if volume > 0 else acc[_CLOSE],
        trade_count=acc[_COUNT],
        revision=revision,
    )


def flat_candle(symbol: str, start_ms: int, interval_ms: int, close: float) -> candle_pb2.Candle:
    """The candle of an interval without trades: O=H=L=C=previous close, volume 0."""
    return candle_pb2.Candle(
        symbol=symbol,
        start_ms=start_ms,
        interval_ms=interval_ms,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=0.0,
        vwap=close,
        trade_count=0,
        filled=True,
    )


def bucket_start(time_ms: int, interval_ms: int) -> int:
    """Start of the interval containing time_ms (intervals aligned to the epoch)."""
    return time_ms - time_ms % interval_ms


def candle_timestamp_s(start_ms: int, interval_ms: int) -> float:
    """Beam timestamp of a candle: the last millisecond of its interval (like a window's)."""
    return (start_ms + interval_ms - 1) / 1000.0
