"""Trend family: ADX/DMI, Parabolic SAR (+MFI), Ichimoku, regression channels, mass index."""

from __future__ import annotations

from tradestream.strategies.library.registry import fp, ip, less, strategy_type
from tradestream.strategies.nodes import (
    above,
    add,
    adx,
    all_of,
    below,
    close,
    crosses_above,
    crosses_below,
    div,
    ema,
    high,
    highest,
    linearreg,
    linearreg_slope,
    low,
    lowest,
    mfi,
    minus_di,
    mul,
    plus_di,
    rolling_sum,
    sar,
    stddev,
    sub,
)


@strategy_type(
    "ADX_DMI",
    "When ADX is above threshold: BUY when +DI is above -DI, SELL when -DI is above +DI.",
    [ip("period", 2, 50, 14, "ADX/DI period"), fp("threshold", 5, 60, 20, "minimum ADX")],
)
def adx_dmi(p):
    trending = above(adx(p["period"]), p["threshold"])
    pdi, mdi = plus_di(p["period"]), minus_di(p["period"])
    return all_of(trending, above(pdi, mdi)), all_of(trending, below(pdi, mdi))


_SAR = [
    fp("acceleration", 0.001, 0.2, 0.02, "SAR acceleration step"),
    fp("maximum", 0.01, 1, 0.2, "SAR maximum acceleration"),
]


@strategy_type(
    "PARABOLIC_SAR",
    "BUY when close crosses above the parabolic SAR, SELL when it crosses below.",
    _SAR,
    (less("acceleration", "maximum"),),
)
def parabolic_sar(p):
    s = sar(p["acceleration"], p["maximum"])
    return crosses_above(close, s), crosses_below(close, s)


@strategy_type(
    "SAR_MFI",
    "BUY when close is above SAR and MFI is below overbought; SELL when close is below SAR and "
    "MFI above oversold.",
    [*_SAR, ip("mfi_period", 2, 50, 14, "MFI period"),
     fp("oversold", 1, 49, 20, "oversold MFI"), fp("overbought", 51, 99, 80, "overbought MFI")],
    (less("acceleration", "maximum"),),
)  # fmt: skip
def sar_mfi(p):
    s, m = sar(p["acceleration"], p["maximum"]), mfi(p["mfi_period"])
    return (
        all_of(above(close, s), below(m, p["overbought"])),
        all_of(below(close, s), above(m, p["oversold"])),
    )


def _midpoint(n):
    return div(add(highest(high, n), lowest(low, n)), 2.0)


@strategy_type(
    "ICHIMOKU_CLOUD",
    "BUY when the conversion line (tenkan) crosses above the base line (kijun) with close above "
    "the cloud's span B; SELL on the reverse cross with close below span B.",
    [ip("tenkan", 2, 50, 9, "conversion line window"), ip("kijun", 3, 100, 26, "base line window"),
     ip("senkou_b", 4, 200, 52, "leading span B window")],
    (less("tenkan", "kijun", "senkou_b"),),
)  # fmt: skip
def ichimoku(p):
    tenkan, kijun, span_b = _midpoint(p["tenkan"]), _midpoint(p["kijun"]), _midpoint(p["senkou_b"])
    return (
        all_of(crosses_above(tenkan, kijun), above(close, span_b)),
        all_of(crosses_below(tenkan, kijun), below(close, span_b)),
    )


def _channel(period, width):
    line = linearreg(close, period)
    dev = mul(stddev(close, period), width)
    return sub(line, dev), add(line, dev)


@strategy_type(
    "LINEAR_REGRESSION_CHANNELS",
    "Mean reversion inside a rising/falling regression channel: BUY when close is below the lower "
    "channel and the slope is positive, SELL when close is above the upper channel.",
    [ip("period", 3, 200, 20, "regression window"), fp("width", 0.5, 4, 2, "channel width in "
     "standard deviations")],
)  # fmt: skip
def lr_channels(p):
    lower, upper = _channel(p["period"], p["width"])
    slope = linearreg_slope(close, p["period"])
    return all_of(below(close, lower), above(slope, 0.0)), above(close, upper)


@strategy_type(
    "REGRESSION_CHANNEL",
    "BUY when close crosses back above the lower regression channel, SELL when it crosses back "
    "below the upper channel.",
    [ip("period", 3, 200, 20, "regression window"), fp("width", 0.5, 4, 1.5, "channel width in "
     "standard deviations")],
)  # fmt: skip
def regression_channel(p):
    lower, upper = _channel(p["period"], p["width"])
    return crosses_above(close, lower), crosses_below(close, upper)


@strategy_type(
    "MASS_INDEX",
    "Mass index SUM(EMA(range)/EMA(EMA(range)), sum_period) flags reversals: when it is above "
    "the threshold, BUY if close is above its EMA trend, SELL if below.",
    [ip("ema_period", 2, 50, 9, "range EMA period"), ip("sum_period", 2, 50, 25, "summing window"),
     fp("threshold", 5, 50, 25, "bulge level"), ip("trend_period", 2, 200, 20, "trend EMA")],
)  # fmt: skip
def mass_index(p):
    rng = sub(high, low)
    e1 = ema(rng, p["ema_period"])
    value = rolling_sum(div(e1, ema(e1, p["ema_period"])), p["sum_period"])
    bulge = above(value, p["threshold"])
    trend = ema(close, p["trend_period"])
    return all_of(bulge, above(close, trend)), all_of(bulge, below(close, trend))
