"""Trade files (CSV or Parquet) as TradeStream reads them: `time,symbol,price,size`.

Optional columns: `side` (buy/sell, or empty), `trade_id`, `exchange`. `time` is ISO-8601
(with or without a zone; UTC assumed without) or epoch milliseconds. Column names are matched
case-insensitively; CSV is UTF-8 (a byte-order mark is allowed). Rows that cannot be used are
reported with their row number and why; they are never dropped silently. A file that cannot be
read at all (not UTF-8, not gzip, not Parquet, a field over the CSV size limit) raises
TradeFileError naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tradestream.market.trade_validation import check_trade
from tradestream.v1 import trade_pb2

REQUIRED = ("time", "symbol", "price", "size")
_SIDES = {"buy": trade_pb2.SIDE_BUY, "sell": trade_pb2.SIDE_SELL, "": trade_pb2.SIDE_UNSPECIFIED}


class TradeFileError(ValueError):
    """The file as a whole cannot be read (missing, unknown format, missing columns)."""


def open_csv(path: Path):
    """A CSV file (gzipped when it ends in .gz) opened as UTF-8 text; a BOM is skipped."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", newline="", encoding="utf-8-sig")


@contextlib.contextmanager
def unreadable_as_file_error(path: Path) -> Iterator[None]:
    """Turns what a damaged or mis-encoded file raises while read into a TradeFileError."""
    import pyarrow

    try:
        yield
    except TradeFileError:
        raise
    except (
        UnicodeDecodeError,
        csv.Error,
        OSError,  # also gzip.BadGzipFile
        EOFError,  # a truncated gzip stream
        zlib.error,
        pyarrow.ArrowException,
    ) as exc:
        raise TradeFileError(f"{path}: cannot be read: {exc}") from None


@dataclass(frozen=True)
class BadRow:
    """A row that could not become a Trade."""

    row: int  # 1-based data row number
    reason: str
    detail: str
    raw: str


def parse_time_ms(value: object) -> int:
    """Epoch milliseconds from epoch ms (int/float/digits) or an ISO-8601 string."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    text = str(value).strip()
    if not text:
        raise ValueError("empty time")
    if text.lstrip("-").isdigit():
        return int(text)
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


def _rows(path: Path) -> Iterator[dict[str, object]]:
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        columns = {c.lower(): c for c in table.column_names}
        _check_columns(path, columns)
        for batch in table.to_batches(max_chunksize=65536):
            data = batch.to_pydict()
            keys = list(data)
            for i in range(batch.num_rows):
                yield {k.lower(): data[k][i] for k in keys}
        return
    if name.endswith((".csv", ".csv.gz")):
        with open_csv(path) as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                raise TradeFileError(f"{path}: empty file (no header row)")
            columns = {c.strip().lower(): c for c in reader.fieldnames}
            _check_columns(path, columns)
            for row in reader:
                yield {k.strip().lower(): v for k, v in row.items() if k is not None}
        return
    raise TradeFileError(f"{path}: unknown format; use .csv, .csv.gz or .parquet")


def _check_columns(path: Path, columns: dict[str, str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise TradeFileError(
            f"{path}: missing column(s) {', '.join(missing)}; a trades file needs "
            f"{','.join(REQUIRED)} (found: {', '.join(columns.values())})"
        )


def read_trades(path: str | Path, exchange: str = "replay") -> Iterator[trade_pb2.Trade | BadRow]:
    """Yields a Trade per good row and a BadRow (with the reason) per bad one, in file order.

    Raises:
        TradeFileError: the file is missing, of an unknown format, or lacks columns.
    """
    path = Path(path)
    if not path.is_file():
        raise TradeFileError(f"{path}: no such file")
    with unreadable_as_file_error(path):
        yield from _records(path, exchange)


def _records(path: Path, exchange: str) -> Iterator[trade_pb2.Trade | BadRow]:
    for number, row in enumerate(_rows(path), start=1):
        raw = ",".join(str(row.get(c, "")) for c in REQUIRED)
        side_text = str(row.get("side") or "").strip().lower()
        if side_text not in _SIDES:
            detail = f"row {number}: side {side_text!r} is not buy, sell or empty"
            yield BadRow(number, "invalid_side", detail, raw)
            continue
        try:
            trade = trade_pb2.Trade(
                exchange=str(row.get("exchange") or exchange),
                symbol=str(row["symbol"] or "").strip().upper(),
                trade_id=str(row.get("trade_id") or f"{number}").strip(),
                price=float(row["price"]),
                size=float(row["size"]),
                side=_SIDES[side_text],
                time_ms=parse_time_ms(row["time"]),
            )
        except (TypeError, ValueError, OverflowError) as exc:
            yield BadRow(number, "malformed", f"row {number}: {exc}", raw)
            continue
        problem = check_trade(trade)
        if problem is not None:
            yield BadRow(number, problem.reason, f"row {number}: {problem.detail}", raw)
            continue
        yield trade


_OUT_SIDES = {trade_pb2.SIDE_BUY: "buy", trade_pb2.SIDE_SELL: "sell"}


def write_trades(path: str | Path, trades: Iterator[trade_pb2.Trade]) -> int:
    """Writes trades in the format the name asks for: `.csv`, `.csv.gz` or `.parquet`.

    The columns are those `read_trades` reads back: time (epoch ms), symbol, price, size,
    side, trade_id.

    Raises:
        TradeFileError: any other file name (nothing is written).
    """
    name = Path(path).name.lower()
    if name.endswith(".parquet"):
        return write_trades_parquet(path, trades)
    if name.endswith((".csv", ".csv.gz")):
        return write_trades_csv(path, trades)
    raise TradeFileError(f"{path}: unknown format; use .csv, .csv.gz or .parquet")


def write_trades_parquet(path: str | Path, trades: Iterator[trade_pb2.Trade]) -> int:
    """Writes trades as a Parquet file with the columns of `write_trades_csv`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: dict[str, list] = {
        k: [] for k in ("time", "symbol", "price", "size", "side", "trade_id")
    }
    for t in trades:
        columns["time"].append(t.time_ms)
        columns["symbol"].append(t.symbol)
        columns["price"].append(t.price)
        columns["size"].append(t.size)
        columns["side"].append(_OUT_SIDES.get(t.side, ""))
        columns["trade_id"].append(t.trade_id)
    schema = pa.schema(
        [
            ("time", pa.int64()),
            ("symbol", pa.string()),
            ("price", pa.float64()),
            ("size", pa.float64()),
            ("side", pa.string()),
            ("trade_id", pa.string()),
        ]
    )
    pq.write_table(pa.table(columns, schema=schema), path)
    return len(columns["time"])


def write_trades_csv(path: str | Path, trades: Iterator[trade_pb2.Trade]) -> int:
    """Writes trades as `time,symbol,price,size,side,trade_id` (time in epoch ms)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["time", "symbol", "price", "size", "side", "trade_id"])
        for t in trades:
            out.writerow(
                [
                    t.time_ms,
                    t.symbol,
                    repr(t.price),
                    repr(t.size),
                    _OUT_SIDES.get(t.side, ""),
                    t.trade_id,
                ]
            )
            count += 1
    return count


__all__ = [
    "BadRow",
    "TradeFileError",
    "open_csv",
    "parse_time_ms",
    "read_trades",
    "write_trades",
    "write_trades_parquet",
    "unreadable_as_file_error",
    "write_trades_csv",
]
