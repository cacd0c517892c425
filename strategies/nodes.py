"""Builder functions for graph nodes: the Python spelling of the node vocabulary.

    from tradestream.strategies.nodes import close, sma, crosses_above
    entry = crosses_above(sma(close, 10), sma(close, 30))

Numbers passed where a series is expected become ``const`` nodes, so ``above(rsi(close, 14), 70)``
compares against a constant threshold.
"""

from __future__ import annotations

from tradestream.strategies.graph import Node

SeriesLike = Node | float | int


def node(kind: str, *inputs: SeriesLike, **params: float | int) -> Node:
    """Builds any node by kind name (numbers as inputs become constants)."""
    return Node(kind, tuple(_series(x) for x in inputs), tuple(params.items()))


def _series(x: SeriesLike) -> Node:
    if isinstance(x, Node):
        return x
    return const(x)


def const(value: float) -> Node:
    """A constant series."""
    return Node("const", (), (("value", float(value)),))


open_ = Node("open")
high = Node("high")
low = Node("low")
close = Node("close")
volume = Node("volume")
# The order book at each candle's close (level 2; see candle_arrays.BOOK_FIELDS).
book_imbalance = Node("book_imbalance")
book_spread = Node("book_spread")
book_microprice = Node("book_microprice")
book_ofi = Node("book_ofi")
book_bid_depth = Node("book_bid_depth")
book_ask_depth = Node("book_ask_depth")
book_live = Node("book_live")


def at_interval(x: Node, seconds: int) -> Node:
    """``x`` (with everything it reads) computed on candles of ``seconds``, each value seen
    once its candle has closed (:mod:`tradestream.strategies.timeframes`)."""
    return node("timeframe", x, seconds=seconds)


# Arithmetic.
def add(a: SeriesLike, b: SeriesLike) -> Node:
    return node("add", a, b)


def sub(a: SeriesLike, b: SeriesLike) -> Node:
    return node("sub", a, b)


def mul(a: SeriesLike, b: SeriesLike) -> Node:
    return node("mul", a, b)


def div(a: SeriesLike, b: SeriesLike) -> Node:
    return node("div", a, b)


def max2(a: SeriesLike, b: SeriesLike) -> Node:
    return node("max2", a, b)


def min2(a: SeriesLike, b: SeriesLike) -> Node:
    return node("min2", a, b)


def lag(x: Node, period: int) -> Node:
    return node("lag", x, period=period)


def cumsum(x: Node) -> Node:
    return node("cumsum", x)


# Averages and windows.
def sma(x: Node, period: int) -> Node:
    # A one-candle window is the input itself (TA-Lib rejects period 1).
    return x if period == 1 else node("sma", x, period=period)


def ema(x: Node, period: int) -> Node:
    return node("ema", x, period=period)


def rolling_sum(x: Node, period: int) -> Node:
    # A one-candle window is the input itself (TA-Lib rejects period 1).
    return x if period == 1 else node("sum", x, period=period)


def highest(x: Node, period: int) -> Node:
    # A one-candle window is the input itself (TA-Lib rejects period 1).
    return x if period == 1 else node("max", x, period=period)


def lowest(x: Node, period: int) -> Node:
    # A one-candle window is the input itself (TA-Lib rejects period 1).
    return x if period == 1 else node("min", x, period=period)


def stddev(x: Node, period: int) -> Node:
    return node("stddev", x, period=period)


# Oscillators.
def rsi(x: Node, period: int) -> Node:
    return node("rsi", x, period=period)


def cmo(x: Node, period: int) -> Node:
    return node("cmo", x, period=period)


def mom(x: Node, period: int) -> Node:
    return node("mom", x, period=period)


def roc(x: Node, period: int) -> Node:
    return node("roc", x, period=period)


def macd(x: Node, fast: int, slow: int) -> Node:
    return node("macd", x, fast=fast, slow=slow)


def stoch_k(h: Node, lo: Node, c: Node, period: int) -> Node:
    return node("stoch_k", h, lo, c, period=period)


def willr(period: int) -> Node:
    return node("willr", high, low, close, period=period)


def cci(period: int) -> Node:
    return node("cci", high, low, close, period=period)


def mfi(period: int) -> Node:
    return node("mfi", high, low, close, volume, period=period)


def atr(period: int) -> Node:
    return node("atr", high, low, close, period=period)


def adx(period: int) -> Node:
    return node("adx", high, low, close, period=period)


def plus_di(period: int) -> Node:
    return node("plus_di", high, low, close, period=period)


def minus_di(period: int) -> Node:
    return node("minus_di", high, low, close, period=period)


def aroon_up(period: int) -> Node:
    return node("aroon_up", high, low, period=period)


def aroon_down(period: int) -> Node:
    return node("aroon_down", high, low, period=period)


def sar(acceleration: float, maximum: float) -> Node:
    return node("sar", high, low, acceleration=acceleration, maximum=maximum)


def linearreg(x: Node, period: int) -> Node:
    return node("linearreg", x, period=period)


def linearreg_slope(x: Node, period: int) -> Node:
    return node("linearreg_slope", x, period=period)


def obv() -> Node:
    return node("obv", close, volume)


def ad() -> Node:
    return node("ad", high, low, close, volume)


def adosc(fast: int, slow: int) -> Node:
    return node("adosc", high, low, close, volume, fast=fast, slow=slow)


# Rules.
def above(a: SeriesLike, b: SeriesLike) -> Node:
    return node("above", a, b)


def below(a: SeriesLike, b: SeriesLike) -> Node:
    return node("below", a, b)


def crosses_above(a: SeriesLike, b: SeriesLike) -> Node:
    return node("crosses_above", a, b)


def crosses_below(a: SeriesLike, b: SeriesLike) -> Node:
    return node("crosses_below", a, b)


def rising(x: Node, period: int = 1) -> Node:
    return node("rising", x, period=period)


def falling(x: Node, period: int = 1) -> Node:
    return node("falling", x, period=period)


def all_of(*rules: Node) -> Node:
    return rules[0] if len(rules) == 1 else Node("and", tuple(rules))


def any_of(*rules: Node) -> Node:
    return rules[0] if len(rules) == 1 else Node("or", tuple(rules))


def not_(rule: Node) -> Node:
    return Node("not", (rule,))


def model_node(ref, *features: Node) -> Node:
    """A trained model's value (``tradestream.strategies.models.ModelRef``) from its features,
    in the manifest's order."""
    return Node("model", tuple(features), (("ref", ref),))


def as_number(rule: Node) -> Node:
    """1 where ``rule`` is true, else 0."""
    return Node("as_number", (rule,))


def vote(bull: Node, bear: Node) -> Node:
    """+1 where ``bull`` holds, -1 where ``bear`` does, 0 otherwise (or where both do)."""
    return sub(as_number(bull), as_number(bear))


def cooldown(rule: Node, bars: int) -> Node:
    return node("cooldown", rule, bars=bars)


def trailing_stop(x: Node, period: int, atr_period: int, multiplier: float) -> Node:
    """Position-free ATR trailing stop: ``x < highest(x, period) - multiplier * ATR``."""
    return below(x, sub(highest(x, period), mul(atr(atr_period), multiplier)))
