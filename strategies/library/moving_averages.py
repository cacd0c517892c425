"""Moving-average crossover family: SMA/EMA/DEMA/TEMA crossovers, VIDYA, FRAMA, rainbow."""

from __future__ import annotations

from tradestream.strategies.library.registry import ip, less, strategy_type
from tradestream.strategies.nodes import (
    above,
    add,
    below,
    close,
    crosses_above,
    crosses_below,
    div,
    ema,
    high,
    highest,
    low,
    lowest,
    mul,
    node,
    sma,
    sub,
)
from tradestream.strategies.strategy import Constraint


def cross(a, b):
    return crosses_above(a, b), crosses_below(a, b)


@strategy_type(
    "SMA_CROSSOVER",
    "BUY when SMA(close, fast) crosses above SMA(close, slow); SELL when it crosses below.",
    [ip("fast", 2, 100, 10, "fast SMA period"), ip("slow", 3, 300, 30, "slow SMA period")],
    (less("fast", "slow"),),
)
def sma_crossover(p):
    return cross(sma(close, p["fast"]), sma(close, p["slow"]))


@strategy_type(
    "SMA_EMA_CROSSOVER",
    "BUY when SMA(close, sma_period) crosses above EMA(close, ema_period); SELL on the reverse.",
    [ip("sma_period", 2, 200, 10, "SMA period"), ip("ema_period", 2, 200, 20, "EMA period")],
)
def sma_ema_crossover(p):
    return cross(sma(close, p["sma_period"]), ema(close, p["ema_period"]))


@strategy_type(
    "DOUBLE_EMA_CROSSOVER",
    "BUY when EMA(short) crosses above EMA(long); SELL on the reverse.",
    [ip("short", 2, 100, 12, "short EMA period"), ip("long", 3, 300, 26, "long EMA period")],
    (less("short", "long"),),
)
def double_ema_crossover(p):
    return cross(ema(close, p["short"]), ema(close, p["long"]))


@strategy_type(
    "TRIPLE_EMA_CROSSOVER",
    "BUY when EMA(short) > EMA(medium) > EMA(long) becomes true; SELL when the order reverses.",
    [
        ip("short", 2, 50, 5, "short EMA period"),
        ip("medium", 3, 100, 10, "medium EMA period"),
        ip("long", 4, 300, 20, "long EMA period"),
    ],
    (less("short", "medium", "long"),),
)
def triple_ema_crossover(p):
    s, m, lg = ema(close, p["short"]), ema(close, p["medium"]), ema(close, p["long"])
    return (
        node("and", above(s, m), above(m, lg)),
        node("and", below(s, m), below(m, lg)),
    )


def dema(x, n):
    e = ema(x, n)
    return sub(mul(e, 2.0), ema(e, n))


def tema(x, n):
    e1 = ema(x, n)
    e2 = ema(e1, n)
    return add(sub(mul(e1, 3.0), mul(e2, 3.0)), ema(e2, n))


@strategy_type(
    "DEMA_TEMA_CROSSOVER",
    "BUY when DEMA(close, dema_period) crosses above TEMA(close, tema_period); SELL on reverse.",
    [ip("dema_period", 2, 100, 10, "DEMA period"), ip("tema_period", 2, 100, 20, "TEMA period")],
)
def dema_tema_crossover(p):
    return cross(dema(close, p["dema_period"]), tema(close, p["tema_period"]))


@strategy_type(
    "VARIABLE_PERIOD_EMA",
    "VIDYA (EMA whose smoothing scales with |CMO|): BUY when close crosses above it, SELL below.",
    [
        ip("period", 2, 100, 10, "base EMA period"),
        ip("cmo_period", 2, 50, 9, "CMO window scaling the smoothing"),
    ],
)
def variable_period_ema(p):
    return cross(close, node("vidya", close, period=p["period"], cmo_period=p["cmo_period"]))


@strategy_type(
    "FRAMA",
    "Fractal adaptive MA: BUY when close crosses above FRAMA(period), SELL when below.",
    [ip("period", 4, 200, 16, "window (even)")],
    (Constraint("period is even", lambda p: p["period"] % 2 == 0),),
)
def frama(p):
    return cross(close, node("frama", high, low, close, period=p["period"]))


@strategy_type(
    "RAINBOW_OSCILLATOR",
    "Rainbow oscillator: 100 * (close - mean of `levels` recursive SMAs) / (HH - LL over "
    "`lookback`); BUY when it crosses above 0, SELL when it crosses below.",
    [
        ip("period", 2, 10, 2, "period of each recursive SMA"),
        ip("levels", 2, 10, 10, "number of recursive SMAs"),
        ip("lookback", 2, 100, 10, "window of the close range"),
    ],
)
def rainbow(p):
    level = close
    total = None
    for _ in range(p["levels"]):
        level = sma(level, p["period"])
        total = level if total is None else add(total, level)
    mean = div(total, float(p["levels"]))
    rng = sub(highest(close, p["lookback"]), lowest(close, p["lookback"]))
    osc = mul(div(sub(close, mean), rng), 100.0)
    return crosses_above(osc, 0.0), crosses_below(osc, 0.0)
