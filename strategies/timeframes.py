"""Multi-timeframe graphs: a node computed on longer candles than the strategy's own.

``timeframe(x, seconds=3600)`` (``at_interval(x, 3600)`` in Python, ``interval: 1h`` on a node
of a strategy file) computes ``x``, with everything ``x`` reads, on candles of that interval,
built from the strategy's own candles of one symbol, and shows each longer candle's value to
the shorter candles only once that longer candle has closed: at 10:37 a 1-hour value is the
09:00-10:00 candle's (no look-ahead).

The rules both evaluators follow (:func:`aggregate` on whole arrays, ``TimeframeStep`` one
candle at a time; :func:`fold` is their one arithmetic):

* The longer interval must be a whole multiple of the candle interval (``ratio``); longer
  candles are aligned to the epoch (UTC), as every candle is.
* A longer candle is the fold of the candles whose start falls in it: the first open, the
  highest high, the lowest low, the last close, the volume summed in time order. Flat
  candles filled over a gap count like any other; the first longer candle of a series may
  be partial (the data starts inside it), as a candle built from trades would be.
* It closes, and its value becomes visible, at the candle that completes it (the one that
  ends where it ends); when that candle is missing (a gap longer than the filled one) at the
  first candle of a later longer candle, before that candle is evaluated.
* Lookback: a node on ``k``-times longer candles whose own lookback there is ``L`` is
  defined on the candle at index ``(L + 1) * k - 1`` whatever the series' alignment (each
  longer candle holds at most ``k`` candles, so ``L + 1`` of them have closed by then). Both
  evaluators give NaN (a rule: false) before that index, so the warm-up does not depend on
  where the data starts.

Lookbacks therefore depend on the candle interval: :func:`lookbacks` computes them for one
interval, and ``Strategy.warmup_at(interval_ms)`` is a strategy's warm-up.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tradestream.strategies.candle_arrays import BOOK_FIELDS, CandleArrays
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import TIMEFRAME, Node, interval_text, topological


def node_interval_ms(node: Node) -> int:
    """The candle interval a ``timeframe`` node computes its input on, in ms."""
    return int(node.param_dict["seconds"]) * 1000


def ratio(node: Node, interval_ms: int | None) -> int:
    """How many candles of ``interval_ms`` one candle of the node's interval holds.

    Raises:
        StrategyError: no candle interval is known, or it does not divide the node's.
    """
    longer = interval_text(node_interval_ms(node))
    if interval_ms is None:
        raise StrategyError(
            f"reads {longer} candles: the candle interval must be known (multi-timeframe "
            "strategies need candle times)"
        )
    if interval_ms <= 0 or node_interval_ms(node) % interval_ms:
        raise StrategyError(
            f"reads {longer} candles, which candles of {interval_text(interval_ms)} cannot "
            f"build: use a candle interval that divides {longer} (e.g. 1m)"
        )
    return node_interval_ms(node) // interval_ms


def lookbacks(roots: Iterable[Node], interval_ms: int | None) -> dict[Node, int]:
    """Every node under ``roots`` -> the index of the first candle (of ``interval_ms``) at
    which it is defined. Without timeframe nodes this is ``node.lookback``.

    Raises:
        StrategyError: a timeframe node's interval is not a multiple of ``interval_ms``.
    """
    out: dict[Node, int] = {}
    for node in topological(roots, into_timeframes=False):
        if node.kind == TIMEFRAME:
            child = node.inputs[0]
            if any(n.kind in BOOK_FIELDS for n in topological([child])):
                raise StrategyError(
                    "reads the order book on longer candles: book fields are per candle of "
                    "the strategy's own interval only"
                )
            inner = lookbacks([child], node_interval_ms(node))[child]
            k = ratio(node, interval_ms)
            out[node] = (inner + 1) * k - 1
        else:
            base = max((out[child] for child in node.inputs), default=0)
            out[node] = base + node.spec.own_lookback(node.param_dict)
    return out


def input_lookback(node: Node, known: dict[Node, int]) -> int:
    """The index at which all of ``node``'s inputs are defined, from :func:`lookbacks`."""
    return max((known[child] for child in node.inputs), default=0)


def has_timeframes(roots: Iterable[Node]) -> bool:
    """True when any node under ``roots`` is a timeframe node."""
    return any(node.kind == TIMEFRAME for node in topological(roots))


def bucket_start(start_ms: int, longer_ms: int) -> int:
    """The start of the longer candle a candle starting at ``start_ms`` falls in."""
    return start_ms - start_ms % longer_ms


def fold(acc: list[float] | None, o: float, h: float, lo: float, c: float, v: float) -> list:
    """Adds one candle to a longer candle's ``[open, high, low, close, volume]`` (a new one
    when ``acc`` is None); the one arithmetic of both evaluators."""
    if acc is None:
        return [o, h, lo, c, v]
    if h > acc[1]:
        acc[1] = h
    if lo < acc[2]:
        acc[2] = lo
    acc[3] = c
    acc[4] = acc[4] + v
    return acc


def aggregate(candles: CandleArrays, longer_ms: int) -> tuple[CandleArrays, np.ndarray]:
    """The longer candles of ``candles`` and, for each, the index of the candle at which it
    closes (see the module docstring); an unfinished last one is left out.

    Raises:
        StrategyError: the candles carry no times or interval.
    """
    if candles.start_ms is None or candles.interval_ms is None:
        raise StrategyError("multi-timeframe strategies need candle times and their interval")
    interval = candles.interval_ms
    rows: list[list[float]] = []
    starts: list[int] = []
    closes: list[int] = []
    acc = None
    current = None
    columns = zip(
        candles.start_ms.tolist(),
        candles.open.tolist(),
        candles.high.tolist(),
        candles.low.tolist(),
        candles.close.tolist(),
        candles.volume.tolist(),
        strict=True,
    )
    for i, (start, o, h, lo, c, v) in enumerate(columns):
        bucket = bucket_start(start, longer_ms)
        if acc is not None and bucket != current:
            rows.append(acc)
            starts.append(current)
            closes.append(i)
            acc = None
        if acc is None:
            current = bucket
        acc = fold(acc, o, h, lo, c, v)
        if start + interval == bucket + longer_ms:
            rows.append(acc)
            starts.append(current)
            closes.append(i)
            acc = None
    longer = CandleArrays.from_rows(
        [tuple(row) for row in rows],
        start_ms=np.asarray(starts, dtype=np.int64),
        interval_ms=longer_ms,
    )
    return longer, np.asarray(closes, dtype=np.int64)


def spread_back(values: np.ndarray, closes: np.ndarray, n: int, lookback: int) -> np.ndarray:
    """Longer-candle ``values`` shown on the ``n`` shorter candles: each from the index its
    candle closes at, NaN (rules: false) before the first and before ``lookback``."""
    rule = values.dtype == bool
    out = np.zeros(n, dtype=bool) if rule else np.full(n, np.nan, dtype=np.float64)
    if closes.shape[0]:
        latest = np.searchsorted(closes, np.arange(n), side="right") - 1
        shown = latest >= 0
        out[shown] = values[latest[shown]]
    out[: min(lookback, n)] = False if rule else np.nan
    return out
