"""Fitness: genomes in, backtest metrics and objective values out.

    results = evaluate_genomes(task, series, genomes, config)   # per batch, in a worker

The fitness of a genome IS a backtest: the strategy built from it is evaluated with the
vectorized evaluator, simulated by :mod:`tradestream.backtest.engine` and scored from
:mod:`tradestream.backtest.metrics` by the objective (:mod:`tradestream.optimize.objectives`),
with the same execution model (`ExecutionConfig`) as `tradestream backtest`.

A `FitnessTask` is what a search evaluates on: a strategy type's search space, one symbol's
candle series (a file written by the load job, see :mod:`tradestream.optimize.store`) and a
time window of it. A `FitnessJob` is a batch of genomes of one task; the driver forms the
batches and Beam spreads them over workers. A batch is evaluated at once: indicator nodes
shared by its genomes are computed once (and kept for later generations, see
:mod:`tradestream.optimize.indicators`), each genome is simulated on its own and the metrics
are vectorized over the batch (chunked to `memory_mb`). A genome's fitness does not depend on
its batch, its worker or the runner: the same genome on the same task gives the same numbers,
bit for bit.

Windows: indicators are computed from all the candles before the window's end (so a test
window starts with warmed-up indicators) and never from a candle after it; signals, trades,
equity and metrics cover the window only, starting flat. Besides metrics, each result
carries its returns' block power sums (see :mod:`tradestream.optimize.overfitting`) for the
deflated Sharpe ratio and PBO.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.engine import Simulation, Trades, chunk_size_for, simulate
from tradestream.backtest.metrics import compute_metrics
from tradestream.backtest.series import CandleSeries
from tradestream.optimize.genome import Genome, SearchSpace
from tradestream.optimize.indicators import NODE_CACHE, cached_signals
from tradestream.optimize.objectives import OBJECTIVES, objective_values
from tradestream.optimize.overfitting import block_stats, candle_returns
from tradestream.optimize.store import load_series
from tradestream.optimize.walk_forward import Window


@dataclass(frozen=True)
class FitnessConfig:
    """How fitness is computed (the same for every task of a run).

    Attributes:
        execution: the backtest execution model (fills, fees, cash, ...).
        objective: one of OBJECTIVES.
        min_trades: fewest closed trades for a finite fitness.
        blocks: return blocks kept per result for CSCV (even, >= 2).
        memory_mb: working-set budget of one simulated chunk.
        cache_mb: indicator values kept per worker process across generations.
    """

    execution: ExecutionConfig
    objective: str = "sharpe"
    min_trades: int = 1
    blocks: int = 16
    memory_mb: float = 512.0
    cache_mb: float = 256.0

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}")
        if self.min_trades < 0:
            raise ValueError(f"min_trades must be >= 0, got {self.min_trades}")
        if self.blocks < 2 or self.blocks % 2:
            raise ValueError(f"blocks must be an even number >= 2, got {self.blocks}")
        if not self.memory_mb > 0:
            raise ValueError(f"memory_mb must be > 0, got {self.memory_mb}")
        if not self.cache_mb >= 0:
            raise ValueError(f"cache_mb must be >= 0, got {self.cache_mb}")


@dataclass(frozen=True)
class FitnessTask:
    """What a search evaluates genomes on: a space, a symbol's series file and a window."""

    key: str
    space: SearchSpace
    symbol: str
    series_path: str
    window: Window


@dataclass(frozen=True)
class FitnessJob:
    """A batch of distinct genomes of one task."""

    task: str
    genomes: tuple[Genome, ...]


