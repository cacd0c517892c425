"""Bounded-oscillator family: RSI, stochastics, Williams %R, CMO, MFI, Aroon, CCI, RVI."""

from __future__ import annotations

from tradestream.strategies.library.registry import fp, ip, strategy_type
from tradestream.strategies.nodes import (
    above,
    add,
    adx,
    all_of,
    any_of,
    aroon_down,
    aroon_up,
    below,
    cci,
    close,
    cmo,
    cooldown,
    crosses_above,
    crosses_below,
    div,
    ema,
    high,
    lag,
    low,
    mfi,
    mul,
    open_,
    rolling_sum,
    rsi,
    sma,
    stddev,
    stoch_k,
    sub,
    trailing_stop,
    willr,
)


def _oversold(default: float = 30.0):
    return fp("oversold", 1, 49, default, "oversold level")


def _overbought(default: float = 70.0):
    return fp("overbought", 51, 99, default, "overbought level")


@strategy_type(
    "SMA_RSI",
    "BUY when RSI is oversold while close is below its SMA; SELL when RSI is overbought while "
    "close is above its SMA.",
    [
        ip("sma_period", 2, 200, 20, "SMA period"),
        ip("rsi_period", 2, 50, 14, "RSI period"),
        _oversold(),
        _overbought(),
    ],
)
def sma_rsi(p):
    r, m = rsi(close, p["rsi_period"]), sma(close, p["sma_period"])
    return (
        all_of(below(r, p["oversold"]), below(close, m)),
        all_of(above(r, p["overbought"]), above(close, m)),
    )


@strategy_type(
    "RSI_EMA_CROSSOVER",
    "BUY when RSI crosses above its EMA, SELL when it crosses below.",
    [ip("rsi_period", 2, 50, 14, "RSI period"), ip("ema_period", 2, 50, 9, "EMA of RSI period")],
)
def rsi_ema_crossover(p):
    r = rsi(close, p["rsi_period"])
    e = ema(r, p["ema_period"])
    return crosses_above(r, e), crosses_below(r, e)


@strategy_type(
    "RSI_OVERBOUGHT_OVERSOLD",
    "Classic RSI: BUY when RSI drops below oversold, SELL when it rises above overbought; a "
    "signal is suppressed if the same rule fired in the previous `cooldown` candles.",
    [ip("period", 2, 50, 14, "RSI period"), _oversold(), _overbought(),
     ip("cooldown", 1, 500, 5, "candles during which a repeat of the same signal is dropped")],
)  # fmt: skip
def rsi_classic(p):
    r = rsi(close, p["period"])
    return (
        cooldown(below(r, p["oversold"]), p["cooldown"]),
        cooldown(above(r, p["overbought"]), p["cooldown"]),
    )


def stoch_lines(source_h, source_l, source_c, k_period, smooth, d_period):
    k = sma(stoch_k(source_h, source_l, source_c, k_period), smooth)
    return k, sma(k, d_period)


@strategy_type(
    "STOCHASTIC_RSI",
    "Stochastic of RSI (%K smoothed): BUY when it crosses above oversold, SELL below overbought.",
    [
        ip("rsi_period", 2, 50, 14, "RSI period"),
        ip("stoch_period", 2, 50, 14, "stochastic window over RSI"),
        ip("smooth", 1, 10, 3, "%K smoothing"),
        fp("oversold", 1, 49, 20, "oversold level"),
        fp("overbought", 51, 99, 80, "overbought level"),
    ],
)
def stochastic_rsi(p):
    r = rsi(close, p["rsi_period"])
    k = sma(stoch_k(r, r, r, p["stoch_period"]), p["smooth"])
    return crosses_above(k, p["oversold"]), crosses_below(k, p["overbought"])


@strategy_type(
    "STOCHASTIC_EMA",
    "BUY when slow %K is above %D and close is above EMA; SELL when %K < %D and close < EMA.",
    [
        ip("k_period", 2, 50, 14, "%K window"),
        ip("d_period", 1, 10, 3, "%D smoothing"),
        ip("ema_period", 2, 200, 20, "trend EMA period"),
    ],
)
def stochastic_ema(p):
    k, d = stoch_lines(high, low, close, p["k_period"], 3, p["d_period"])
    e = ema(close, p["ema_period"])
    return all_of(above(k, d), above(close, e)), all_of(below(k, d), below(close, e))


