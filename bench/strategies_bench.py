"""Strategies benchmark: incremental cost per candle per strategy, and the shared-node speed-up.

Runs every library strategy type (defaults) on one symbol of random candles and prints, side by
side: the incremental evaluator's cost per candle for each strategy alone, and for all types
together with shared nodes vs unshared (each strategy computing its own nodes), plus the same
comparison for the vectorized evaluator.

    .venv/bin/python bench/strategies_bench.py [--candles 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tradestream.strategies import library  # noqa: E402
from tradestream.strategies.candle_arrays import CandleArrays  # noqa: E402
from tradestream.strategies.graph import topological  # noqa: E402
from tradestream.strategies.incremental import IncrementalEvaluator  # noqa: E402
from tradestream.strategies.vectorized import evaluate_vectorized  # noqa: E402

MINUTE = 60_000


def random_candles(n: int, seed: int = 1) -> CandleArrays:
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, n))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) + np.abs(rng.normal(0.0, 0.5, n))
    low = np.minimum(open_, close) - np.abs(rng.normal(0.0, 0.5, n))
    starts = 1_700_006_400_000 + np.arange(n, dtype=np.int64) * MINUTE  # 1-minute candles
    return CandleArrays(
        open_, high, low, close, rng.uniform(100.0, 1000.0, n), start_ms=starts, interval_ms=MINUTE
    )


def incremental_seconds(strategies, rows, share_nodes: bool = True) -> float:
    evaluator = IncrementalEvaluator(strategies, share_nodes=share_nodes, interval_ms=MINUTE)
    start = time.perf_counter()
    for row, start_ms in rows:
        evaluator.update(*row, start_ms=start_ms)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=5000)
    args = parser.parse_args(argv)
    candles = random_candles(args.candles)
    rows = [(candles.row(t), int(candles.start_ms[t])) for t in range(len(candles))]
    # Types reading the order book need level-2 data these random candles do not have.
    strategies = [library.build(name) for name in library.names()]
    strategies = [s for s in strategies if not s.reads_book]
    n = len(candles)

    print(f"{len(strategies)} strategy types, {n} random candles, one symbol\n")
    print(f"{'STRATEGY':<28} {'NODES':>5} {'INCR us/candle':>15}")
    alone = 0.0
    for strategy in strategies:
        seconds = incremental_seconds([strategy], rows)
        alone += seconds
        nodes = len(topological([strategy.entry, strategy.exit]))
        print(f"{strategy.type_name:<28} {nodes:>5} {seconds / n * 1e6:>15.1f}")

    unique = len(topological(r for s in strategies for r in (s.entry, s.exit)))
    total = sum(len(topological([s.entry, s.exit])) for s in strategies)
    shared = incremental_seconds(strategies, rows, share_nodes=True)
    unshared = incremental_seconds(strategies, rows, share_nodes=False)
    start = time.perf_counter()
    evaluate_vectorized(strategies, candles, share_nodes=True)
    vec_shared = time.perf_counter() - start
    start = time.perf_counter()
    evaluate_vectorized(strategies, candles, share_nodes=False)
    vec_unshared = time.perf_counter() - start

    print(f"\nAll {len(strategies)} types on one symbol: {unique} distinct nodes "
          f"(vs {total} without sharing)")  # fmt: skip
    print(f"{'':<28} {'unshared':>12} {'shared':>12} {'speed-up':>9}")
    print(f"{'incremental us/candle':<28} {unshared / n * 1e6:>12.1f} {shared / n * 1e6:>12.1f} "
          f"{unshared / shared:>8.2f}x")  # fmt: skip
    print(f"{'vectorized ms/run':<28} {vec_unshared * 1e3:>12.1f} {vec_shared * 1e3:>12.1f} "
          f"{vec_unshared / vec_shared:>8.2f}x")  # fmt: skip
    print(f"{'sum of strategies run alone':<28} {alone / n * 1e6:>12.1f} us/candle")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
