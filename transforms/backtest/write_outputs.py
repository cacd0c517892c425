"""WriteBacktestOutputs: a backtest's PCollections -> the files of its output directory.

The Beam steps that write what :mod:`tradestream.backtest.outputs` describes: CSVs as
sorted part files concatenated in order by one step (memory bounded by one part),
summary.json and report.html (:mod:`tradestream.reports.backtest_report`).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter

import apache_beam as beam

from tradestream.backtest.chunks import RANK_METRICS
from tradestream.backtest.files import RejectedRow
from tradestream.backtest.outputs import (
    CANDLES_HEADER,
    EQUITY_HEADER,
    EXAMPLES_KEPT,
    SIGNALS_HEADER,
    TRADES_HEADER,
    RejectionSummary,
    RunInfo,
    SeriesInfo,
    candles_csv,
    concatenate_parts,
    equity_csv,
    signals_csv,
    trades_csv,
    write_summary,
    write_text,
)


class SummarizeRejectionsCombineFn(beam.CombineFn):
    """RejectedRow -> RejectionSummary (counts are exact; examples are the first by file/row)."""

    def create_accumulator(self):
        return (Counter(), Counter(), [])

    def add_input(self, acc, row: RejectedRow):
        acc[0][row.reason] += 1
        acc[1][row.file] += 1
        acc[2].append(row)
        if len(acc[2]) > 4 * EXAMPLES_KEPT:
            acc[2].sort(key=lambda r: (r.file, r.row))
            del acc[2][EXAMPLES_KEPT:]
        return acc

    def merge_accumulators(self, accs):
        reasons, files, rows = Counter(), Counter(), []
        for r, f, e in accs:
            reasons.update(r)
            files.update(f)
            rows.extend(e)
        rows.sort(key=lambda r: (r.file, r.row))
        return (reasons, files, rows[:EXAMPLES_KEPT])

    def extract_output(self, acc) -> RejectionSummary:
        rows = sorted(acc[2], key=lambda r: (r.file, r.row))[:EXAMPLES_KEPT]
        return RejectionSummary(sum(acc[0].values()), dict(acc[0]), dict(acc[1]), tuple(rows))


class WritePartFn(beam.DoFn):
    """(sort key, text) -> (sort key, part file) under `parts_dir`."""

    def __init__(self, parts_dir: str) -> None:
        self._dir = parts_dir

    def process(self, element):
        key, text = element
        if not text:
            return
        os.makedirs(self._dir, exist_ok=True)
        path = os.path.join(self._dir, f"{uuid.uuid4().hex}.part")
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        yield (key, path)


class WriteSortedCsv(beam.PTransform):
    """PCollection[(sort key, rows text)] -> PCollection[str]: one CSV file, rows in key order.

    Args:
        path: the file to write.
        header: its header line.
    """

    def __init__(self, path: str, header: str) -> None:
        super().__init__()
        self._path = path
        self._header = header

    def expand(self, blocks: beam.PCollection) -> beam.PCollection:
        parts_dir = os.path.join(
            os.path.dirname(self._path), ".parts", os.path.basename(self._path)
        )
        path, header = self._path, self._header
        return (
            blocks
            | "WriteParts" >> beam.ParDo(WritePartFn(parts_dir))
            | "CollectParts" >> beam.combiners.ToList()
            | "Concatenate" >> beam.Map(lambda parts: concatenate_parts(parts, path, header))
        )


class WriteBacktestOutputs(beam.PTransform):
    """{results, series, details, rejected} -> PCollection[str] of the files written.

    Input: a dict of PCollections: `results` (BacktestResult), `series` (CandleSeries),
    `details` (ResultDetail), `rejected` (RejectedRow).

    Args:
        output_dir: the output directory (created if missing).
        run: the run's settings, recorded in summary.json and the report.
    """

    def __init__(self, output_dir: str, run: RunInfo) -> None:
        super().__init__()
        if run.rank_by not in RANK_METRICS:
            raise ValueError(f"rank_by must be one of {', '.join(RANK_METRICS)}")
        self._dir = str(output_dir)
        self._run = run

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection:
        from tradestream.reports.backtest_report import render_report

        out_dir, run = self._dir, self._run
        os.makedirs(out_dir, exist_ok=True)
        shutil.rmtree(os.path.join(out_dir, ".parts"), ignore_errors=True)
        results, series, details = inputs["results"], inputs["series"], inputs["details"]

        def path(name: str) -> str:
            return os.path.join(out_dir, name)

        rejected = inputs["rejected"] | "SummarizeRejections" >> beam.CombineGlobally(
            SummarizeRejectionsCombineFn()
        )
        series_info = series | "SeriesInfo" >> beam.Map(SeriesInfo.of)
        written = [
            series
            | "CandleRows" >> beam.Map(lambda s: ((s.symbol,), candles_csv(s)))
            | "WriteCandles" >> WriteSortedCsv(path("candles.csv"), CANDLES_HEADER),
            details
            | "SignalRows" >> beam.Map(lambda d: ((d.symbol, d.rank), signals_csv(d)))
            | "WriteSignals" >> WriteSortedCsv(path("signals.csv"), SIGNALS_HEADER),
            details
            | "TradeRows" >> beam.Map(lambda d: ((d.symbol, d.rank), trades_csv(d)))
            | "WriteTrades" >> WriteSortedCsv(path("trades.csv"), TRADES_HEADER),
            details
            | "EquityRows" >> beam.Map(lambda d: ((d.symbol, d.rank), equity_csv(d)))
            | "WriteEquity" >> WriteSortedCsv(path("equity.csv"), EQUITY_HEADER),
        ]
        trigger = results.pipeline | "Start" >> beam.Create([None])
        written.append(
            trigger
            | "WriteSummary"
            >> beam.Map(
                lambda _, rs, ss, rej: write_summary(path("summary.json"), run, rs, ss, rej),
                rs=beam.pvalue.AsList(results),
                ss=beam.pvalue.AsList(series_info),
                rej=beam.pvalue.AsSingleton(rejected),
            )
        )
        best = details | "Best" >> beam.Filter(lambda d: d.rank == 0)
        written.append(
            trigger
            | "WriteReport"
            >> beam.Map(
                lambda _, rs, ss, bs, rej: write_text(
                    path("report.html"), render_report(run, rs, ss, bs, rej)
                ),
                rs=beam.pvalue.AsList(results),
                ss=beam.pvalue.AsList(series_info),
                bs=beam.pvalue.AsList(best),
                rej=beam.pvalue.AsSingleton(rejected),
            )
        )
        return written | "Written" >> beam.Flatten()
