"""Momentum family: MACD variants, ROC/MOM crossovers, KST, TRIX, PPO, AO, DPO, Elder ray,
momentum pinball."""

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
    ema,
    falling,
    high,
    lag,
    low,
    macd,
    mom,
    mul,
    rising,
    roc,
    rsi,
    sma,
    sub,
)


def cross(a, b):
    return crosses_above(a, b), crosses_below(a, b)


_MACD = [
    ip("fast", 2, 50, 12, "fast EMA period"),
    ip("slow", 3, 200, 26, "slow EMA period"),
    ip("signal", 2, 50, 9, "signal EMA period"),
]


@strategy_type(
    "MACD_CROSSOVER",
    "BUY when the MACD line crosses above its signal line, SELL when it crosses below.",
    _MACD,
    (less("fast", "slow"),),
)
def macd_crossover(p):
    line = macd(close, p["fast"], p["slow"])
    return cross(line, ema(line, p["signal"]))


@strategy_type(
    "EMA_MACD",
    "BUY when MACD > signal and close > EMA(ema_period); SELL when MACD < signal and close < EMA.",
    [*_MACD, ip("ema_period", 2, 300, 50, "trend EMA period")],
    (less("fast", "slow"),),
)
def ema_macd(p):
    line = macd(close, p["fast"], p["slow"])
    signal, trend = ema(line, p["signal"]), ema(close, p["ema_period"])
    return (
        all_of(above(line, signal), above(close, trend)),
        all_of(below(line, signal), below(close, trend)),
    )


@strategy_type(
    "MOMENTUM_SMA_CROSSOVER",
    "BUY when MOM(close, period) crosses above its SMA, SELL when below.",
    [ip("period", 2, 100, 10, "momentum period"), ip("sma_period", 2, 100, 10, "SMA period")],
)
def momentum_sma(p):
    m = mom(close, p["period"])
    return cross(m, sma(m, p["sma_period"]))


@strategy_type(
    "ROC_MA_CROSSOVER",
    "BUY when ROC(close, period) crosses above its SMA, SELL when below.",
    [ip("period", 2, 100, 12, "ROC period"), ip("ma_period", 2, 100, 9, "SMA period")],
)
def roc_ma(p):
    r = roc(close, p["period"])
    return cross(r, sma(r, p["ma_period"]))


@strategy_type(
    "KST_OSCILLATOR",
    "Know Sure Thing: weighted sum of four smoothed ROCs (weights 1..4, smoothing 10,10,10,15); "
    "BUY when it crosses above its SMA signal, SELL when below.",
    [ip("roc1", 2, 50, 10, "first ROC period"), ip("roc2", 3, 60, 15, "second ROC period"),
     ip("roc3", 4, 80, 20, "third ROC period"), ip("roc4", 5, 100, 30, "fourth ROC period"),
     ip("signal", 2, 50, 9, "signal SMA period")],
    (less("roc1", "roc2", "roc3", "roc4"),),
)  # fmt: skip
def kst(p):
    parts = [
        mul(sma(roc(close, p[f"roc{i}"]), smooth), float(i))
        for i, smooth in zip((1, 2, 3, 4), (10, 10, 10, 15), strict=True)
    ]
    value = add(add(parts[0], parts[1]), add(parts[2], parts[3]))
    return cross(value, sma(value, p["signal"]))


@strategy_type(
    "TRIX_SIGNAL_LINE",
    "TRIX (1-candle ROC of a triple EMA): BUY when it crosses above its EMA signal, SELL below.",
    [ip("period", 2, 50, 15, "EMA period"), ip("signal", 2, 50, 9, "signal EMA period")],
)
def trix(p):
    value = roc(ema(ema(ema(close, p["period"]), p["period"]), p["period"]), 1)
    return cross(value, ema(value, p["signal"]))


@strategy_type(
    "PRICE_OSCILLATOR_SIGNAL",
    "Percentage price oscillator 100 * (EMA fast - EMA slow) / EMA slow: BUY when it crosses "
    "above its EMA signal, SELL when below.",
    [ip("fast", 2, 50, 12, "fast EMA"), ip("slow", 3, 200, 26, "slow EMA"),
     ip("signal", 2, 50, 9, "signal EMA")],
    (less("fast", "slow"),),
)  # fmt: skip
def ppo(p):
    slow = ema(close, p["slow"])
    value = mul(div(sub(ema(close, p["fast"]), slow), slow), 100.0)
    return cross(value, ema(value, p["signal"]))


@strategy_type(
    "AWESOME_OSCILLATOR",
    "SMA(median price, fast) - SMA(median price, slow): BUY when it crosses above 0, SELL below.",
    [ip("fast", 2, 50, 5, "fast SMA"), ip("slow", 3, 200, 34, "slow SMA")],
    (less("fast", "slow"),),
)
def awesome(p):
    median = div(add(high, low), 2.0)
    value = sub(sma(median, p["fast"]), sma(median, p["slow"]))
    return crosses_above(value, 0.0), crosses_below(value, 0.0)


@strategy_type(
    "DPO_CROSSOVER",
    "Detrended price oscillator close - SMA(close, n) shifted n/2+1 back: BUY when it crosses "
    "above 0, SELL below.",
    [ip("period", 2, 100, 20, "SMA period")],
)
def dpo(p):
    n = p["period"]
    value = sub(close, lag(sma(close, n), n // 2 + 1))
    return crosses_above(value, 0.0), crosses_below(value, 0.0)


@strategy_type(
    "ELDER_RAY_MA",
    "Elder ray: BUY when the EMA rises and bear power (low - EMA) is negative but rising; SELL "
    "when the EMA falls and bull power (high - EMA) is positive but falling.",
    [ip("period", 2, 100, 13, "EMA period")],
)
def elder_ray(p):
    e = ema(close, p["period"])
    bull, bear = sub(high, e), sub(low, e)
    return (
        all_of(rising(e), below(bear, 0.0), rising(bear)),
        all_of(falling(e), above(bull, 0.0), falling(bull)),
    )


@strategy_type(
    "MOMENTUM_PINBALL",
    "RSI of the 1-candle momentum: BUY when it falls below the low level, SELL when it rises "
    "above the high level.",
    [ip("period", 2, 20, 3, "RSI period"), fp("low_level", 1, 49, 30, "buy level"),
     fp("high_level", 51, 99, 70, "sell level")],
)  # fmt: skip
def momentum_pinball(p):
    value = rsi(mom(close, 1), p["period"])
    return crosses_below(value, p["low_level"]), crosses_above(value, p["high_level"])
