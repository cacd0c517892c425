"""Strategy signals with indicator values cached across generations, per worker process.

    signals = cached_signals(strategies, history, key=(series_path, stop), cache=NODE_CACHE)

A GA evaluates many genomes that share indicators (`RSI(close, 14)`, `SMA(close, 50)`), and
the same ones again generation after generation. `tradestream.strategies.vectorized.evaluate_vectorized`
shares nodes within one call; here indicator (series) node values are also kept between
calls in a process-wide LRU cache bounded in bytes, so a worker computes each indicator once
per window. Some indicators run a per-candle recurrence (RSI, ATR, ... see
:mod:`strategies`), which makes this the difference between seconds and minutes on a year of
1-minute candles.

The values are computed by `tradestream.strategies.vectorized.compute_nodes` with this cache as
its store, over `history`: every candle up to the end of the window being evaluated,
never after it; `key` names that history (the series file and the window's end). Rule nodes
(cheap comparisons of cached series) are not kept. Signals then follow
`tradestream.strategies.vectorized.signals_from_rules`, so they are the vectorized evaluator's signals.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

import numpy as np

from tradestream.strategies.candle_arrays import CandleArrays
from tradestream.strategies.graph import Node
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.vectorized import compute_nodes, signals_from_rules


class NodeCache:
    """A thread-safe LRU of node values, bounded by their total size in bytes.

    Args:
        max_bytes: the budget; the least recently used values go first.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max = max(0, int(max_bytes))
        self._values: OrderedDict[tuple[Hashable, Node], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def max_bytes(self) -> int:
        return self._max

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self._max = max(0, int(max_bytes))
            self._evict()

    def get(self, key: tuple[Hashable, Node]) -> np.ndarray | None:
        with self._lock:
            value = self._values.get(key)
            if value is None:
                self.misses += 1
                return None
            self._values.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: tuple[Hashable, Node], value: np.ndarray) -> None:
        if value.nbytes > self._max:
            return
        value.setflags(write=False)  # shared between evaluations: never modified
        with self._lock:
            old = self._values.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._values[key] = value
            self._bytes += value.nbytes
            self._evict()

    def _evict(self) -> None:
        while self._bytes > self._max and self._values:
            _, value = self._values.popitem(last=False)
            self._bytes -= value.nbytes

    def __len__(self) -> int:
        return len(self._values)


NODE_CACHE = NodeCache(256 * 1024 * 1024)


class _Keyed:
    """`cache` seen by `compute_nodes` as the store of one history (`key`)."""

    def __init__(self, cache: NodeCache, key: Hashable) -> None:
        self._cache = cache
        self._key = key

    def get(self, node: Node) -> np.ndarray | None:
        return self._cache.get((self._key, node))

    def put(self, node: Node, value: np.ndarray) -> None:
        self._cache.put((self._key, node), value)


def cached_signals(
    strategies: Sequence[Strategy], history: CandleArrays, key: Hashable, cache: NodeCache
) -> dict[str, np.ndarray]:
    """strategy_id -> int8 signals over `history` (as `evaluate_vectorized` gives them)."""
    warmups = [s.warmup_at(history.interval_ms) for s in strategies]  # errors name it
    roots = [r for s in strategies for r in (s.entry, s.exit)]
    values = compute_nodes(roots, history, _Keyed(cache, key))
    return {
        s.strategy_id: signals_from_rules(values[s.entry], values[s.exit], warmup)
        for s, warmup in zip(strategies, warmups, strict=True)
    }
