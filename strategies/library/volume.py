"""Volume family: VWAP, OBV, Chaikin, Klinger, PVT/VPT, CMF, volume breakouts and profiles."""

from __future__ import annotations

from tradestream.strategies.library.registry import fp, ip, less, strategy_type
from tradestream.strategies.nodes import (
    above,
    add,
    adosc,
    all_of,
    below,
    close,
    crosses_above,
    crosses_below,
    cumsum,
    div,
    ema,
    high,
    highest,
    lag,
    low,
    lowest,
    mul,
    node,
    obv,
    open_,
    roc,
    rolling_sum,
    sma,
    stddev,
    sub,
    volume,
)


def cross(a, b):
    return crosses_above(a, b), crosses_below(a, b)


def typical():
    return div(add(add(high, low), close), 3.0)


def vwap(period):
    """Rolling VWAP: SUM(typical * volume) / SUM(volume) over `period` candles."""
    return div(rolling_sum(mul(typical(), volume), period), rolling_sum(volume, period))


def vwma(x, period):
    return div(rolling_sum(mul(x, volume), period), rolling_sum(volume, period))


@strategy_type(
    "VWAP_CROSSOVER",
    "BUY when close crosses above the rolling VWAP, SELL when it crosses below.",
    [ip("period", 2, 500, 20, "VWAP window")],
)
def vwap_crossover(p):
    return cross(close, vwap(p["period"]))


@strategy_type(
    "VWAP_MEAN_REVERSION",
    "BUY when close is more than k standard deviations below the rolling VWAP, SELL when it is "
    "back above the VWAP.",
    [ip("period", 2, 500, 20, "VWAP / deviation window"), fp("deviation", 0.5, 4, 1.5,
     "distance in standard deviations")],
)  # fmt: skip
def vwap_mean_reversion(p):
    v = vwap(p["period"])
    band = sub(v, mul(stddev(close, p["period"]), p["deviation"]))
    return below(close, band), above(close, v)


@strategy_type(
    "VOLUME_WEIGHTED_MACD",
    "MACD built from volume-weighted moving averages: BUY when VWMA(fast) - VWMA(slow) crosses "
    "above its EMA signal, SELL when below.",
    [ip("fast", 2, 50, 12, "fast VWMA"), ip("slow", 3, 200, 26, "slow VWMA"),
     ip("signal", 2, 50, 9, "signal EMA")],
    (less("fast", "slow"),),
)  # fmt: skip
def volume_weighted_macd(p):
    line = sub(vwma(close, p["fast"]), vwma(close, p["slow"]))
    return cross(line, ema(line, p["signal"]))


@strategy_type(
    "OBV_EMA",
    "BUY when on-balance volume crosses above its EMA, SELL when below.",
    [ip("period", 2, 200, 20, "EMA of OBV")],
)
def obv_ema(p):
    o = obv()
    return cross(o, ema(o, p["period"]))


@strategy_type(
    "CHAIKIN_OSCILLATOR",
    "BUY when the Chaikin A/D oscillator crosses above 0, SELL when below.",
    [ip("fast", 2, 50, 3, "fast EMA"), ip("slow", 3, 100, 10, "slow EMA")],
    (less("fast", "slow"),),
)
def chaikin(p):
    value = adosc(p["fast"], p["slow"])
    return crosses_above(value, 0.0), crosses_below(value, 0.0)


@strategy_type(
    "KLINGER_VOLUME",
    "Klinger oscillator EMA(VF, fast) - EMA(VF, slow): BUY when it crosses above its EMA signal, "
    "SELL when below.",
    [ip("fast", 2, 100, 34, "fast EMA"), ip("slow", 3, 200, 55, "slow EMA"),
     ip("signal", 2, 50, 13, "signal EMA")],
    (less("fast", "slow"),),
)  # fmt: skip
def klinger(p):
    force = node("klinger_force", high, low, close, volume)
    kvo = sub(ema(force, p["fast"]), ema(force, p["slow"]))
    return cross(kvo, ema(kvo, p["signal"]))


