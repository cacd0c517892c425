"""Price-action family: Heiken Ashi, pivots, double tops/bottoms, Fibonacci retracements, gaps,
Renko, range bars and Gann swings."""

from __future__ import annotations

from tradestream.strategies.library.registry import fp, ip, less, strategy_type
from tradestream.strategies.nodes import (
    above,
    add,
    all_of,
    below,
    close,
    crosses_above,
    crosses_below,
    div,
    falling,
    high,
    highest,
    lag,
    low,
    lowest,
    max2,
    mul,
    node,
    open_,
    rising,
    sub,
)


@strategy_type(
    "HEIKEN_ASHI",
    "BUY when the Heiken Ashi candle turns bullish (HA close > HA open) with HA close rising "
    "over `confirm` candles; SELL when it turns bearish with HA close falling.",
    [ip("confirm", 1, 10, 1, "candles of HA close rise/fall required")],
)
def heiken_ashi(p):
    ha_open = node("ha_open", open_, high, low, close)
    ha_close = node("ha_close", open_, high, low, close)
    return (
        all_of(above(ha_close, ha_open), rising(ha_close, p["confirm"])),
        all_of(below(ha_close, ha_open), falling(ha_close, p["confirm"])),
    )


@strategy_type(
    "PIVOT",
    "Classic floor pivots from the previous candle: BUY when close crosses above R1, SELL when "
    "it crosses below S1.",
    [ip("period", 1, 50, 1, "candles the pivot range spans")],
)
def pivot(p):
    n = p["period"]
    h, lo, c = lag(highest(high, n), 1), lag(lowest(low, n), 1), lag(close, 1)
    pivot_ = div(add(add(h, lo), c), 3.0)
    r1, s1 = sub(mul(pivot_, 2.0), lo), sub(mul(pivot_, 2.0), h)
    return crosses_above(close, r1), crosses_below(close, s1)


def _abs_diff(a, b):
    return max2(sub(a, b), sub(b, a))


@strategy_type(
    "DOUBLE_TOP_BOTTOM",
    "Double bottom: the recent low (last `swing` candles) is within `tolerance` % of the low "
    "before it, and close crosses above the recent high: BUY. Double top mirrored: SELL.",
    [ip("swing", 2, 50, 10, "swing window"), fp("tolerance", 0.1, 10, 2, "how close the two "
     "extremes must be, in percent")],
)  # fmt: skip
def double_top_bottom(p):
    n, tol = p["swing"], p["tolerance"] / 100.0
    recent_low, prior_low = lowest(low, n), lag(lowest(low, n), n)
    recent_high, prior_high = highest(high, n), lag(highest(high, n), n)
    bottom = below(_abs_diff(recent_low, prior_low), mul(prior_low, tol))
    top = below(_abs_diff(recent_high, prior_high), mul(prior_high, tol))
    mid = div(add(recent_high, recent_low), 2.0)
    return all_of(bottom, crosses_above(close, mid)), all_of(top, crosses_below(close, mid))


@strategy_type(
    "FIBONACCI_RETRACEMENTS",
    "Over the last `period` candles: BUY when close crosses up through the `buy_level` "
    "retracement from the high, SELL when it crosses down through the `sell_level` one.",
    [ip("period", 5, 300, 50, "swing window"), fp("buy_level", 0.3, 0.9, 0.618, "retracement "
     "fraction for entries"), fp("sell_level", 0.1, 0.7, 0.382, "retracement fraction for "
     "exits")],
    (less("sell_level", "buy_level"),),
)  # fmt: skip
def fibonacci(p):
    hh, ll = highest(high, p["period"]), lowest(low, p["period"])
    span = sub(hh, ll)
    buy_line = sub(hh, mul(span, p["buy_level"]))
    sell_line = sub(hh, mul(span, p["sell_level"]))
    return crosses_above(close, buy_line), crosses_below(close, sell_line)


@strategy_type(
    "PRICE_GAP",
    "BUY on a gap up (open above the previous high by `gap` %) that closes above its open; SELL "
    "on a gap down that closes below its open.",
    [fp("gap", 0.0, 10, 0.1, "minimum gap in percent")],
)
def price_gap(p):
    up = mul(lag(high, 1), 1.0 + p["gap"] / 100.0)
    down = mul(lag(low, 1), 1.0 - p["gap"] / 100.0)
    return (
        all_of(above(open_, up), above(close, open_)),
        all_of(below(open_, down), below(close, open_)),
    )


@strategy_type(
    "RENKO_CHART",
    "Renko bricks of `brick_pct` % of the first close: BUY when the brick direction turns up, "
    "SELL when it turns down.",
    [fp("brick_pct", 0.1, 20, 1, "brick size in percent of the first close")],
)
def renko(p):
    direction = node("renko", close, brick_pct=p["brick_pct"])
    return above(direction, 0.0), below(direction, 0.0)


@strategy_type(
    "RANGE_BARS",
    "Range bars of `range_pct` % of their open: BUY when a bar completes up after a down bar, "
    "SELL when one completes down after an up bar.",
    [fp("range_pct", 0.1, 20, 2, "bar range in percent of its open")],
)
def range_bars(p):
    direction = node("range_bars", high, low, close, range_pct=p["range_pct"])
    return above(direction, 0.0), below(direction, 0.0)


@strategy_type(
    "GANN_SWING",
    "Gann swing chart: BUY when the swing turns up (`bars` consecutive higher highs), SELL when "
    "it turns down (`bars` consecutive lower lows).",
    [ip("bars", 1, 10, 2, "consecutive candles that make a swing")],
)
def gann_swing(p):
    direction = node("gann_swing", high, low, bars=p["bars"])
    return above(direction, 0.0), below(direction, 0.0)
