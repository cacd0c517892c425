"""The backtest's Beam steps: SimulateTrades, ComputeMetrics, SelectTopResults, DetailResults.

    chunks = series | SimulateTrades(strategies, config, memory_mb=512)
    results = chunks | ComputeMetrics(config)           # PCollection[BacktestResult]
    top = results | SelectTopResults(10, "sharpe")       # PCollection[Selected]
    details = series | DetailResults(strategies, config, top)   # PCollection[ResultDetail]

Work is split over (symbol, chunk of parameter sets): each work item evaluates its chunk of
strategies with the vectorized evaluator (shared indicator nodes computed once per chunk),
simulates them with :mod:`transforms.backtest.engine` and turns the (k, n) equity matrix into
metrics right away, so memory is bounded by the chunk (sized from `memory_mb` and the
symbol's candle count) whatever the number of parameter sets. Equity curves, trades and
signals of the best results are recomputed (the simulation is deterministic and cheap)
instead of being kept for every parameter set.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from strategies.strategy import Strategy
from strategies.vectorized import evaluate_vectorized
from tradestream.v1 import backtest_pb2, strategy_pb2
from transforms.backtest.config import ExecutionConfig
from transforms.backtest.engine import Simulation, Trades, chunk_size_for, simulate
from transforms.backtest.metrics import compute_metrics
from transforms.backtest.progress import shared_progress
from transforms.backtest.series import CandleSeries
from transforms.signals import strategy_proto

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


@dataclass(frozen=True)
class Selected:
    """A result picked for detailed output: its symbol, strategy and rank (0 = best)."""

    symbol: str
    strategy_id: str
    rank: int


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
    series: CandleSeries, strategies: Sequence[Strategy], config: ExecutionConfig
) -> ChunkSimulation:
    """Evaluates and simulates strategies over one symbol's series."""
    strategies = tuple(strategies)
    actions = evaluate_vectorized(strategies, series.arrays())
    signals = np.stack([actions[s.strategy_id] for s in strategies]).astype(np.int8, copy=False)
    sim = simulate(signals, series.open, series.close, config)
    return ChunkSimulation(series, strategies, signals, sim)


def chunk_results(chunk: ChunkSimulation, config: ExecutionConfig) -> list:
    """One BacktestResult per strategy of a simulated chunk."""
    series = chunk.series
    interval = series.interval_ms
    metrics = compute_metrics(
        chunk.simulation,
        series.start_ms,
        interval,
        series.close,
        config.annual_periods(interval),
    )
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


class SimulateChunkFn(beam.DoFn):
    """(symbol, first, stop) work item -> ChunkSimulation of strategies[first:stop]."""

    def __init__(
        self,
        strategies: Sequence[Strategy],
        config: ExecutionConfig,
        run_id: str,
        memory_mb: float,
    ):
        self._strategies = tuple(strategies)
        self._config = config
        self._run_id = run_id
        self._memory_mb = memory_mb
        self._sets = Metrics.counter("SimulateTrades", "parameter_sets")

    def process(self, item, series_by_symbol):
        symbol, first, stop = item
        series = series_by_symbol[symbol]
        total = len(self._strategies)
        progress = None
        if total > chunk_size_for(len(series), self._memory_mb):  # several chunks: long
            progress = shared_progress(self._run_id, symbol, "[backtest]", total, "parameter sets")
        chunk = simulate_chunk(series, self._strategies[first:stop], self._config)
        self._sets.inc(stop - first)
        if progress is not None:
            progress.advance(stop - first, symbol)
        yield chunk


class SimulateTrades(beam.PTransform):
    """PCollection[CandleSeries] -> PCollection[ChunkSimulation], chunked parameter sets.

    Args:
        strategies: the parameter sets (built strategies) to run on every symbol.
        config: the execution model settings.
        memory_mb: working-set budget of one chunk (sets the chunk size per symbol).
    """

    def __init__(
        self, strategies: Sequence[Strategy], config: ExecutionConfig, memory_mb: float = 512
    ):
        super().__init__()
        if not strategies:
            raise ValueError("SimulateTrades needs at least one strategy")
        self._strategies = tuple(strategies)
        self._config = config
        self._memory_mb = memory_mb
        self._run_id = uuid.uuid4().hex

    def expand(self, series: beam.PCollection) -> beam.PCollection:
        total = len(self._strategies)
        memory_mb = self._memory_mb

        def plan(s: CandleSeries):
            size = chunk_size_for(len(s), memory_mb)
            for first in range(0, total, size):
                yield (s.symbol, first, min(first + size, total))

        keyed = series | "KeyBySymbol" >> beam.Map(lambda s: (s.symbol, s))
        work = series | "PlanChunks" >> beam.FlatMap(plan) | "SpreadChunks" >> beam.Reshuffle()
        return work | "Simulate" >> beam.ParDo(
            SimulateChunkFn(self._strategies, self._config, self._run_id, memory_mb),
            series_by_symbol=beam.pvalue.AsDict(keyed),
        )


