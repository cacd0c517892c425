"""Backtest input files: detection, candles layouts, rejected rows, the reading PTransforms."""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tradestream.backtest.files import (
    RejectedRow,
    detect_kind,
    read_candles,
    resolve_inputs,
    symbol_from_path,
)
from tradestream.backtest.series import build_series
from tradestream.market.trade_files import TradeFileError
from tradestream.transforms.backtest.read_files import ReadCandlesFromFiles, ReadTradesFromFiles

GOOG_LIKE = """,Open,High,Low,Close,Volume
2004-08-19,100,104.06,95.96,100.34,22351900
2004-08-20,101.01,109.08,100.5,108.31,11428600
"""


def _write(path, text):
    path.write_text(text)
    return path


def test_files_detect_candles_and_trades_from_header_in_any_case(tmp_path):
    assert detect_kind(_write(tmp_path / "a.csv", GOOG_LIKE)) == "candles"
    assert detect_kind(_write(tmp_path / "b.csv", "DATE,OPEN,HIGH,LOW,CLOSE\n")) == "candles"
    assert detect_kind(_write(tmp_path / "c.csv", "Time,Symbol,Price,Size\n")) == "trades"
    with pytest.raises(TradeFileError, match="neither a trades file"):
        detect_kind(_write(tmp_path / "d.csv", "when,what\n"))
    with pytest.raises(TradeFileError, match="no such file"):
        detect_kind(tmp_path / "missing.csv")


def test_files_candles_common_layout_with_unnamed_index_column(tmp_path):
    candles = list(read_candles(_write(tmp_path / "goog.csv", GOOG_LIKE)))
    assert [c.symbol for c in candles] == ["GOOG", "GOOG"]
    first = candles[0]
    assert first.start_ms == 1_092_873_600_000  # 2004-08-19T00:00:00Z
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        100.0,
        104.06,
        95.96,
        100.34,
        22_351_900.0,
    )
    assert first.interval_ms == 0  # inferred per symbol later


def test_files_candles_symbol_from_column_flag_or_file_name(tmp_path):
    path = _write(
        tmp_path / "mixed.csv",
        "timestamp,symbol,open,high,low,close\n"
        "1704153600000,btc-usd,1,2,1,2\n"
        "1704153660000,,1,2,1,2\n",
    )
    assert [c.symbol for c in read_candles(path)] == ["BTC-USD", "MIXED"]
    assert [c.symbol for c in read_candles(path, "eth-usd")] == ["BTC-USD", "ETH-USD"]
    assert [c.volume for c in read_candles(path)] == [0.0, 0.0]  # no volume column
    assert symbol_from_path("data/sol-usd.csv.gz") == "SOL-USD"


def test_files_candles_bad_rows_are_rejected_with_reasons(tmp_path):
    path = _write(
        tmp_path / "BTC-USD.csv",
        "time,open,high,low,close,volume\n"
        "2024-01-02T00:00:00Z,10,11,9,10.5,3\n"  # good
        "2024-01-02T00:01:00Z,10,11,9,abc,3\n"  # malformed
        "2024-01-02T00:02:00Z,10,11,9,-1,3\n"  # invalid_price
        "2024-01-02T00:03:00Z,10,11,9,10,-3\n"  # invalid_volume
        "2024-01-02T00:04:00Z,10,9.5,9,10,3\n"  # inconsistent_ohlc (high < open)
        "1704153600,10,11,9,10,3\n"  # invalid_time: epoch seconds
        "yesterday,10,11,9,10,3\n"  # invalid_time
        "2024-01-02T00:07:00Z,10,11\n",  # malformed: too few fields
    )
    records = list(read_candles(path))
    assert len([r for r in records if not isinstance(r, RejectedRow)]) == 1
    rejected = [(r.row, r.reason) for r in records if isinstance(r, RejectedRow)]
    assert rejected == [
        (2, "malformed"),
        (3, "invalid_price"),
        (4, "invalid_volume"),
        (5, "inconsistent_ohlc"),
        (6, "invalid_time"),
        (7, "invalid_time"),
        (8, "malformed"),
    ]
    seconds = next(r for r in records if isinstance(r, RejectedRow) and r.row == 6)
    assert "epoch seconds" in seconds.detail and seconds.file == str(path)


