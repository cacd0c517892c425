"""Multi-timeframe family: rules on the strategy's own candles, filtered or voted on longer ones.

A longer interval's value is seen only once its candle has closed (no look-ahead; see
:mod:`tradestream.strategies.timeframes`), and the candle interval must divide each longer
one: these run on candles of 1, 5 or 15 minutes (the 5m/15m/1h vote on 1 or 5 minutes).
"""

from __future__ import annotations

from tradestream.strategies.library.registry import fp, ip, strategy_type
from tradestream.strategies.nodes import (
    above,
    add,
    adx,
    all_of,
    any_of,
    at_interval,
    atr,
    below,
    close,
    crosses_above,
    crosses_below,
    div,
    ema,
    high,
    lag,
    low,
    macd,
    minus_di,
    mul,
    plus_di,
    rsi,
    sma,
    stddev,
    stoch_k,
    sub,
    vote,
)
from tradestream.strategies.strategy import less

HOUR = 3_600
QUARTER = 900
FIVE_MINUTES = 300


@strategy_type(
    "MTF_TREND_CROSSOVER",
    "SMA crossover entries taken only with the hourly trend: BUY when SMA(fast) crosses above "
    "SMA(slow) while the last closed 1-hour candle closed above its EMA(trend_period); SELL "
    "when SMA(fast) crosses below SMA(slow) or the hourly close falls below that EMA.",
    [
        ip("fast", 2, 50, 10, "fast SMA period (the strategy's candles)"),
        ip("slow", 3, 200, 30, "slow SMA period (the strategy's candles)"),
        ip("trend_period", 2, 100, 20, "EMA period on 1-hour candles"),
    ],
    constraints=(less("fast", "slow"),),
)
def mtf_trend_crossover(p):
    fast, slow = sma(close, p["fast"]), sma(close, p["slow"])
    trend = ema(close, p["trend_period"])
    up = at_interval(above(close, trend), HOUR)
    down = at_interval(below(close, trend), HOUR)
    return (
        all_of(crosses_above(fast, slow), up),
        any_of(crosses_below(fast, slow), down),
    )


@strategy_type(
    "RSI_TWO_TIMEFRAMES",
    "RSI pullbacks in the direction of the 15-minute RSI: BUY when RSI(period) crosses back "
    "above oversold while the last closed 15-minute RSI(higher_period) is above 50; SELL when "
    "RSI crosses back below overbought or the 15-minute RSI falls below 50.",
    [
        ip("period", 2, 50, 14, "RSI period (the strategy's candles)"),
        ip("higher_period", 2, 50, 14, "RSI period on 15-minute candles"),
        fp("oversold", 1, 49, 30.0, "oversold level"),
        fp("overbought", 51, 99, 70.0, "overbought level"),
    ],
)
def rsi_two_timeframes(p):
    fast = rsi(close, p["period"])
    slow = rsi(close, p["higher_period"])
    bullish = at_interval(above(slow, 50), QUARTER)
    bearish = at_interval(below(slow, 50), QUARTER)
    return (
        all_of(crosses_above(fast, p["oversold"]), bullish),
        any_of(crosses_below(fast, p["overbought"]), bearish),
    )


# The NSE system's documented weights (references/algo-trading-system-nse.md).
VOTE_WEIGHTS = {"rsi": 0.25, "macd": 0.25, "bb": 0.20, "adx": 0.15, "stoch": 0.10, "atr": 0.05}


def _votes(p) -> object:
    """The weighted vote of six indicators on one interval's candles, in [-1, 1]."""
    r = rsi(close, p["rsi_period"])
    line = macd(close, p["macd_fast"], p["macd_slow"])
    histogram = sub(line, ema(line, p["macd_signal"]))
    middle = sma(close, p["bb_period"])
    band = mul(stddev(close, p["bb_period"]), 2.0)
    strength = adx(p["adx_period"])
    trending = above(strength, 25.0)
    k = stoch_k(high, low, close, p["stoch_period"])
    move = sub(close, lag(close, 1))
    half_atr = mul(atr(p["atr_period"]), 0.5)
    votes = {
        "rsi": vote(below(r, 30.0), above(r, 70.0)),
        "macd": vote(above(histogram, 0.0), below(histogram, 0.0)),
        "bb": vote(below(close, sub(middle, band)), above(close, add(middle, band))),
        "adx": vote(
            all_of(trending, above(plus_di(p["adx_period"]), minus_di(p["adx_period"]))),
            all_of(trending, above(minus_di(p["adx_period"]), plus_di(p["adx_period"]))),
        ),
        "stoch": vote(below(k, 20.0), above(k, 80.0)),
        "atr": vote(above(move, half_atr), below(move, mul(half_atr, -1.0))),
    }
    total = None
    for name, weight in VOTE_WEIGHTS.items():
        weighted = mul(votes[name], weight)
        total = weighted if total is None else add(total, weighted)
    return total


@strategy_type(
    "NSE_WEIGHTED_VOTE",
    "The NSE system's weighted vote across 5-minute, 15-minute and 1-hour candles: on each, "
    "RSI (25%: +1 below 30, -1 above 70), MACD (25%: the sign of its histogram, MACD less "
    "its signal EMA), Bollinger Bands (20%: +1 below the lower 2-sigma band, -1 above the "
    "upper), ADX (15%: when ADX > 25, +1 if +DI > -DI, -1 if -DI > +DI), Stochastic %K (10%: "
    "+1 below 20, -1 above 80) and ATR (5%: +1 when the candle's close moved up more than "
    "half an ATR, -1 down) vote; the score is the mean of the three intervals' weighted "
    "votes, in [-1, 1]. BUY when it rises above `threshold`, SELL when it falls below "
    "-`threshold`.",
    [
        ip("rsi_period", 2, 50, 14, "RSI period"),
        ip("macd_fast", 2, 50, 12, "MACD fast EMA period"),
        ip("macd_slow", 3, 100, 26, "MACD slow EMA period"),
        ip("macd_signal", 2, 50, 9, "MACD signal line EMA period"),
        ip("bb_period", 2, 100, 20, "Bollinger Bands period"),
        ip("adx_period", 2, 50, 14, "ADX / DI period"),
        ip("stoch_period", 2, 50, 14, "Stochastic %K period"),
        ip("atr_period", 2, 50, 14, "ATR period"),
        fp("threshold", 0.05, 0.95, 0.2, "score needed to act"),
    ],
    constraints=(less("macd_fast", "macd_slow"),),
)
def nse_weighted_vote(p):
    votes = _votes(p)
    per_interval = [at_interval(votes, s) for s in (FIVE_MINUTES, QUARTER, HOUR)]
    score = div(add(add(per_interval[0], per_interval[1]), per_interval[2]), 3.0)
    return above(score, p["threshold"]), below(score, -p["threshold"])
