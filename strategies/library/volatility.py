"""Volatility / breakout family: Donchian, volatility stop, ATR trailing stop, micro-reversal
scalper. Stops are position-free: they compare price with recent extremes and ATR."""

from __future__ import annotations

from tradestream.strategies.library.registry import fp, ip, less, strategy_type
from tradestream.strategies.nodes import (
    above,
    add,
    all_of,
    any_of,
    atr,
    below,
    close,
    crosses_above,
    ema,
    high,
    highest,
    lag,
    low,
    lowest,
    min2,
    mul,
    open_,
    sub,
    trailing_stop,
)


@strategy_type(
    "DONCHIAN_BREAKOUT",
    "BUY when close breaks above the previous `period`-candle high, SELL when it breaks below the "
    "previous low.",
    [ip("period", 2, 200, 20, "channel window")],
)
def donchian(p):
    n = p["period"]
    return above(close, lag(highest(high, n), 1)), below(close, lag(lowest(low, n), 1))


@strategy_type(
    "VOLATILITY_STOP",
    "BUY when close rises k ATRs above the previous lowest close, SELL when it falls k ATRs "
    "below the previous highest close.",
    [ip("period", 2, 100, 20, "extreme window"), ip("atr_period", 2, 50, 14, "ATR period"),
     fp("multiplier", 0.5, 10, 2, "stop width in ATRs")],
)  # fmt: skip
def volatility_stop(p):
    width = mul(atr(p["atr_period"]), p["multiplier"])
    return (
        above(close, add(lag(lowest(close, p["period"]), 1), width)),
        below(close, sub(lag(highest(close, p["period"]), 1), width)),
    )


@strategy_type(
    "ATR_TRAILING_STOP",
    "BUY when close crosses above EMA(trend); SELL when close < highest(close, period) - k * ATR "
    "(a position-free ATR trailing stop).",
    [ip("trend_period", 2, 200, 20, "entry EMA"), ip("period", 2, 100, 22, "highest-close "
     "window"), ip("atr_period", 2, 50, 14, "ATR period"), fp("multiplier", 0.5, 10, 3,
     "stop width in ATRs")],
)  # fmt: skip
def atr_trailing_stop(p):
    return (
        crosses_above(close, ema(close, p["trend_period"])),
        trailing_stop(close, p["period"], p["atr_period"], p["multiplier"]),
    )


@strategy_type(
    "MICRO_REVERSAL_SCALPER",
    "EMA/ATR micro-reversal scalper: BUY on a burst candle (range > burst * ATR) with a long "
    "lower wick (> wick fraction of the range) while EMA(fast) > EMA(slow); SELL when close "
    "reaches the previous `period`-candle low + target * ATR (take profit) or falls below it "
    "- stop * ATR (stop loss).",
    [ip("fast", 2, 50, 5, "fast EMA"), ip("slow", 3, 200, 20, "slow EMA"),
     ip("atr_period", 2, 50, 14, "ATR period"), fp("burst", 0.1, 5, 1, "range in ATRs for a "
     "burst candle"), fp("wick", 0.1, 0.9, 0.4, "lower wick as a fraction of the range"),
     ip("period", 2, 50, 5, "window of the entry low"), fp("target", 0.5, 10, 2, "take profit "
     "in ATRs"), fp("stop", 0.2, 10, 1, "stop loss in ATRs")],
    (less("fast", "slow"),),
)  # fmt: skip
def micro_reversal(p):
    a = atr(p["atr_period"])
    rng = sub(high, low)
    lower_wick = sub(min2(open_, close), low)
    entry = all_of(
        above(rng, mul(a, p["burst"])),
        above(lower_wick, mul(rng, p["wick"])),
        above(ema(close, p["fast"]), ema(close, p["slow"])),
    )
    base = lag(lowest(low, p["period"]), 1)
    exit_ = any_of(
        above(close, add(base, mul(a, p["target"]))),
        below(close, sub(base, mul(a, p["stop"]))),
    )
    return entry, exit_
