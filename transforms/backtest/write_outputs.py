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


# The CSV files, with their header and the rows one element gives (CandleSeries for
# candles.csv, ResultDetail for the others) under its sort key.
CANDLE_FILES = {"candles.csv": (CANDLES_HEADER, candles_csv)}
DETAIL_FILES = {
    "signals.csv": (SIGNALS_HEADER, signals_csv),
    "trades.csv": (TRADES_HEADER, trades_csv),
    "equity.csv": (EQUITY_HEADER, equity_csv),
}
CSV_HEADERS = {name: header for name, (header, _) in {**CANDLE_FILES, **DETAIL_FILES}.items()}


class WritePartsFn(beam.DoFn):
    """An element -> (file name, (sort key, part file)) for each CSV of `files` it has rows of.

    Args:
        out_dir: the output directory (parts go to `out_dir/.parts/<file name>/`).
        files: file name -> (header, rows function of an element).
        key: the element's sort key in every file.
    """

    def __init__(self, out_dir: str, files, key) -> None:
        self._dir = out_dir
        self._files = files
        self._key = key

    def process(self, element):
        key = self._key(element)
        for name, (_, rows) in self._files.items():
            text = rows(element)
            if not text:
                continue
            parts_dir = os.path.join(self._dir, ".parts", name)
            os.makedirs(parts_dir, exist_ok=True)
            path = os.path.join(parts_dir, f"{uuid.uuid4().hex}.part")
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            yield name, (key, path)


def _series_key(series) -> tuple:
    return (series.symbol,)


def _detail_key(detail) -> tuple:
    return (detail.symbol, detail.rank)


def _parts(parts_by_file, name: str) -> list:
    """A multimap side input's values of `name` (runners differ on a missing key)."""
    try:
        return list(parts_by_file[name])
    except KeyError:
        return []


class WriteSortedCsvFiles(beam.PTransform):
    """{candles: CandleSeries, details: ResultDetail, trigger: one element} -> PCollection[str]
    of the CSVs written.

    Each element's rows go to a part file per CSV as soon as they are formatted (memory holds
    one element's rows); then one step, started by `trigger`, concatenates each file's parts
    in key order (symbol, then rank) under its header (a file nothing has rows for gets its
    header alone). The part files' names reach that step as a side input. Few steps keep a
    small backtest fast: each Beam step costs construction, translation and its share of a
    bundle on every run (~15 ms a step here).

    Args:
        out_dir: the output directory.
    """

    def __init__(self, out_dir: str) -> None:
        super().__init__()
        self._dir = out_dir

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection:
        out_dir = self._dir
        candles = inputs["candles"] | "CandleParts" >> beam.ParDo(
            WritePartsFn(out_dir, CANDLE_FILES, _series_key)
        )
        details = inputs["details"] | "DetailParts" >> beam.ParDo(
            WritePartsFn(out_dir, DETAIL_FILES, _detail_key)
        )
        parts = (candles, details) | "AllParts" >> beam.Flatten()

        def concatenate(_, parts_by_file) -> list[str]:
            return [
                concatenate_parts(_parts(parts_by_file, name), os.path.join(out_dir, name), header)
                for name, header in CSV_HEADERS.items()
            ]

        return inputs["trigger"] | "Concatenate" >> beam.FlatMap(
            concatenate, parts_by_file=beam.pvalue.AsMultiMap(parts)
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

        trigger = results.pipeline | "Start" >> beam.Impulse()
        rejected = (
            inputs["rejected"]
            | "SummarizeRejections"
            >> beam.CombineGlobally(SummarizeRejectionsCombineFn()).without_defaults()
        )
        no_rejects = SummarizeRejectionsCombineFn().apply([])  # what an empty combine gives
        series_info = series | "SeriesInfo" >> beam.Map(SeriesInfo.of)
        written = [
            {"candles": series, "details": details, "trigger": trigger}
            | "WriteCsvFiles" >> WriteSortedCsvFiles(out_dir)
        ]
        written.append(
            trigger
            | "WriteSummary"
            >> beam.Map(
                lambda _, rs, ss, rej: write_summary(path("summary.json"), run, rs, ss, rej),
                rs=beam.pvalue.AsList(results),
                ss=beam.pvalue.AsList(series_info),
                rej=beam.pvalue.AsSingleton(rejected, default_value=no_rejects),
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
                rej=beam.pvalue.AsSingleton(rejected, default_value=no_rejects),
            )
        )
        return written | "Written" >> beam.Flatten()
