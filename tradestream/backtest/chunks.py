"""One backtest work item: a chunk of parameter sets simulated and scored on one symbol.

    chunk = simulate_chunk(series, strategies, config)   # ChunkSimulation
    metrics = chunk_metrics(chunk, config)               # MetricArrays, one row per set

The Beam steps that spread these work items are in :mod:`tradestream.transforms.backtest.simulate`.
Work is split over (symbol, chunk of parameter sets): each work item builds its chunk of
strategies (a grid's are built only here), evaluates them with the vectorized evaluator
(shared indicator nodes computed once per chunk), simulates them with
:mod:`tradestream.backtest.engine` and turns the (k, n) equity matrix into metrics right away,
so memory is bounded by the chunk (sized from `memory_mb` and the symbol's candle count)
whatever the number of parameter sets. RankResults writes each chunk's
metrics to disk as it goes and ranks them per symbol there (:mod:`tradestream.backtest.ranking`),
so no step holds a message per result. Equity curves, trades and signals of the best results
are recomputed (the simulation is deterministic and cheap) instead of being kept for every
parameter set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.engine import Simulation, Trades, simulate
from tradestream.backtest.metrics import MetricArrays, compute_metrics
from tradestream.backtest.ranking import (
    SeriesSpan,
)
from tradestream.backtest.series import CandleSeries
from tradestream.market.signal_messages import strategy_proto
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.vectorized import evaluate_vectorized
from tradestream.v1 import backtest_pb2

RANK_METRICS = (
    "sharpe",
    "sortino",
    "calmar",
    "total_return",
    "cagr",
    "final_equity",
    "profit_factor",
    "expectancy",
    "sqn",
    "win_rate",
)


@dataclass(frozen=True)
class ChunkSimulation:
    """A chunk of parameter sets simulated over one symbol."""

    series: CandleSeries
    strategies: tuple[Strategy, ...]
    signals: np.ndarray  # (k, n) int8
    simulation: Simulation
    first: int = 0  # the index of strategies[0] among the run's parameter sets


@dataclass(frozen=True)
class Selected:
    """A result picked for detailed output: its symbol, strategy and rank (0 = best)."""

    symbol: str
    strategy_id: str
    rank: int
    index: int = -1  # the parameter set's index in the run (-1: find it by strategy_id)


@dataclass(frozen=True)
class ResultDetail:
    """Everything the detail files and the report show of one (strategy, symbol)."""

    symbol: str
    strategy: Strategy
    rank: int
    interval_ms: int
    start_ms: np.ndarray  # (n,) candle starts
    close: np.ndarray
    signals: np.ndarray  # (n,) int8
    equity: np.ndarray
    position: np.ndarray  # (n,) int8
    trades: Trades
    cash: float


def simulate_chunk(
    series: CandleSeries,
    strategies: Sequence[Strategy],
    config: ExecutionConfig,
    first: int = 0,
) -> ChunkSimulation:
    """Evaluates and simulates strategies over one symbol's series.

    Args:
        series: the symbol's candles.
        strategies: the chunk's strategies.
        config: the execution settings.
        first: the index of strategies[0] among the run's parameter sets.
    """
    strategies = tuple(strategies)
    actions = evaluate_vectorized(strategies, series.arrays())
    signals = np.empty((len(strategies), len(series)), dtype=np.int8)
    for row, strategy in enumerate(strategies):
        signals[row] = actions.pop(strategy.strategy_id)
    del actions
    sim = simulate(signals, series.open, series.close, config)
    return ChunkSimulation(series, strategies, signals, sim, first)


def chunk_metrics(chunk: ChunkSimulation, config: ExecutionConfig) -> MetricArrays:
    """The metrics of every strategy of a simulated chunk."""
    series = chunk.series
    interval = series.interval_ms
    return compute_metrics(
        chunk.simulation,
        series.start_ms,
        interval,
        series.close,
        config.annual_periods(interval),
    )


def series_span(series: CandleSeries) -> SeriesSpan:
    """What every result of `series` records of its candles."""
    return SeriesSpan(
        symbol=series.symbol,
        start_ms=int(series.start_ms[0]),
        end_ms=int(series.start_ms[-1]) + series.interval_ms,
        candle_count=len(series),
        interval_ms=series.interval_ms,
    )


def chunk_results(chunk: ChunkSimulation, config: ExecutionConfig) -> list:
    """One BacktestResult per strategy of a simulated chunk."""
    series = chunk.series
    interval = series.interval_ms
    metrics = chunk_metrics(chunk, config)
    config_proto = config.to_proto(interval)
    out = []
    for row, strategy in enumerate(chunk.strategies):
        out.append(
            backtest_pb2.BacktestResult(
                strategy=strategy_proto(strategy.type_name, strategy.params, strategy.strategy_id),
                symbol=series.symbol,
                config=config_proto,
                metrics=metrics.proto(row),
                start_ms=int(series.start_ms[0]),
                end_ms=int(series.start_ms[-1]) + interval,
                candle_count=len(series),
            )
        )
    return out


def rank_value(result, metric: str) -> float:
    """The ranking key of a result: the metric, NaN ranked last."""
    value = float(getattr(result.metrics, metric))
    return value if math.isfinite(value) or value == math.inf else -math.inf
