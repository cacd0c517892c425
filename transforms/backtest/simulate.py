"""The backtest's Beam steps: SimulateTrades, RankResults (or ComputeMetrics),
SelectTopResults, DetailResults.

    chunks = series | SimulateTrades(strategies, config, memory_mb=512)
    ranked = chunks | RankResults(strategies, config, "sharpe", work_dir)  # one per symbol
    top = ranked | SelectTopResults(10, "sharpe")        # PCollection[Selected]
    details = series | DetailResults(strategies, config, top)   # PCollection[ResultDetail]
    results = chunks | ComputeMetrics(config)   # or: one BacktestResult message per result

Work is split over (symbol, chunk of parameter sets); what one work item computes is
:mod:`tradestream.backtest.chunks`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from tradestream.backtest.chunks import (
    RANK_METRICS,
    ChunkSimulation,
    ResultDetail,
    Selected,
    chunk_metrics,
    chunk_results,
    rank_value,
    series_span,
    simulate_chunk,
)
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.engine import chunk_size_for
from tradestream.backtest.progress import Progress, shared_progress
from tradestream.backtest.ranking import (
    RankedResults,
    rank_parts,
    set_names,
    write_part,
)
from tradestream.backtest.series import CandleSeries
from tradestream.strategies.strategy import Strategy
from tradestream.v1 import backtest_pb2, strategy_pb2


class SimulateChunkFn(beam.DoFn):
    """(symbol, first, stop) work item -> ChunkSimulation of strategies[first:stop]."""

    def __init__(
        self,
        strategies: Sequence[Strategy],
        config: ExecutionConfig,
        run_id: str,
        memory_mb: float,
    ):
        self._strategies = strategies if hasattr(strategies, "names") else tuple(strategies)
        self._config = config
        self._run_id = run_id
        self._memory_mb = memory_mb
        self._sets = Metrics.counter("SimulateTrades", "parameter_sets")

    def process(self, item, series_by_symbol):
        symbol, first, stop = item
        series = series_by_symbol[symbol]
        total = len(self._strategies)
        progress = None
        if total > stop - first:  # several chunks: long
            progress = shared_progress(self._run_id, symbol, "[backtest]", total, "parameter sets")
        chunk = simulate_chunk(series, self._strategies[first:stop], self._config, first)
        self._sets.inc(stop - first)
        if progress is not None:
            progress.advance(stop - first, symbol)
        yield chunk


class SimulateTrades(beam.PTransform):
    """PCollection[CandleSeries] -> PCollection[ChunkSimulation], chunked parameter sets.

    Args:
        strategies: the parameter sets to run on every symbol (built strategies, or a grid's
            lazy sequence: then each chunk builds its own).
        config: the execution model settings.
        memory_mb: working-set budget of one chunk (sets the chunk size per symbol).
    """

    def __init__(
        self, strategies: Sequence[Strategy], config: ExecutionConfig, memory_mb: float = 512
    ):
        super().__init__()
        if not len(strategies):
            raise ValueError("SimulateTrades needs at least one strategy")
        self._strategies = strategies if hasattr(strategies, "names") else tuple(strategies)
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
        work = series | "PlanChunks" >> beam.FlatMap(plan)
        if total > 1:
            # Spread a symbol's chunks over the workers. One parameter set is one chunk per
            # symbol, spread already by the grouping by symbol that built the series: a
            # reshuffle would only add a step (~40 ms of a single backtest).
            work = work | "SpreadChunks" >> beam.Reshuffle()
        return work | "Simulate" >> beam.ParDo(
            SimulateChunkFn(self._strategies, self._config, self._run_id, memory_mb),
            series_by_symbol=beam.pvalue.AsDict(keyed),
        )


class StoreMetricsFn(beam.DoFn):
    """ChunkSimulation -> (symbol, ResultPart): the chunk's metrics, written as records."""

    def __init__(self, config: ExecutionConfig, work_dir: str) -> None:
        self._config = config
        self._work_dir = work_dir

    def process(self, chunk: ChunkSimulation):
        records = chunk_metrics(chunk, self._config).records(chunk.first)
        span = series_span(chunk.series)
        yield span.symbol, write_part(self._work_dir, records, span)


