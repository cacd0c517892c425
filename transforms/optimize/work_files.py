"""The optimizer's Beam steps that write its working files (:mod:`tradestream.optimize.store`).

candles | SaveCandleSeries(work_dir, 60_000)         # series files and their manifest
rejected | SaveRejections(work_dir)
"""

from __future__ import annotations

import os

import apache_beam as beam

from tradestream.backtest.outputs import RejectionSummary
from tradestream.optimize.store import MANIFEST, REJECTIONS, SERIES_DIR, save_series, write_json
from tradestream.transforms.backtest.collect_series import CollectCandleSeries
from tradestream.transforms.backtest.write_outputs import SummarizeRejectionsCombineFn


class SaveCandleSeries(beam.PTransform):
    """PCollection[(symbol, Candle)] -> PCollection[str]: series files and their manifest.

    The load job of an optimization: each symbol's candles become one ordered series
    (`CollectCandleSeries`, as in the backtest) written under `work_dir`, listed in the
    manifest that `read_saved_series` reads.

    Args:
        work_dir: the run's work directory.
        default_interval_ms: the interval of a one-candle series read from a file.
    """

    def __init__(self, work_dir: str, default_interval_ms: int) -> None:
        super().__init__()
        self._work = work_dir
        self._interval = default_interval_ms

    def expand(self, candles: beam.PCollection) -> beam.PCollection:
        return (
            candles
            | "CollectCandleSeries" >> CollectCandleSeries(self._interval)
            | "WriteSeries" >> WriteSeriesFiles(os.path.join(self._work, SERIES_DIR))
            | "WriteManifest" >> WriteJsonList(os.path.join(self._work, MANIFEST))
        )


class SaveRejections(beam.PTransform):
    """PCollection[RejectedRow] -> PCollection[str]: their summary (counts by reason) as JSON.

    Args:
        work_dir: the run's work directory.
    """

    def __init__(self, work_dir: str) -> None:
        super().__init__()
        self._path = os.path.join(work_dir, REJECTIONS)

    def expand(self, rejected: beam.PCollection) -> beam.PCollection:
        path = self._path

        def write(summary: RejectionSummary) -> str:
            text = summary.describe() if summary.total else ""
            return write_json(path, {"total": summary.total, "text": text})

        return (
            rejected
            | "Summarize" >> beam.CombineGlobally(SummarizeRejectionsCombineFn())
            | "Write" >> beam.Map(write)
        )


class WriteSeriesFiles(beam.PTransform):
    """PCollection[CandleSeries] -> PCollection[SeriesFile], one `.npz` per symbol.

    Args:
        directory: where the files go (created if missing).
    """

    def __init__(self, directory: str) -> None:
        super().__init__()
        self._directory = directory

    def expand(self, series: beam.PCollection) -> beam.PCollection:
        directory = self._directory
        return series | "Save" >> beam.Map(lambda s: save_series(s, directory))


class WriteJsonList(beam.PTransform):
    """PCollection[X with .to_json()] -> PCollection[str]: one JSON list file (its path).

    The list is written even when the collection is empty. Order is not meaningful.

    Args:
        path: the file to write.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        path = self._path
        return (
            items
            | "ToJson" >> beam.Map(lambda item: item.to_json())
            | "Collect" >> beam.combiners.ToList()
            | "Write" >> beam.Map(lambda documents: write_json(path, documents))
        )
