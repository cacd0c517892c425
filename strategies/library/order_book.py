"""Order-book family: strategies on level-2 data (the book's state at each candle's close).

They read the book fields (`book_imbalance`, ...; `candle_arrays.BOOK_FIELDS`), so they run
where book data comes with the candles: the realtime pipeline with `--book_topic`, a
backtest with `--book FILE` (a recorded level-2 session).
"""

from __future__ import annotations

from tradestream.strategies.library.registry import fp, ip, strategy_type
from tradestream.strategies.nodes import (
    above,
    all_of,
    book_imbalance,
    book_live,
    cooldown,
    crosses_above,
    crosses_below,
    max2,
    mul,
    sma,
    volume,
)


@strategy_type(
    "ORDER_BOOK_IMBALANCE",
    "Depth imbalance of the book's top levels, (bid size - ask size) / (bid + ask), averaged "
    "over `lookback` candles: BUY when it rises above `threshold`, SELL when it falls below "
    "-`threshold`, each only on a candle with a live book and more than `min_volume` traded, "
    "and at most once per `cooldown` candles. The signal's confidence is the size of the "
    "averaged imbalance (0..1).",
    [
        fp("threshold", 0.05, 0.95, 0.3, "imbalance needed to act"),
        ip("lookback", 1, 50, 3, "candles the imbalance is averaged over"),
        fp("min_volume", 0.0, 1e9, 0.0, "least volume traded in the signal's candle"),
        ip("cooldown", 1, 500, 5, "candles after a signal before the next of its side"),
    ],
)
def order_book_imbalance(p):
    level = sma(book_imbalance, p["lookback"])
    ready = all_of(above(volume, p["min_volume"]), above(book_live, 0.5))
    entry = cooldown(all_of(crosses_above(level, p["threshold"]), ready), p["cooldown"])
    exit_ = cooldown(all_of(crosses_below(level, -p["threshold"]), ready), p["cooldown"])
    return entry, exit_, None, max2(level, mul(level, -1.0))
