"""Shared builders for the strategies tests: candle series and node runners."""

from __future__ import annotations

import numpy as np

from tradestream.strategies.candle_arrays import FIELDS, CandleArrays
from tradestream.strategies.graph import Node, topological

MINUTE = 60_000
T0 = 1_700_000_000_000 + 17 * MINUTE  # 22:13 UTC: not on an hour (partial first hour)


def random_candles(
    seed: int, n: int = 300, *, integer: bool = False, flat: bool = False, gaps: bool = False
) -> CandleArrays:
    """A random-walk series of 1-minute candles; ``integer`` rounds prices (exact ties),
    ``flat`` inserts stretches of identical candles, ``gaps`` leaves minutes out (as a gap
    longer than the filled one does)."""
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, n))
    if integer:
        close = np.round(close)
    if flat:
        for start in rng.integers(0, max(n - 20, 1), size=max(n // 60, 1)):
            close[start : start + int(rng.integers(3, 20))] = close[start]
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0.0, 1.0, n))
    high = np.maximum(open_, close) + (np.round(spread) if integer else spread)
    low = np.minimum(open_, close) - (np.round(spread[::-1]) if integer else spread[::-1])
    volume = np.round(rng.uniform(100.0, 1000.0, n)) if integer else rng.uniform(100.0, 1000.0, n)
    if flat:
        same = np.concatenate(([False], close[1:] == close[:-1]))
        high[same] = close[same]
        low[same] = close[same]
        open_[same] = close[same]
    steps = rng.choice([1, 1, 1, 1, 2, 7, 90], size=n) if gaps else np.ones(n, dtype=np.int64)
    starts = T0 + np.concatenate(([0], np.cumsum(steps[1:]))) * MINUTE
    return CandleArrays(
        open_, high, low, close, volume, start_ms=starts, interval_ms=MINUTE,
        book=random_book(rng, close, integer),
    )  # fmt: skip


def random_book(rng: np.random.Generator, close: np.ndarray, integer: bool = False) -> dict:
    """Plausible order-book fields for candles closing at `close` (BOOK_FIELDS): an imbalance
    wandering in [-1, 1] (rounded to tenths with `integer`: exact ties), stretches without a
    live book (neutral values, as `book_row` gives them)."""
    n = close.shape[0]
    imbalance = np.clip(np.cumsum(rng.normal(0.0, 0.25, n)) % 2.0 - 1.0, -1.0, 1.0)
    if integer:
        imbalance = np.round(imbalance, 1)
    spread = np.abs(rng.normal(0.0, 0.001, n))
    live = (rng.random(n) > 0.05).astype(np.float64)
    bid = rng.uniform(1.0, 50.0, n)
    book = {
        "book_imbalance": imbalance,
        "book_spread": spread,
        "book_microprice": close * (1.0 + rng.normal(0.0, 0.0005, n)),
        "book_ofi": rng.normal(0.0, 5.0, n),
        "book_bid_depth": bid,
        "book_ask_depth": bid * (1.0 - imbalance) / (1.0 + imbalance + 1e-9),
        "book_live": live,
    }
    dead = live == 0.0
    for name in ("book_imbalance", "book_spread", "book_ofi", "book_bid_depth", "book_ask_depth"):
        book[name][dead] = 0.0
    book["book_microprice"][dead] = close[dead]
    return book


def run_incremental(node: Node, candles: CandleArrays) -> np.ndarray:
    """Runs ``node`` (and its inputs) candle by candle with the incremental recurrences."""
    impls = {}
    for child in topological([node]):
        if child.kind not in FIELDS:
            impls[child] = child.spec.incremental(child.param_dict, child.input_lookback)
    out = []
    for t in range(len(candles)):
        values = {Node(name): float(candles.field(name)[t]) for name in FIELDS}
        for child in topological([node]):
            if child.kind in FIELDS:
                continue
            if child.kind == "const":
                values[child] = impls[child].value
                continue
            values[child] = impls[child].step(*[values[c] for c in child.inputs])
        out.append(values[node])
    dtype = bool if node.output == "rule" else np.float64
    return np.asarray(out, dtype=dtype)
