"""The optimizer's working files: candle series and per-job results, shared by driver and workers.

    save_series(series, directory)                      # SaveCandleSeries, in Beam
    files, rejected_text = read_saved_series(work_dir)  # in the driver, after the job
    series = load_series(file.path)                     # in a worker, cached per process

An optimization is many small Beam jobs (one per generation). The candles are read and
turned into series once, by a first job that writes each symbol's series as a `.npz` file in
the run's work directory; the fitness workers read them (once per process: a Flink LOOPBACK
or DirectRunner worker keeps them across jobs). Each job's results come back to the driver as
one JSON file. The work directory must be visible to the workers and the driver (a local
directory for DirectRunner and a local Flink; a shared volume on a cluster), like the
backtest's output directory.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tradestream.backtest.series import CandleSeries

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_ARRAYS = ("start_ms", "open", "high", "low", "close", "volume", "filled")


@dataclass(frozen=True)
class SeriesFile:
    """Where one symbol's series was written, and its extent."""

    symbol: str
    path: str
    interval_ms: int
    candles: int
    first_ms: int  # first candle start
    end_ms: int  # last candle start + interval
    filled: int
    duplicates: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SeriesFile:
        return cls(**data)


def series_digest(series: CandleSeries) -> str:
    """A digest of a series' content (symbol, interval and every array)."""
    digest = hashlib.sha256(f"{series.symbol}|{series.interval_ms}".encode())
    for name in _ARRAYS:
        digest.update(np.ascontiguousarray(getattr(series, name)).tobytes())
    return digest.hexdigest()[:20]


def series_path(directory: str, series: CandleSeries) -> str:
    """A file name safe for any symbol and unique to the content.

    The content digest in the name means a path always denotes the same candles, so caches
    keyed by path (series, indicator values) can never serve another run's data.
    """
    symbol = series.symbol
    name = (
        f"{_UNSAFE.sub('_', symbol)}-{zlib.crc32(symbol.encode()):08x}-{series_digest(series)}.npz"
    )
    return os.path.join(directory, name)


def save_series(series: CandleSeries, directory: str) -> SeriesFile:
    """Writes a series as `.npz` (atomically) and describes it."""
    os.makedirs(directory, exist_ok=True)
    path = series_path(directory, series)
    tmp = f"{path}.tmp.npz"
    np.savez(
        tmp,
        symbol=np.array(series.symbol),
        interval_ms=np.array(series.interval_ms, dtype=np.int64),
        duplicates=np.array(series.duplicates, dtype=np.int64),
        **{name: getattr(series, name) for name in _ARRAYS},
    )
    os.replace(tmp, path)
    return SeriesFile(
        symbol=series.symbol,
        path=path,
        interval_ms=int(series.interval_ms),
        candles=len(series),
        first_ms=int(series.start_ms[0]),
        end_ms=int(series.start_ms[-1]) + int(series.interval_ms),
        filled=int(series.filled.sum()),
        duplicates=int(series.duplicates),
    )


@functools.lru_cache(maxsize=32)
def load_series(path: str) -> CandleSeries:
    """The series in a file written by `save_series` (cached per process: see series_path)."""
    with np.load(path) as data:
        arrays = {name: data[name].copy() for name in _ARRAYS}
        return CandleSeries(
            symbol=str(data["symbol"]),
            interval_ms=int(data["interval_ms"]),
            duplicates=int(data["duplicates"]),
            **arrays,
        )


def write_json(path: str, document: Any) -> str:
    """Writes JSON atomically; NaN and infinities are kept (these files are internal)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(document, fh)
    os.replace(tmp, path)
    return path


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


SERIES_DIR = "series"
MANIFEST = "series.json"
REJECTIONS = "rejected.json"


def read_saved_series(work_dir: str) -> tuple[list[SeriesFile], str]:
    """What the load job saved: the series files by symbol, and the rejections as text."""
    files = [SeriesFile.from_json(d) for d in read_json(os.path.join(work_dir, MANIFEST))]
    rejected = read_json(os.path.join(work_dir, REJECTIONS))
    return sorted(files, key=lambda f: f.symbol), rejected["text"]


def finite_or_none(value: Any) -> Any:
    """NaN and infinities as None (for the JSON people read)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