def test_files_candles_conflicting_duplicate_names_both_rows_and_last_row_wins(tmp_path):
    path = _write(
        tmp_path / "BTC-USD.csv",
        "time,open,high,low,close,volume\n"
        "2024-01-02T00:00:00Z,10,11,9,10.5,3\n"  # row 1
        "2024-01-02T00:01:00Z,10,11,9,10,3\n"  # row 2
        "2024-01-02T00:00:00Z,10,11,9,10.8,3\n"  # row 3: same time as row 1, other close
        "2024-01-02T00:01:00Z,10,11,9,10,3\n"  # row 4: repeats row 2 exactly
        "2024-01-02T00:01:00Z,10,11,9,10,4\n",  # row 5: row 4's close, another volume
    )
    records = list(read_candles(path))
    conflicts = [r for r in records if isinstance(r, RejectedRow)]
    assert [(r.row, r.reason) for r in conflicts] == [
        (1, "conflicting_duplicate"),
        (4, "conflicting_duplicate"),
    ]
    assert conflicts[0].file == str(path)
    assert conflicts[0].detail == (
        "row 1: BTC-USD 2024-01-02T00:00:00Z: close 10.5, row 3 has close 10.8; "
        "row 3 is used (the last row wins)"
    )
    assert "same close 10.0 but a different open, high, low or volume in row 5" in (
        conflicts[1].detail
    )
    candles = [r for r in records if not isinstance(r, RejectedRow)]
    series = build_series("BTC-USD", candles, 60_000)
    assert series.close.tolist() == [10.8, 10.0]  # the last row of each time
    assert series.volume.tolist() == [3.0, 4.0]
    assert series.duplicates == 3  # rows 1, 2 and 4 dropped


def test_files_candles_parquet_with_timestamp_column(tmp_path):
    import datetime as dt

    table = pa.table(
        {
            "Date": pa.array(
                [dt.datetime(2024, 1, 2, tzinfo=dt.UTC), dt.datetime(2024, 1, 3, tzinfo=dt.UTC)]
            ),
            "Open": [1.0, 2.0],
            "High": [2.0, 3.0],
            "Low": [0.5, 1.5],
            "Close": [1.5, 2.5],
            "Volume": [10.0, 20.0],
        }
    )
    path = tmp_path / "ETH-USD.parquet"
    pq.write_table(table, path)
    assert detect_kind(path) == "candles"
    candles = list(read_candles(path))
    assert [(c.symbol, c.start_ms, c.close) for c in candles] == [
        ("ETH-USD", 1_704_153_600_000, 1.5),
        ("ETH-USD", 1_704_240_000_000, 2.5),
    ]


def test_files_candles_missing_columns_is_an_error(tmp_path):
    path = _write(tmp_path / "x.csv", "date,open,close\n2024-01-02,1,1\n")
    with pytest.raises(TradeFileError, match="missing column"):
        list(read_candles(path))


def test_files_resolve_inputs_expands_globs_and_refuses_mixed_kinds(tmp_path):
    _write(tmp_path / "a.csv", GOOG_LIKE)
    _write(tmp_path / "b.csv", GOOG_LIKE)
    _write(tmp_path / "t.csv", "time,symbol,price,size\n")
    paths, kind = resolve_inputs([str(tmp_path / "[ab].csv")])
    assert kind == "candles" and [p[-5:] for p in paths] == ["a.csv", "b.csv"]
    with pytest.raises(TradeFileError, match="mix trades and candles"):
        resolve_inputs([str(tmp_path / "*.csv")])
    with pytest.raises(TradeFileError, match="look\\(s\\) like candles"):
        resolve_inputs([str(tmp_path / "a.csv")], "trades")
    with pytest.raises(TradeFileError, match="no file matches"):
        resolve_inputs([str(tmp_path / "*.parquet")])


def test_files_read_candles_ptransform_keys_by_symbol_and_tags_rejects(tmp_path):
    path = _write(tmp_path / "GOOG.csv", GOOG_LIKE + "2004-08-23,1,1,1,x,1\n")
    with TestPipeline() as p:
        read = p | ReadCandlesFromFiles([str(path)])
        assert_that(
            read.records | beam.Map(lambda kv: (kv[0], kv[1].close)),
            equal_to([("GOOG", 100.34), ("GOOG", 108.31)]),
            label="Candles",
        )
        assert_that(
            read.rejected | beam.Map(lambda r: (r.row, r.reason)),
            equal_to([(3, "malformed")]),
            label="Rejected",
        )


def test_files_read_trades_ptransform_keys_by_symbol_and_tags_rejects(tmp_path):
    path = _write(
        tmp_path / "trades.csv",
        "time,symbol,price,size\n"
        "1704153600000,BTC-USD,100,1\n"
        "2024-01-02T00:00:01Z,ETH-USD,10,2\n"
        "1704153602000,BTC-USD,0,1\n",
    )
    with TestPipeline() as p:
        read = p | ReadTradesFromFiles([str(path)])
        assert_that(
            read.records | beam.Map(lambda kv: (kv[0], kv[1].time_ms, kv[1].price)),
            equal_to([("BTC-USD", 1704153600000, 100.0), ("ETH-USD", 1704153601000, 10.0)]),
            label="Trades",
        )
        assert_that(
            read.rejected | beam.Map(lambda r: (r.row, r.reason)),
            equal_to([(3, "invalid_price")]),
            label="Rejected",
        )
