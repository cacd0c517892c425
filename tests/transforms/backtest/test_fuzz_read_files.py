"""Fuzzing backtest input files: candle rows are Candles or RejectedRows, headers are detected
or refused with a TradeFileError, never another exception."""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradestream.backtest.files import CONFLICT_REASON, RejectedRow, detect_kind, read_candles
from tradestream.market.trade_files import TradeFileError
from tradestream.v1 import candle_pb2

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLUMNS = ["Date", "Open", "High", "Low", "Close", "Volume", "Symbol"]
GOOD = {
    "date": "2024-01-02",
    "open": "10",
    "high": "12",
    "low": "9",
    "close": "11",
    "volume": "100",
    "symbol": "BTC-USD",
}
REASONS = {"malformed", "invalid_time", "invalid_price", "invalid_volume", "inconsistent_ohlc"}

cells = st.one_of(
    st.text(max_size=10),
    st.sampled_from(
        [
            "",
            "nan",
            "inf",
            "-1",
            "0",
            "1e400",
            "9" * 5000,
            "٣",
            "1700000000",
            "1700000000000",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31",
            "-5",
        ]
    ),  # fmt: skip
)


@st.composite
def candle_tables(draw) -> tuple[list[str], list[list[str]]]:
    header = [c for c in COLUMNS if draw(st.integers(0, 6)) > 0]
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        row = [GOOD[name.lower()] for name in header]
        for i in draw(st.lists(st.integers(0, max(len(row) - 1, 0)), max_size=3)):
            if row:
                row[i] = draw(cells)
        if draw(st.integers(0, 9)) == 0:
            row = row[: draw(st.integers(0, len(row)))]
        rows.append(row)
    return header, rows


def _check_candles(records: list, count_in: int) -> None:
    # A row replaced by a later, different row of the same time is a candle and also a
    # conflicting_duplicate RejectedRow (it is dropped when the series is built).
    replaced = [r for r in records if isinstance(r, RejectedRow) and r.reason == CONFLICT_REASON]
    assert len(records) - len(replaced) == count_in
    for record in records:
        if record in replaced:
            continue
        if isinstance(record, RejectedRow):
            assert record.reason in REASONS and record.detail.startswith(f"row {record.row}: ")
            continue
        assert isinstance(record, candle_pb2.Candle) and record.symbol
        prices = (record.open, record.high, record.low, record.close)
        assert all(math.isfinite(x) and x > 0 for x in prices)
        assert record.low <= min(record.open, record.close) <= max(record.open, record.close)
        assert max(record.open, record.close) <= record.high
        assert math.isfinite(record.volume) and record.volume >= 0


@FUZZ
@given(candle_tables())
def test_fuzz_read_candles_csv_every_row_is_a_candle_or_a_rejected_row(table):
    header, rows = table
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([header, *rows])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "btc-usd.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8", errors="surrogatepass")
        try:
            records = list(read_candles(path))
        except TradeFileError as exc:
            assert str(path) in str(exc)
            return
        _check_candles(records, sum(1 for row in rows if row))


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(COLUMNS),
        st.sampled_from(
            [
                pa.array(["2024-01-02"]),
                pa.array([1_704_164_645_000], pa.int64()),
                pa.array([float("nan")]),
                pa.array([10.0]),
                pa.array([None], pa.float64()),
                pa.array([[1.0]]),
                pa.array([b"\xff"]),
                pa.array([True]),
                pa.array([1_704_164_645_000_000], pa.timestamp("us")),
            ]
        ),
        min_size=1,
    )
)
def test_fuzz_read_candles_parquet_any_column_types_give_candles_or_rejected_rows(columns):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.parquet"
        pq.write_table(pa.table(columns), path)
        try:
            records = list(read_candles(path))
        except TradeFileError:
            return
        _check_candles(records, 1)


@FUZZ
@given(st.binary(max_size=120), st.sampled_from(["a.csv", "a.csv.gz", "a.parquet", "a.txt"]))
def test_fuzz_detect_kind_random_bytes_detects_or_raises_trade_file_error(content, name):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        try:
            assert detect_kind(path) in ("trades", "candles")
        except TradeFileError as exc:
            assert str(path) in str(exc)


@pytest.mark.parametrize(
    "content",
    [b"Date,Open,High,Low,Close\n\xff,1,1,1,1\n", b"not gzip"],
)
def test_fuzz_read_candles_unreadable_file_raises_trade_file_error(tmp_path, content):
    path = tmp_path / ("c.csv" if content.startswith(b"Date") else "c.csv.gz")
    path.write_bytes(content)
    with pytest.raises(TradeFileError, match="cannot be read"):
        list(read_candles(path))


def test_fuzz_detect_kind_utf8_bom_header_is_detected(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfDate,Open,High,Low,Close\n2024-01-02,1,1,1,1\n")
    assert detect_kind(path) == "candles"
    (candle,) = list(read_candles(path))
    assert isinstance(candle, candle_pb2.Candle)