class ComputeMetrics(beam.PTransform):
    """PCollection[ChunkSimulation] -> PCollection[BacktestResult], one per (strategy, symbol).

    Args:
        config: the execution settings (annualization, recorded in each result).
    """

    def __init__(self, config: ExecutionConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, chunks: beam.PCollection) -> beam.PCollection:
        config = self._config
        return chunks | "Metrics" >> beam.FlatMap(lambda chunk: chunk_results(chunk, config))


class SelectTopResults(beam.PTransform):
    """PCollection[BacktestResult] -> PCollection[Selected]: the best `top` per symbol.

    Args:
        top: results per symbol (0: all).
        rank_by: a metric of RANK_METRICS, higher is better (NaN last).
    """

    def __init__(self, top: int, rank_by: str) -> None:
        super().__init__()
        if rank_by not in RANK_METRICS:
            raise ValueError(f"rank_by must be one of {', '.join(RANK_METRICS)}")
        self._top = top
        self._rank_by = rank_by

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        metric = self._rank_by
        top = self._top

        def key(result):
            return (rank_value(result, metric), result.strategy.strategy_id)

        def pick(symbol_results):
            symbol, items = symbol_results
            ordered = sorted(items, key=lambda r: (-key(r)[0], key(r)[1]))
            if top > 0:
                ordered = ordered[:top]
            for rank, result in enumerate(ordered):
                yield Selected(symbol, result.strategy.strategy_id, rank)

        return (
            results
            | "KeyBySymbol" >> beam.Map(lambda r: (r.symbol, _slim(r)))
            | "GroupBySymbol" >> beam.GroupByKey()
            | "Pick" >> beam.FlatMap(pick)
        )


def _slim(result):
    """Just what ranking needs (keeps the grouped data small for big grids)."""
    return backtest_pb2.BacktestResult(
        strategy=strategy_pb2.Strategy(strategy_id=result.strategy.strategy_id),
        symbol=result.symbol,
        metrics=result.metrics,
    )


class DetailResultsFn(beam.DoFn):
    """CandleSeries -> ResultDetail of each selected strategy of its symbol."""

    def __init__(self, strategies: Sequence[Strategy], config: ExecutionConfig, memory_mb: float):
        self._strategies = tuple(strategies)
        self._config = config
        self._memory_mb = memory_mb

    def setup(self) -> None:
        self._by_id = {s.strategy_id: s for s in self._strategies}

    def process(self, series: CandleSeries, selected):
        picks = sorted((s for s in selected if s.symbol == series.symbol), key=lambda s: s.rank)
        size = chunk_size_for(len(series), self._memory_mb)
        for first in range(0, len(picks), size):
            part = picks[first : first + size]
            chunk = simulate_chunk(series, [self._by_id[p.strategy_id] for p in part], self._config)
            positions = chunk.simulation.position()
            for row, pick in enumerate(part):
                yield ResultDetail(
                    symbol=series.symbol,
                    strategy=chunk.strategies[row],
                    rank=pick.rank,
                    interval_ms=series.interval_ms,
                    start_ms=series.start_ms,
                    close=series.close,
                    signals=chunk.signals[row].copy(),
                    equity=chunk.simulation.equity[row].copy(),
                    position=positions[row].copy(),
                    trades=chunk.simulation.trades.select(chunk.simulation.trades.row == row),
                    cash=self._config.cash,
                )


class DetailResults(beam.PTransform):
    """PCollection[CandleSeries] -> PCollection[ResultDetail] of the selected results.

    Args:
        strategies: the run's strategies (the selection refers to their ids).
        config: the execution settings.
        selected: PCollection[Selected] (a side input).
        memory_mb: working-set budget per chunk.
    """

    def __init__(
        self,
        strategies: Sequence[Strategy],
        config: ExecutionConfig,
        selected: beam.PCollection,
        memory_mb: float = 512,
    ):
        super().__init__()
        self._fn = DetailResultsFn(strategies, config, memory_mb)
        self._selected = selected

    def expand(self, series: beam.PCollection) -> beam.PCollection:
        return series | "Detail" >> beam.ParDo(
            self._fn, selected=beam.pvalue.AsList(self._selected)
        )
