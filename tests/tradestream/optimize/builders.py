"""Builders for optimizer tests: constructed candle series, tasks and fake fitness functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.support.builders import MINUTE, T0
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.series import CandleSeries
from tradestream.optimize.fitness import FitnessConfig, FitnessJob, FitnessResult, FitnessTask
from tradestream.optimize.genome import Genome, SearchSpace
from tradestream.optimize.store import SeriesFile, save_series
from tradestream.optimize.walk_forward import Window


def series_from_close(close, symbol: str = "SYN", interval_ms: int = MINUTE) -> CandleSeries:
    """Flat candles (open = high = low = close) at a fixed interval from T0."""
    close = np.asarray(close, dtype=np.float64)
    n = close.shape[0]
    return CandleSeries(
        symbol=symbol,
        interval_ms=interval_ms,
        start_ms=T0 + interval_ms * np.arange(n, dtype=np.int64),
        open=close.copy(),
        high=close.copy(),
        low=close.copy(),
        close=close,
        volume=np.ones(n),
        filled=np.zeros(n, dtype=bool),
    )


def sine_close(n: int = 3000, period: float = 120.0, noise: float = 0.01, seed: int = 5):
    """A noisy cycle: SMA crossovers tuned to the period win, with a clear interior optimum."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(0.03 * np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(n))


def write_candles_csv(path: Path, series: CandleSeries) -> Path:
    """A candles file (`time,open,high,low,close,volume`, epoch ms) of a series."""
    with path.open("w") as fh:
        fh.write("time,open,high,low,close,volume\n")
        for i in range(len(series)):
            values = (series.open[i], series.high[i], series.low[i], series.close[i])
            prices = ",".join(repr(float(v)) for v in values)
            fh.write(f"{int(series.start_ms[i])},{prices},{float(series.volume[i])!r}\n")
    return path


def saved(series: CandleSeries, directory: Path) -> SeriesFile:
    return save_series(series, str(directory))


def task(
    space: SearchSpace, file: SeriesFile, window: Window | None = None, key: str = "t"
) -> FitnessTask:
    window = window or Window(file.first_ms, file.end_ms)
    return FitnessTask(key, space, file.symbol, file.path, window)


def fitness_config(objective: str = "sharpe", min_trades: int = 5, fee: float = 0.002):
    return FitnessConfig(ExecutionConfig(fee=fee), objective, min_trades)


class FakeFitness:
    """An `evaluate` from a function of the genome; records every genome it was asked for."""

    def __init__(self, function: Callable[[Genome], float], shuffle_seed: int | None = None):
        self.function = function
        self.asked: list[tuple[str, Genome]] = []
        self.calls = 0
        self._shuffle = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)

    def __call__(self, jobs: list[FitnessJob]) -> list[FitnessResult]:
        self.calls += 1
        out = []
        for job in jobs:
            for genome in job.genomes:
                self.asked.append((job.task, genome))
                out.append(FitnessResult(job.task, genome, float(self.function(genome)), {}))
        if self._shuffle is not None:  # results arrive in any order from Beam
            out = [out[i] for i in self._shuffle.permutation(len(out))]
        return out
