"""Historical data files for backtests: trades or candles, CSV (optionally gzipped) or Parquet.

    kind = detect_kind(path)                  # "trades" or "candles", from the header
    for record in read_candles(path): ...     # Candle or RejectedRow, in file order

(The Beam readers over them are in :mod:`tradestream.transforms.backtest.read_files`.)

Detection: column names are matched case-insensitively; a file with `open` and `close`
columns holds candles, one with `price` and `size` holds trades (`time,symbol,price,size`, see
:mod:`tradestream.market.trade_files`); anything else is an error naming the columns found.

Candle files use the common layout `Date,Open,High,Low,Close,Volume` in any letter case. The
time column is the first of `time`, `timestamp`, `date`, `datetime`, `open_time` or an unnamed
first column (a pandas index), holding ISO-8601 (UTC unless a zone is given) or epoch
milliseconds; it is the candle's start. `volume` is optional (0 without it). The symbol comes
from a `symbol` column, else the `symbol` argument (`--symbol`), else the file name without
its extension, upper-cased (`BTC-USD.csv` -> `BTC-USD`). The candle interval is inferred per
symbol later (:mod:`tradestream.backtest.series`).

Rows that cannot be used are never dropped silently: each becomes a `RejectedRow` (file, row,
reason, detail) on the `rejected` output. Reasons: `malformed` (unparsable value),
`invalid_time`, `invalid_price` (OHLC not finite and > 0), `invalid_volume` (negative or not
finite), `inconsistent_ohlc` (high below open/close/low, or low above open/close), plus the
trade reasons of :func:`tradestream.market.trade_validation.check_trade`.

Duplicate rows (one symbol and candle time twice in a file): the last row wins. A row repeating
an earlier one exactly is dropped quietly later (counted as `duplicate_candles_dropped` in
summary.json); a row that differs in any of open, high, low, close or volume replaces the
earlier one, which becomes a `conflicting_duplicate` RejectedRow naming both rows and both
closes, so that `tradestream backtest` can say so. (The later row gets the higher candle
`revision`, which is what :func:`tradestream.backtest.series.build_series` keeps.) Only rows
of one file are compared: the reader keeps a small tuple per (symbol, time) of the file
(about 250 bytes), freed when the file is read.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tradestream.market.trade_files import (
    TradeFileError,
    open_csv,
    parse_time_ms,
    unreadable_as_file_error,
)
from tradestream.v1 import candle_pb2

REJECTED_TAG = "rejected"
CONFLICT_REASON = "conflicting_duplicate"  # a row replaced by a later, different one
TIME_COLUMNS = ("time", "timestamp", "date", "datetime", "open_time", "")
CANDLE_COLUMNS = ("open", "high", "low", "close")
KINDS = ("trades", "candles")
SUFFIXES = (".csv.gz", ".csv", ".parquet")
# Earliest accepted candle time: 1900-01-01. Digits below 1e11 (before 1973-03-03 in ms) are
# almost always epoch seconds given where milliseconds are expected.
_MIN_TIME_MS = -2_208_988_800_000
_MAX_TIME_MS = 7_258_118_400_000
_SECONDS_LIKE = 100_000_000_000
_MALFORMED = "\0malformed"  # marks a CSV row with the wrong number of fields


@dataclass(frozen=True)
class RejectedRow:
    """A row of an input file that was not used, and why."""

    file: str
    row: int  # 1-based data row number
    reason: str
    detail: str


def _columns(path: Path) -> list[str]:
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        with unreadable_as_file_error(path):
            return list(pq.read_schema(path).names)
    if name.endswith((".csv", ".csv.gz")):
        with unreadable_as_file_error(path), open_csv(path) as fh:
            header = next(csv.reader(fh), None)
        if header is None:
            raise TradeFileError(f"{path}: empty file (no header row)")
        return header
    raise TradeFileError(f"{path}: unknown format; use .csv, .csv.gz or .parquet")


def detect_kind(path: str | Path) -> str:
    """ "trades" or "candles" from a file's header (see the module docstring).

    Raises:
        TradeFileError: missing file, unknown format, or neither layout.
    """
    path = Path(path)
    if not path.is_file():
        raise TradeFileError(f"{path}: no such file")
    columns = [c.strip().lower() for c in _columns(path)]
    if "open" in columns and "close" in columns:
        return "candles"
    if "price" in columns and "size" in columns:
        return "trades"
    raise TradeFileError(
        f"{path}: neither a trades file (time,symbol,price,size) nor a candles file "
        f"(Date,Open,High,Low,Close[,Volume][,Symbol]); found columns: {', '.join(columns)}"
    )


def symbol_from_path(path: str | Path) -> str:
    """The file name without its data suffix, upper-cased: `data/btc-usd.csv.gz` -> `BTC-USD`."""
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.strip().upper()


def _time_column(columns: dict[str, str], path: Path) -> str:
    for candidate in TIME_COLUMNS:
        if candidate in columns:
            return candidate
    raise TradeFileError(
        f"{path}: no time column; name it one of {', '.join(c for c in TIME_COLUMNS if c)}"
    )


def _candle_rows(path: Path) -> Iterator[dict[str, object]]:
    """Rows with lower-cased, stripped column names; checks the required columns first."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        columns = {c.strip().lower(): c for c in table.column_names}
        _check_candle_columns(path, columns)
        for batch in table.to_batches(max_chunksize=65536):
            data = batch.to_pydict()
            keys = [(k.strip().lower(), k) for k in data]
            for i in range(batch.num_rows):
                yield {low: data[k][i] for low, k in keys}
        return
    with open_csv(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise TradeFileError(f"{path}: empty file (no header row)")
        keys = [c.strip().lower() for c in header]
        _check_candle_columns(path, {k: k for k in keys})
        for values in reader:
            if not values:
                continue
            if len(values) != len(keys):
                yield {_MALFORMED: f"{len(values)} fields, expected {len(keys)}"}
                continue
            yield dict(zip(keys, values, strict=True))


def _check_candle_columns(path: Path, columns: dict[str, str]) -> None:
    missing = [c for c in CANDLE_COLUMNS if c not in columns]
    if missing:
        raise TradeFileError(
            f"{path}: missing column(s) {', '.join(missing)}; a candles file needs "
            f"Date,Open,High,Low,Close[,Volume] (found: {', '.join(columns.values())})"
        )
    _time_column(columns, path)


def _candle_time_ms(value: object) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
        if 0 <= number < _SECONDS_LIKE:
            raise ValueError(f"time {number} looks like epoch seconds; use epoch milliseconds")
    time_ms = parse_time_ms(value)
    if not _MIN_TIME_MS <= time_ms <= _MAX_TIME_MS:
        raise ValueError(f"time {value!r} is outside 1900..2200")
    return time_ms


def read_candles(
    path: str | Path, symbol: str | None = None
) -> Iterator[candle_pb2.Candle | RejectedRow]:
    """Yields a Candle per good row (interval_ms 0: inferred later) and a RejectedRow per bad one.

    Args:
        path: a candles file (see the module docstring).
        symbol: the symbol of a file without a `symbol` column (default: from the file name).

    Raises:
        TradeFileError: the file is missing, of an unknown format, or lacks columns.
    """
    path = Path(path)
    if not path.is_file():
        raise TradeFileError(f"{path}: no such file")
    default_symbol = (symbol or symbol_from_path(path)).strip().upper()
    with unreadable_as_file_error(path):
        yield from _candle_records(path, default_symbol)


# What the reader keeps of the last row of a file for one (symbol, time), enough to tell a
# conflict and name it: (row number, close, hash of (open, high, low, close, volume), revision).
# A plain tuple in a dict per symbol: about 250 bytes a row, half a dataclass of the values.
_Seen = tuple[int, float, int, int]


def _conflict(path: Path, symbol: str, start_ms: int, earlier: _Seen, row: int, close: float):
    """The RejectedRow of an earlier row replaced by a later, different row of one time."""
    earlier_row, before = earlier[0], earlier[1]
    what = (
        f"close {before!r}, row {row} has close {close!r}"
        if close != before
        else f"same close {close!r} but a different open, high, low or volume in row {row}"
    )
    return RejectedRow(
        str(path),
        earlier_row,
        CONFLICT_REASON,
        f"row {earlier_row}: {symbol} {_iso_ms(start_ms)}: {what}; row {row} is used "
        "(the last row wins)",
    )


def _iso_ms(ms: int) -> str:
    text = datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace(".000+00:00", "Z").replace("+00:00", "Z")


def _candle_records(path: Path, default_symbol: str) -> Iterator[candle_pb2.Candle | RejectedRow]:
    time_key = None
    seen: dict[str, dict[int, _Seen]] = {}  # symbol -> candle time -> the last row
    for number, row in enumerate(_candle_rows(path), start=1):
        if _MALFORMED in row:
            yield RejectedRow(str(path), number, "malformed", f"row {number}: {row[_MALFORMED]}")
            continue
        if time_key is None:
            time_key = _time_column({k: k for k in row}, path)
        try:
            start_ms = _candle_time_ms(row[time_key])
        except (TypeError, ValueError, OverflowError) as exc:
            yield RejectedRow(str(path), number, "invalid_time", f"row {number}: {exc}")
            continue
        try:
            o, h, low, c = (float(row[k]) for k in CANDLE_COLUMNS)
            raw_volume = row.get("volume")
            volume = 0.0 if raw_volume in (None, "") else float(raw_volume)
        except (TypeError, ValueError, OverflowError) as exc:
            yield RejectedRow(str(path), number, "malformed", f"row {number}: {exc}")
            continue
        problem = _candle_problem(o, h, low, c, volume)
        if problem is not None:
            yield RejectedRow(str(path), number, problem[0], f"row {number}: {problem[1]}")
            continue
        row_symbol = str(row.get("symbol") or "").strip().upper() or default_symbol
        digest = hash((o, h, low, c, volume))
        rows = seen.setdefault(row_symbol, {})
        earlier = rows.get(start_ms)
        revision = 0 if earlier is None else earlier[3] + 1
        if earlier is not None and (earlier[1], earlier[2]) != (c, digest):
            yield _conflict(path, row_symbol, start_ms, earlier, number, c)
        rows[start_ms] = (number, c, digest, revision)
        yield candle_pb2.Candle(
            symbol=row_symbol,
            start_ms=start_ms,
            open=o,
            high=h,
            low=low,
            close=c,
            volume=volume,
            vwap=c,
            revision=revision,
        )


def _candle_problem(o: float, h: float, low: float, c: float, volume: float):
    if not all(math.isfinite(x) and x > 0 for x in (o, h, low, c)):
        return "invalid_price", f"open/high/low/close must be finite and > 0: {o}, {h}, {low}, {c}"
    if not (math.isfinite(volume) and volume >= 0):
        return "invalid_volume", f"volume must be finite and >= 0, got {volume}"
    if h < max(o, c, low) or low > min(o, c):
        return "inconsistent_ohlc", f"high {h} / low {low} do not bound open {o} and close {c}"
    return None


def resolve_inputs(patterns: Sequence[str], input_format: str = "auto") -> tuple[list[str], str]:
    """Expands glob patterns and decides the kind of the inputs.

    Args:
        patterns: files or glob patterns (`data/*.csv`).
        input_format: "auto" (detect from each header), "trades" or "candles".

    Returns:
        (sorted distinct paths, "trades" | "candles").

    Raises:
        TradeFileError: no file matched a pattern, a file is unreadable, or the files mix
            trades and candles.
    """
    import glob

    paths: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise TradeFileError(f"{pattern}: no file matches")
        paths.extend(matches)
    paths = list(dict.fromkeys(paths))
    if not paths:
        raise TradeFileError("no input files")
    kinds = {path: detect_kind(path) for path in paths}
    if input_format != "auto":
        wrong = [p for p, k in kinds.items() if k != input_format]
        if wrong:
            raise TradeFileError(
                f"--input_format={input_format} but {', '.join(wrong)} look(s) like "
                f"{kinds[wrong[0]]} files"
            )
        return paths, input_format
    found = set(kinds.values())
    if len(found) > 1:
        raise TradeFileError(
            "inputs mix trades and candles files: "
            + "; ".join(f"{p}: {k}" for p, k in kinds.items())
        )
    return paths, found.pop()


def rejected_from_dead_letter(letter) -> RejectedRow:
    """A dead letter of WindowTradesToCandles (a late trade) as a rejected input row."""
    return RejectedRow("", 0, letter.reason, letter.detail)
