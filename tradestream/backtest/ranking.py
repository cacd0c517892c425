"""Every result of a backtest, ranked, on disk: the memory of a grid does not grow with it.

    part = write_part(work_dir, records, span)             # per chunk, as it is simulated
    ranked = rank_parts(parts, names, "sharpe", work_dir)  # per symbol, once all are in
    ranked.top(5)                                          # [BacktestResult], best first
    for result in ranked.results():                        # every one, best first, streamed
        ...

A chunk's metrics are `RECORD_DTYPE` rows (144 bytes a parameter set) in a part file.
Ranking a symbol concatenates its parts, reads the ranking metric and the set indices in
blocks, sorts them (about 40 bytes a set: 40 MB for the largest grid), and rewrites the rows
best first, so that every reader (the best N for the detail files, summary.json, the report,
the console) reads a contiguous slice. Results are messages only while they are written.

The order is the one `sorted(results, key=(-rank_value, strategy_id))` gives: higher first,
NaN last, ties by strategy id as text; :class:`~tradestream.backtest.grid.GridSets` gives
integer keys that sort like the ids, so no id is formatted to rank.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.metrics import RECORD_DTYPE, record_proto
from tradestream.market.signal_messages import strategy_proto
from tradestream.strategies.params import ParamValue
from tradestream.strategies.strategy import Strategy
from tradestream.v1 import backtest_pb2

READ_BLOCK = 16_384  # rows read at a time (2.3 MB)


class SetNames(Protocol):
    """What the parameter sets of a run are called, by index."""

    def __len__(self) -> int: ...

    def describe(self, sets: np.ndarray) -> list[tuple[str, dict[str, ParamValue], str]]:
        """(type name, parameter values, strategy id) of each set."""
        ...

    def id_keys(self, sets: np.ndarray) -> np.ndarray:
        """int64 keys that sort the sets as their strategy ids sort."""
        ...


@dataclass(frozen=True, eq=False)
class ListedSets:
    """The names of an explicit list of strategies (--strategy, --strategies)."""

    names: tuple[tuple[str, dict[str, ParamValue], str], ...]

    def __len__(self) -> int:
        return len(self.names)

    def describe(self, sets: np.ndarray) -> list[tuple[str, dict[str, ParamValue], str]]:
        return [self.names[i] for i in np.asarray(sets).tolist()]

    def id_keys(self, sets: np.ndarray) -> np.ndarray:
        ids = sorted({sid for _, _, sid in self.names})
        rank = {sid: i for i, sid in enumerate(ids)}
        return np.array([rank[self.names[i][2]] for i in np.asarray(sets).tolist()], np.int64)


def set_names(strategies: Sequence[Strategy]) -> SetNames:
    """The names of `strategies` (a grid's lazy sequence names its sets without building)."""
    names = getattr(strategies, "names", None)
    if names is not None:
        return names()
    return ListedSets(tuple((s.type_name, dict(s.params), s.strategy_id) for s in strategies))


@dataclass(frozen=True)
class SeriesSpan:
    """What every result of one symbol records of its candles."""

    symbol: str
    start_ms: int
    end_ms: int
    candle_count: int
    interval_ms: int


@dataclass(frozen=True)
class ResultPart:
    """The metrics of one chunk of parameter sets, as RECORD_DTYPE rows in a file."""

    path: str
    first: int
    count: int
    span: SeriesSpan


def write_part(work_dir: str, records: np.ndarray, span: SeriesSpan) -> ResultPart:
    """Writes a chunk's records (sets `records["set"]`, consecutive) to a part file."""
    os.makedirs(work_dir, exist_ok=True)
    path = os.path.join(work_dir, f"{uuid.uuid4().hex}.part")
    records.tofile(path)
    first = int(records["set"][0]) if records.shape[0] else 0
    return ResultPart(path, first, int(records.shape[0]), span)


@dataclass(frozen=True, eq=False)
class RankedResults:
    """Every result of one symbol, best first, as RECORD_DTYPE rows in `path`.

    Attributes:
        span: the symbol and its candles.
        count: the number of results.
        path: the ranked rows.
        names: what each parameter set is called.
        config: the execution settings (recorded in each result).
        rank_by: the ranking metric.
    """

    span: SeriesSpan
    count: int
    path: str
    names: SetNames
    config: ExecutionConfig
    rank_by: str

    @property
    def symbol(self) -> str:
        return self.span.symbol

    def records(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The rows ranked `start` (0 = best) to `stop` (excluded)."""
        stop = self.count if stop is None else min(stop, self.count)
        start = min(max(start, 0), stop)
        with open(self.path, "rb") as fh:
            fh.seek(start * RECORD_DTYPE.itemsize)
            return np.fromfile(fh, dtype=RECORD_DTYPE, count=stop - start)

    def ids(self, start: int = 0, stop: int | None = None) -> list[tuple[int, str]]:
        """(set index, strategy id) of the results ranked `start` to `stop`."""
        sets = self.records(start, stop)["set"]
        names = self.names.describe(sets)
        return [(i, sid) for i, (_, _, sid) in zip(sets.tolist(), names, strict=True)]

    def results(
        self,
        start: int = 0,
        stop: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Iterator[backtest_pb2.BacktestResult]:
        """The results ranked `start` to `stop`, best first, read a block at a time.

        Args:
            start: the first rank.
            stop: the rank to stop before (None: every result).
            progress: called with the number of results of each block, once it is yielded.
        """
        stop = self.count if stop is None else min(stop, self.count)
        config = self.config.to_proto(self.span.interval_ms)
        for first in range(start, stop, READ_BLOCK):
            rows = self.records(first, min(first + READ_BLOCK, stop))
            names = self.names.describe(rows["set"])
            for row, (type_name, params, sid) in zip(rows, names, strict=True):
                yield backtest_pb2.BacktestResult(
                    strategy=strategy_proto(type_name, params, sid),
                    symbol=self.span.symbol,
                    config=config,
                    metrics=record_proto(row),
                    start_ms=self.span.start_ms,
                    end_ms=self.span.end_ms,
                    candle_count=self.span.candle_count,
                )
            if progress is not None:
                progress(rows.shape[0])

    def top(self, n: int) -> list[backtest_pb2.BacktestResult]:
        """The best `n` results."""
        return list(self.results(0, n))

    def blocks(self) -> Iterator[np.ndarray]:
        """Every row, best first, READ_BLOCK rows at a time."""
        for first in range(0, self.count, READ_BLOCK):
            yield self.records(first, first + READ_BLOCK)


def rank_parts(
    parts: Iterable[ResultPart],
    names: SetNames,
    config: ExecutionConfig,
    rank_by: str,
    work_dir: str,
    progress: Callable[[int], None] | None = None,
) -> RankedResults:
    """Ranks the results of one symbol (its part files, removed) into one ranked file.

    Args:
        parts: every part of the symbol (together, each parameter set once).
        names: what each set is called (for the id tie-break).
        config: the execution settings.
        rank_by: the metric, higher first, NaN last.
        work_dir: where the ranked file goes.
        progress: called with the number of rows of each block rewritten in rank order.

    Returns:
        The symbol's RankedResults.
    """
    parts = sorted(parts, key=lambda p: p.first)
    span = parts[0].span
    count = sum(p.count for p in parts)
    unsorted = os.path.join(work_dir, f"{uuid.uuid4().hex}.unranked")
    with open(unsorted, "wb") as out:
        for part in parts:
            with open(part.path, "rb") as fh:
                shutil.copyfileobj(fh, out)
            os.remove(part.path)
    # 8 bytes a result each for the metric, the id keys and the order (and lexsort's own).
    values = np.empty(count, dtype=np.float64)
    keys = np.empty(count, dtype=np.int64)
    with open(unsorted, "rb") as fh:
        for first in range(0, count, READ_BLOCK):
            rows = np.fromfile(fh, dtype=RECORD_DTYPE, count=min(READ_BLOCK, count - first))
            values[first : first + rows.shape[0]] = rows[rank_by]
            keys[first : first + rows.shape[0]] = names.id_keys(rows["set"])
    values[np.isnan(values)] = -np.inf  # NaN ranks last, as rank_value has it
    np.negative(values, out=values)  # higher first
    order = np.lexsort((keys, values))  # ties by id
    del keys, values
    path = os.path.join(work_dir, f"{span.symbol.replace(os.sep, '_')}-{uuid.uuid4().hex}.ranked")
    size = RECORD_DTYPE.itemsize
    # Rows are read one by one (pread): a memory map would count every page it touched, and
    # the pages the kernel maps around each, in the process's resident memory.
    fd = os.open(unsorted, os.O_RDONLY)
    try:
        with open(path, "wb") as out:
            for first in range(0, count, READ_BLOCK):
                wanted = order[first : first + READ_BLOCK]
                ascending = np.argsort(wanted)  # file order, for the page cache
                data = b"".join(os.pread(fd, size, int(p) * size) for p in wanted[ascending])
                block = np.empty(wanted.shape[0], dtype=RECORD_DTYPE)
                block[ascending] = np.frombuffer(data, dtype=RECORD_DTYPE)
                block.tofile(out)
                if progress is not None:
                    progress(block.shape[0])
    finally:
        os.close(fd)
    os.remove(unsorted)
    return RankedResults(span, count, path, names, config, rank_by)
