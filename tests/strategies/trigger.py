"""A deterministic candle series built to trigger every library strategy type.

Regimes: strong up/down trends, sine-wave oscillations of several periods and amplitudes, bursts
with long wicks, opening gaps, volume surges and a flat stretch, so that crossovers, oscillator
extremes, breakouts, stops, bricks and gaps all occur in both directions.
"""

from __future__ import annotations

import numpy as np

from tests.strategies.series import random_book
from tradestream.strategies.candle_arrays import CandleArrays


def trigger_candles(n: int = 900, seed: int = 7) -> CandleArrays:
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    trend = np.where((t // 150) % 2 == 0, 0.15, -0.12)
    close = 100.0 + np.cumsum(trend) + 8.0 * np.sin(t / 9.0) + 3.0 * np.sin(t / 3.1)
    close += rng.normal(0.0, 0.4, n)
    close[400:420] = close[400]  # flat stretch
    open_ = np.concatenate(([close[0]], close[:-1]))
    gaps = rng.random(n) < 0.06
    jumps = rng.choice([-2.5, 2.5], size=gaps.sum())
    open_[gaps] += jumps
    close[gaps] = open_[gaps] + np.sign(jumps) * 0.5  # gaps that keep going
    body_high, body_low = np.maximum(open_, close), np.minimum(open_, close)
    high = body_high + np.abs(rng.normal(0.3, 0.3, n))
    low = body_low - np.abs(rng.normal(0.3, 0.3, n))
    bursts = rng.random(n) < 0.08
    low[bursts] -= rng.uniform(2.0, 5.0, bursts.sum())
    high[~bursts & (rng.random(n) < 0.08)] += 3.0
    volume = 500.0 + 300.0 * np.sin(t / 7.0) ** 2 + rng.uniform(0.0, 200.0, n)
    volume[rng.random(n) < 0.1] *= 3.0
    flat = slice(400, 420)
    open_[flat] = high[flat] = low[flat] = close[flat]
    # 1-minute candles from midnight UTC (multi-timeframe types read 5m/15m/1h ones)
    starts = 1_700_006_400_000 + np.arange(n, dtype=np.int64) * 60_000
    book = random_book(rng, close)
    return CandleArrays(
        open_, high, low, close, volume, start_ms=starts, interval_ms=60_000, book=book
    )