@strategy_type(
    "VOLUME_BREAKOUT",
    "BUY when close breaks the previous high with volume above k times its average; SELL when "
    "close breaks the previous low.",
    [ip("period", 2, 200, 20, "breakout window"), fp("multiplier", 1, 5, 1.5, "volume surge "
     "factor")],
)  # fmt: skip
def volume_breakout(p):
    n = p["period"]
    surge = above(volume, mul(sma(volume, n), p["multiplier"]))
    return (
        all_of(above(close, lag(highest(high, n), 1)), surge),
        below(close, lag(lowest(low, n), 1)),
    )


@strategy_type(
    "PVT",
    "Price-volume trend cumsum(volume * ROC(close, 1) / 100): BUY when it crosses above its EMA, "
    "SELL when below.",
    [ip("period", 2, 200, 20, "signal EMA")],
)
def pvt(p):
    value = cumsum(mul(volume, div(roc(close, 1), 100.0)))
    return cross(value, ema(value, p["period"]))


@strategy_type(
    "VPT",
    "Volume-price trend on the typical price, cumsum(volume * ROC(typical, 1) / 100): BUY when "
    "it crosses above its SMA, SELL when below.",
    [ip("period", 2, 200, 14, "signal SMA")],
)
def vpt(p):
    value = cumsum(mul(volume, div(roc(typical(), 1), 100.0)))
    return cross(value, sma(value, p["period"]))


@strategy_type(
    "CMF_ZERO_LINE",
    "Chaikin money flow SUM(money flow volume)/SUM(volume): BUY when it crosses above 0, SELL "
    "when below.",
    [ip("period", 2, 100, 20, "window")],
)
def cmf(p):
    multiplier = div(sub(sub(close, low), sub(high, close)), sub(high, low))
    value = div(rolling_sum(mul(multiplier, volume), p["period"]), rolling_sum(volume, p["period"]))
    return crosses_above(value, 0.0), crosses_below(value, 0.0)


@strategy_type(
    "VOLUME_SPREAD_ANALYSIS",
    "BUY on a wide-spread up candle on high volume (strength); SELL on a wide-spread down candle "
    "on high volume (weakness).",
    [ip("period", 2, 100, 20, "average window"), fp("volume_factor", 1, 5, 1.5, "volume above "
     "average"), fp("spread_factor", 1, 5, 1.2, "spread above average")],
)  # fmt: skip
def vsa(p):
    spread = sub(high, low)
    wide = above(spread, mul(sma(spread, p["period"]), p["spread_factor"]))
    heavy = above(volume, mul(sma(volume, p["period"]), p["volume_factor"]))
    return all_of(wide, heavy, above(close, open_)), all_of(wide, heavy, below(close, open_))


@strategy_type(
    "TICK_VOLUME_ANALYSIS",
    "Volume trend (candle volume as tick-count proxy): BUY when SMA(volume, fast) > SMA(volume, "
    "slow) and close > SMA(close, slow); SELL when rising volume comes with close below it.",
    [ip("fast", 2, 50, 5, "fast volume SMA"), ip("slow", 3, 200, 20, "slow SMA")],
    (less("fast", "slow"),),
)  # fmt: skip
def tick_volume(p):
    busy = above(sma(volume, p["fast"]), sma(volume, p["slow"]))
    trend = sma(close, p["slow"])
    return all_of(busy, above(close, trend)), all_of(busy, below(close, trend))


def poc(period, bins):
    return node("poc", close, volume, period=period, bins=bins)


@strategy_type(
    "VOLUME_PROFILE",
    "BUY when close crosses above the volume-profile point of control, SELL when below.",
    [ip("period", 5, 500, 50, "profile window"), ip("bins", 2, 100, 12, "price bins")],
)
def volume_profile(p):
    return cross(close, poc(p["period"], p["bins"]))


@strategy_type(
    "VOLUME_PROFILE_DEVIATIONS",
    "BUY when close is k standard deviations below the point of control, SELL when k above.",
    [ip("period", 5, 500, 50, "profile window"), ip("bins", 2, 100, 12, "price bins"),
     fp("deviation", 0.5, 4, 1, "distance in standard deviations")],
)  # fmt: skip
def volume_profile_deviations(p):
    center = poc(p["period"], p["bins"])
    dev = mul(stddev(close, p["period"]), p["deviation"])
    return below(close, sub(center, dev)), above(close, add(center, dev))