@strategy_type(
    "ADX_STOCHASTIC",
    "In a trend (ADX above threshold): BUY when slow %K is oversold, SELL when overbought.",
    [
        ip("adx_period", 2, 50, 14, "ADX period"),
        ip("k_period", 2, 50, 14, "%K window"),
        fp("adx_threshold", 5, 60, 20, "minimum ADX"),
        fp("oversold", 1, 49, 20, "oversold %K"),
        fp("overbought", 51, 99, 80, "overbought %K"),
    ],
)
def adx_stochastic(p):
    k, _ = stoch_lines(high, low, close, p["k_period"], 3, 3)
    trending = above(adx(p["adx_period"]), p["adx_threshold"])
    return (
        all_of(trending, below(k, p["oversold"])),
        all_of(trending, above(k, p["overbought"])),
    )


@strategy_type(
    "AROON_MFI",
    "BUY when Aroon up > Aroon down and MFI is not overbought; SELL when down > up and MFI is "
    "not oversold.",
    [ip("aroon_period", 2, 100, 25, "Aroon period"), ip("mfi_period", 2, 50, 14, "MFI period"),
     _oversold(20.0), _overbought(80.0)],
)  # fmt: skip
def aroon_mfi(p):
    up, down = aroon_up(p["aroon_period"]), aroon_down(p["aroon_period"])
    m = mfi(p["mfi_period"])
    return (
        all_of(above(up, down), below(m, p["overbought"])),
        all_of(below(up, down), above(m, p["oversold"])),
    )


@strategy_type(
    "CMO_MFI",
    "BUY when CMO < -threshold and MFI < oversold; SELL when CMO > threshold and MFI > overbought.",
    [ip("cmo_period", 2, 50, 14, "CMO period"), ip("mfi_period", 2, 50, 14, "MFI period"),
     fp("cmo_threshold", 5, 90, 30, "CMO level"), _oversold(30.0), _overbought(70.0)],
)  # fmt: skip
def cmo_mfi(p):
    c, m = cmo(close, p["cmo_period"]), mfi(p["mfi_period"])
    return (
        all_of(below(c, -p["cmo_threshold"]), below(m, p["oversold"])),
        all_of(above(c, p["cmo_threshold"]), above(m, p["overbought"])),
    )


@strategy_type(
    "BBAND_W_R",
    "BUY when close is below the lower Bollinger band and Williams %R < -80; SELL when above the "
    "upper band and %R > -20.",
    [ip("bb_period", 2, 100, 20, "Bollinger period"), fp("bb_width", 0.5, 4, 2, "band width in "
     "standard deviations"), ip("wr_period", 2, 50, 14, "Williams %R period")],
)  # fmt: skip
def bband_w_r(p):
    mid, dev = sma(close, p["bb_period"]), mul(stddev(close, p["bb_period"]), p["bb_width"])
    w = willr(p["wr_period"])
    return (
        all_of(below(close, sub(mid, dev)), below(w, -80.0)),
        all_of(above(close, add(mid, dev)), above(w, -20.0)),
    )


@strategy_type(
    "ATR_CCI",
    "BUY when CCI crosses above -threshold; SELL when it crosses below +threshold or the ATR "
    "trailing stop (close < highest close - k * ATR) triggers.",
    [ip("cci_period", 2, 50, 20, "CCI period"), fp("cci_threshold", 10, 300, 100, "CCI level"),
     ip("atr_period", 2, 50, 14, "ATR period"), fp("atr_multiplier", 0.5, 10, 3, "stop width in "
     "ATRs"), ip("stop_period", 2, 100, 20, "window of the highest close")],
)  # fmt: skip
def atr_cci(p):
    c = cci(p["cci_period"])
    stop = trailing_stop(close, p["stop_period"], p["atr_period"], p["atr_multiplier"])
    return (
        crosses_above(c, -p["cci_threshold"]),
        any_of(crosses_below(c, p["cci_threshold"]), stop),
    )


def _smooth4(x):
    # Symmetric (1, 2, 2, 1) / 6 weighting of the last four values.
    return div(add(add(add(x, mul(lag(x, 1), 2.0)), mul(lag(x, 2), 2.0)), lag(x, 3)), 6.0)


@strategy_type(
    "RVI",
    "Relative vigor index: SUM(smoothed close-open)/SUM(smoothed high-low); BUY when it crosses "
    "above its (1,2,2,1) signal line, SELL when below.",
    [ip("period", 2, 50, 10, "summing window")],
)
def rvi(p):
    num = rolling_sum(_smooth4(sub(close, open_)), p["period"])
    den = rolling_sum(_smooth4(sub(high, low)), p["period"])
    value = div(num, den)
    signal = _smooth4(value)
    return crosses_above(value, signal), crosses_below(value, signal)
