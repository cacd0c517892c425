"""Fuzzing trade files (CSV, CSV.gz, Parquet): every data row is a Trade or a BadRow.

A file that cannot be read as a whole raises TradeFileError naming the file; otherwise the
rows in equal the trades plus the bad rows out, and every trade satisfies the Trade invariants.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradestream.market.trade_files import BadRow, TradeFileError, read_trades
from tradestream.market.trade_validation import MAX_TIME_MS, MIN_TIME_MS
from tradestream.v1 import trade_pb2

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE_QUOTE = re.compile(r"[A-Z0-9]{1,20}-[A-Z0-9]{1,20}")
COLUMNS = ["time", "symbol", "price", "size", "side", "trade_id", "exchange"]
GOOD = {
    "time": "2024-01-02T03:04:05Z",
    "symbol": "BTC-USD",
    "price": "42000.5",
    "size": "0.01",
    "side": "buy",
    "trade_id": "7",
    "exchange": "x",
}
REASONS = {
    "malformed",
    "missing_field",
    "invalid_symbol",
    "invalid_price",
    "invalid_size",
    "invalid_side",
    "invalid_time",
}

cells = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            "nan",
            "inf",
            "-inf",
            "-1",
            "0",
            "1e400",
            "1" * 30,
            "9" * 5000,
            "٣",
            "²",
            "Z",
            "2024-02-30",
            "1700000000",
            "1700000000000",
            "BTC-USD\n",
            "sell",
            "SELL ",
            "\ufeff",
        ]
    ),  # fmt: skip
)


@st.composite
def csv_tables(draw) -> tuple[list[str], list[list[str]]]:
    """A header (some columns dropped, renamed in case, or junk) and rows of mutated values."""
    header = [c for c in COLUMNS if draw(st.integers(0, 5)) > 0]
    header = [c.upper() if draw(st.booleans()) else c for c in header]
    header += draw(st.lists(st.text(max_size=6), max_size=2))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = [GOOD.get(name.lower(), "") for name in header]
        for i in draw(st.lists(st.integers(0, max(len(row) - 1, 0)), max_size=3)):
            if row:
                row[i] = draw(cells)
        if draw(st.integers(0, 9)) == 0:
            row = row[: draw(st.integers(0, len(row)))] + draw(st.lists(cells, max_size=2))
        rows.append(row)
    return header, rows


def _read_all(path: Path) -> list[trade_pb2.Trade | BadRow] | None:
    """The records of a file, or None when the file as a whole was refused (clearly)."""
    try:
        return list(read_trades(path))
    except TradeFileError as exc:
        assert str(path) in str(exc)
        return None


def _check_records(records: list, count_in: int) -> None:
    assert len(records) == count_in
    for number, record in enumerate(records, start=1):
        if isinstance(record, BadRow):
            assert record.row == number
            assert record.reason in REASONS, record
            assert record.detail.startswith(f"row {number}: ")
            continue
        assert BASE_QUOTE.fullmatch(record.symbol) and record.trade_id
        assert math.isfinite(record.price) and record.price > 0
        assert math.isfinite(record.size) and record.size > 0
        assert record.side in (trade_pb2.SIDE_UNSPECIFIED, trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL)
        assert MIN_TIME_MS <= record.time_ms <= MAX_TIME_MS


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8", "surrogatepass")
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)


def _data_rows(rows: list[list[str]]) -> int:
    # csv.DictReader skips rows with no fields at all; those are not data rows.
    return sum(1 for row in rows if row)


@FUZZ
@given(csv_tables(), st.sampled_from(["t.csv", "t.csv.gz"]))
def test_fuzz_read_trades_csv_every_row_is_a_trade_or_a_bad_row(table, name):
    header, rows = table
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        try:
            _write_csv(path, header, rows)
        except UnicodeEncodeError:  # a lone surrogate cannot be written as UTF-8 at all
            return
        records = _read_all(path)
        if records is None:
            assert any(c not in [h.strip().lower() for h in header] for c in COLUMNS[:4])
            return
        _check_records(records, _data_rows(rows))


parquet_columns = st.sampled_from(
    [
        pa.array(["2024-01-02T03:04:05Z"]),
        pa.array([1_704_164_645_000], pa.int64()),
        pa.array([1.7e12], pa.float64()),
        pa.array([float("nan")], pa.float64()),
        pa.array([float("inf")], pa.float64()),
        pa.array([-5], pa.int64()),
        pa.array([None], pa.string()),
        pa.array([True]),
        pa.array([b"\xff\x00"]),
        pa.array([[1.0, 2.0]]),
        pa.array([1_704_164_645_000_000], pa.timestamp("us")),
        pa.array([1_704_164_645_000_000], pa.timestamp("us", tz="UTC")),
        pa.array([19724], pa.date32()),
        pa.array(["BTC-USD"]),
        pa.array(["42000.5"]),
        pa.array([0.01], pa.float32()),
    ]
)


@FUZZ
@given(
    st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=7, unique=True),
    st.data(),
    st.integers(1, 3),
)
def test_fuzz_read_trades_parquet_any_column_types_give_trades_or_bad_rows(names, data, repeat):
    columns = {name: data.draw(parquet_columns, label=name) for name in names}
    table = pa.table({n: pa.concat_arrays([c] * repeat) for n, c in columns.items()})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.parquet"
        pq.write_table(table, path)
        records = _read_all(path)
        if records is not None:
            _check_records(records, repeat)


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(["t.csv", "t.csv.gz", "t.parquet"]))
def test_fuzz_read_trades_random_bytes_are_rows_or_a_trade_file_error(content, name):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        records = _read_all(path)
        for record in records or []:
            assert isinstance(record, trade_pb2.Trade | BadRow)


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"time,symbol,price,size\n\xff\xfe,BTC-USD,1,1\n", "t.csv"),  # not UTF-8
        (b"time,symbol,price,size\n" + b"x" * 200_000 + b",BTC-USD,1,1\n", "t.csv"),  # csv limit
        (b"not gzip at all", "t.csv.gz"),
        (b"PAR1 not parquet PAR1", "t.parquet"),
        (b"", "t.csv"),
    ],
)
def test_fuzz_read_trades_unreadable_files_raise_trade_file_error(tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TradeFileError, match=re.escape(str(path))):
        list(read_trades(path))


def test_fuzz_read_trades_utf8_bom_header_is_read(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftime,symbol,price,size\n1704164645000,BTC-USD,1,1\n")
    (record,) = list(read_trades(path))
    assert isinstance(record, trade_pb2.Trade) and record.symbol == "BTC-USD"


def test_fuzz_read_trades_unknown_side_is_a_bad_row_not_unspecified(tmp_path):
    path = tmp_path / "side.csv"
    path.write_text("time,symbol,price,size,side\n1704164645000,BTC-USD,1,1,sideways\n")
    (record,) = list(read_trades(path))
    assert isinstance(record, BadRow) and record.reason == "invalid_side"