@dataclass(frozen=True)
class FitnessResult:
    """The fitness of one genome on one task.

    Attributes:
        task: the task's key.
        genome: the genome.
        fitness: the objective value, -inf when guarded.
        metrics: the backtest metrics by name (empty when the window has < 2 candles).
        blocks: (S, 5) return block power sums, None when the window has < S candles.
    """

    task: str
    genome: Genome
    fitness: float
    metrics: Mapping[str, float | int]
    blocks: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "genome": list(self.genome),
            "fitness": self.fitness,
            "metrics": dict(self.metrics),
            "blocks": None if self.blocks is None else self.blocks.tolist(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FitnessResult:
        blocks = data.get("blocks")
        return cls(
            task=data["task"],
            genome=tuple(data["genome"]),
            fitness=float(data["fitness"]),
            metrics=dict(data["metrics"]),
            blocks=None if blocks is None else np.asarray(blocks, dtype=np.float64),
        )


def evaluate_genomes(
    task: FitnessTask,
    series: CandleSeries,
    genomes: Sequence[Genome],
    config: FitnessConfig,
) -> list[FitnessResult]:
    """Backtests genomes of one task and scores them (module docstring).

    Args:
        task: the task (space and window).
        series: the task's symbol's whole candle series.
        genomes: distinct valid genomes.
        config: the fitness settings.

    Returns:
        One FitnessResult per genome, in order.
    """
    first, stop = task.window.indices(series.start_ms)
    if stop - first < 2:
        return [FitnessResult(task.key, g, -math.inf, {}) for g in genomes]
    strategies = [task.space.build(g) for g in genomes]
    # Indicators see every candle before the window's end and none after it.
    history = series.arrays().head(stop)
    NODE_CACHE.resize(config.cache_mb * 1024 * 1024)
    size = chunk_size_for(stop - first, config.memory_mb)
    out: list[FitnessResult] = []
    for offset in range(0, len(strategies), size):
        part = strategies[offset : offset + size]
        actions = cached_signals(part, history, (task.series_path, stop), NODE_CACHE)
        signals = np.stack([actions[s.strategy_id][first:] for s in part]).astype(np.int8)
        close = series.close[first:stop]
        sim = simulate_rows(signals, series.open[first:stop], close, config.execution)
        interval = series.interval_ms
        metrics = compute_metrics(
            sim,
            series.start_ms[first:stop],
            interval,
            close,
            config.execution.annual_periods(interval),
        )
        fitness = objective_values(config.objective, metrics, config.min_trades)
        blocks = None
        if stop - first >= config.blocks:
            blocks = block_stats(candle_returns(sim.equity, config.execution.cash), config.blocks)
        for row in range(len(part)):
            out.append(
                FitnessResult(
                    task=task.key,
                    genome=tuple(genomes[offset + row]),
                    fitness=float(fitness[row]),
                    metrics=metrics.values(row),
                    blocks=None if blocks is None else blocks[row],
                )
            )
    return out


def simulate_rows(
    signals: np.ndarray, open_: np.ndarray, close: np.ndarray, config: ExecutionConfig
) -> Simulation:
    """`simulate`, one parameter set at a time, merged into one Simulation.

    The engine's batched arithmetic (a cumulative sum over all sets) makes the last bits of a
    set's equity depend on the sets simulated with it; one at a time, a genome's fitness is
    the same whatever its batch (--batch_size, --memory_mb), so equal signals tie exactly.
    The metrics are still computed for the whole batch at once (they are per row).
    """
    sims = [simulate(signals[row : row + 1], open_, close, config) for row in range(len(signals))]

    def column(name: str) -> np.ndarray:
        parts = [getattr(s.trades, name) for s in sims]
        if name == "row":
            parts = [part + row for row, part in enumerate(parts)]
        return np.concatenate(parts)

    trades = Trades(**{f.name: column(f.name) for f in fields(Trades)})
    return Simulation(
        equity=np.vstack([s.equity for s in sims]),
        trades=trades,
        cash=config.cash,
        segment_side=np.concatenate([s.segment_side for s in sims]),
        segment_length=np.concatenate([s.segment_length for s in sims]),
        segment_row=np.concatenate([s.segment_row + row for row, s in enumerate(sims)]),
    )


def plan_jobs(wanted: Mapping[str, Sequence[Genome]], batch_size: int) -> list[FitnessJob]:
    """Batches of at most `batch_size` genomes per task, in task then genome order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    jobs = []
    for task in sorted(wanted):
        genomes = list(dict.fromkeys(wanted[task]))
        for first in range(0, len(genomes), batch_size):
            jobs.append(FitnessJob(task, tuple(genomes[first : first + batch_size])))
    return jobs


def evaluate_locally(
    jobs: Sequence[FitnessJob],
    tasks: Mapping[str, FitnessTask],
    config: FitnessConfig,
) -> list[FitnessResult]:
    """The same work as EvaluateFitness, in this process (tests, tiny runs)."""
    out = []
    for job in jobs:
        task = tasks[job.task]
        out.extend(evaluate_genomes(task, load_series(task.series_path), job.genomes, config))
    return out