class RankSymbolFn(beam.DoFn):
    """(symbol, [ResultPart]) -> RankedResults: the symbol's results, best first, on disk."""

    def __init__(self, names, config: ExecutionConfig, rank_by: str, work_dir: str) -> None:
        self._names = names
        self._config = config
        self._rank_by = rank_by
        self._work_dir = work_dir

    def process(self, element):
        symbol, parts = element
        parts = list(parts)
        count = sum(p.count for p in parts)
        progress = None
        if count > 100_000:  # a few seconds: say so
            meter = Progress("[backtest]", count, "results ranked")
            progress = lambda n: meter.advance(n, symbol)  # noqa: E731
        yield rank_parts(parts, self._names, self._config, self._rank_by, self._work_dir, progress)


class RankResults(beam.PTransform):
    """PCollection[ChunkSimulation] -> PCollection[RankedResults], one per symbol.

    Each chunk's metrics go to a part file in `work_dir` as soon as they are computed; each
    symbol's parts are then ranked into one file (see :mod:`tradestream.backtest.ranking`).
    Memory holds a chunk, or 24 bytes per parameter set of one symbol while it is ranked.

    Args:
        strategies: the run's parameter sets (names the results).
        config: the execution settings (recorded in each result).
        rank_by: a metric of RANK_METRICS, higher is better (NaN last).
        work_dir: a directory for the part and ranked files (the caller removes it).
    """

    def __init__(
        self,
        strategies: Sequence[Strategy],
        config: ExecutionConfig,
        rank_by: str,
        work_dir: str,
    ) -> None:
        super().__init__()
        if rank_by not in RANK_METRICS:
            raise ValueError(f"rank_by must be one of {', '.join(RANK_METRICS)}")
        self._names = set_names(strategies)
        self._config = config
        self._rank_by = rank_by
        self._work_dir = str(work_dir)

    def expand(self, chunks: beam.PCollection) -> beam.PCollection:
        return (
            chunks
            | "StoreMetrics" >> beam.ParDo(StoreMetricsFn(self._config, self._work_dir))
            | "GroupBySymbol" >> beam.GroupByKey()
            | "Rank"
            >> beam.ParDo(RankSymbolFn(self._names, self._config, self._rank_by, self._work_dir))
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
    """PCollection[BacktestResult | RankedResults] -> PCollection[Selected]: the best `top`
    per symbol (RankedResults are ranked already: their first `top` rows).

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
            items = list(items)
            if isinstance(items[0], RankedResults):
                ranked = items[0]
                ids = ranked.ids(0, top if top > 0 else None)
                for rank, (index, strategy_id) in enumerate(ids):
                    yield Selected(symbol, strategy_id, rank, index)
                return
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
    if isinstance(result, RankedResults):
        return result
    return backtest_pb2.BacktestResult(
        strategy=strategy_pb2.Strategy(strategy_id=result.strategy.strategy_id),
        symbol=result.symbol,
        metrics=result.metrics,
    )


class DetailResultsFn(beam.DoFn):
    """CandleSeries -> ResultDetail of each selected strategy of its symbol."""

    def __init__(self, strategies: Sequence[Strategy], config: ExecutionConfig, memory_mb: float):
        self._strategies = strategies if hasattr(strategies, "names") else tuple(strategies)
        self._config = config
        self._memory_mb = memory_mb

    def setup(self) -> None:
        self._by_id: dict[str, Strategy] | None = None

    def _strategy(self, pick: Selected) -> Strategy:
        if pick.index >= 0:
            return self._strategies[pick.index]
        if self._by_id is None:  # picks named by id only: an explicit (short) list
            self._by_id = {s.strategy_id: s for s in self._strategies}
        return self._by_id[pick.strategy_id]

    def process(self, series: CandleSeries, selected):
        picks = sorted((s for s in selected if s.symbol == series.symbol), key=lambda s: s.rank)
        if not picks:
            return
        size = chunk_size_for(len(series), self._memory_mb)
        for first in range(0, len(picks), size):
            part = picks[first : first + size]
            chunk = simulate_chunk(series, [self._strategy(p) for p in part], self._config)
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
