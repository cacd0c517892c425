"""OHLC bars as trades: the path rule, sizes, ids, bad bars, and merging files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestream.ingest.ohlc_replay import (
    Bar,
    bar_problem,
    bar_trades,
    expand_inputs,
    read_ohlc,
    read_ohlc_file,
    symbol_for,
)
from tradestream.market.trade_files import BadRow, TradeFileError
from tradestream.v1 import trade_pb2

T0 = int(datetime(2024, 1, 2, 14, 30, tzinfo=UTC).timestamp() * 1000)
HEADER = "datetime,open,high,low,close,% change\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_rising_bar_goes_open_low_high_close():
    trades = bar_trades("AAPL-USD", Bar(T0, open=10, high=12, low=9, close=11))
    assert [(t.price, t.time_ms - T0, t.trade_id) for t in trades] == [
        (10, 0, f"{T0}-0"),
        (9, 20_000, f"{T0}-1"),
        (12, 40_000, f"{T0}-2"),
        (11, 59_000, f"{T0}-3"),
    ]
    assert {t.symbol for t in trades} == {"AAPL-USD"}
    assert {t.exchange for t in trades} == {"ohlc-replay"}
    assert {t.side for t in trades} == {trade_pb2.SIDE_UNSPECIFIED}


def test_falling_bar_goes_open_high_low_close():
    trades = bar_trades("AAPL-USD", Bar(T0, open=11, high=12, low=9, close=10))
    assert [t.price for t in trades] == [11, 12, 9, 10]


def test_bar_size_splits_volume_else_unit_size():
    with_volume = bar_trades("A-USD", Bar(T0, 1, 1, 1, 1, volume=10.0))
    assert [t.size for t in with_volume] == [2.5] * 4
    assert [t.size for t in bar_trades("A-USD", Bar(T0, 1, 1, 1, 1), unit_size=0.1)] == [0.1] * 4
    assert [t.size for t in bar_trades("A-USD", Bar(T0, 1, 1, 1, 1, volume=0.0))] == [1.0] * 4


def test_bar_interval_scales_the_offsets():
    trades = bar_trades("A-USD", Bar(T0, 1, 2, 1, 2), interval_ms=300_000)
    assert [t.time_ms - T0 for t in trades] == [0, 100_000, 200_000, 299_000]


@given(
    st.floats(1, 1000),
    st.floats(0, 50),
    st.floats(0, 50),
    st.floats(-1, 1),
    st.one_of(st.none(), st.floats(0, 1e6)),
    st.sampled_from([60_000, 5_000, 3_600_000]),
)
def test_trades_rebuild_the_bar_exactly(open_, up, down, close_frac, volume, interval):
    high, low = open_ + up, max(open_ - down, 0.5)
    close = low + (high - low) * (close_frac + 1) / 2
    bar = Bar(T0, open_, high, min(low, open_, close), close, volume)
    assert bar_problem(bar) is None
    trades = bar_trades("X-USD", bar, interval)
    ordered = sorted(trades, key=lambda t: t.time_ms)
    assert ordered == trades
    assert all(T0 <= t.time_ms < T0 + interval for t in trades)
    assert trades[0].price == bar.open and trades[-1].price == bar.close
    assert max(t.price for t in trades) == bar.high
    assert min(t.price for t in trades) == bar.low
    if volume:
        assert sum(t.size for t in trades) == pytest.approx(volume)


@pytest.mark.parametrize(
    ("bar", "fragment"),
    [
        (Bar(T0, 10, 9, 8, 9.5), "do not contain"),
        (Bar(T0, 10, 12, 10.5, 11), "do not contain"),
        (Bar(T0, 0, 1, 0, 1), "> 0"),
        (Bar(T0, 1, float("nan"), 1, 1), "finite"),
        (Bar(T0, 1, 1, 1, 1, volume=-1), "volume"),
    ],
)
def test_bar_problem_names_the_fault(bar, fragment):
    assert fragment in bar_problem(bar)


@pytest.mark.parametrize(
    ("name", "symbol"),
    [("AAPL.csv", "AAPL-USD"), ("msft.csv.gz", "MSFT-USD"), ("eth-btc.csv", "ETH-BTC")],
)
def test_symbol_from_file_name(name, symbol):
    assert symbol_for(Path(name)) == symbol


def test_read_tradebooks_layout_file_with_bad_rows(tmp_path):
    path = write(
        tmp_path / "AAPL.csv",
        HEADER
        + "2024-01-02 14:30:00+00:00,10,12,9,11,0.5\n"
        + "2024-01-02 14:31:00+00:00,11,x,9,11,0\n"  # unreadable number
        + "2024-01-02 14:32:00+00:00,11,10,9,11,0\n"  # high below open
        + "2024-01-02 14:30:00+00:00,11,12,9,11,0\n"  # not after the previous bar
        + "2024-01-02T14:33:00Z,11,13,10,12,1.0\n",
    )
    records = list(read_ohlc_file(path))
    bad = [r for r in records if isinstance(r, BadRow)]
    assert [(b.row, b.reason) for b in bad] == [
        (2, "malformed"),
        (3, "invalid_bar"),
        (4, "out_of_order"),
    ]
    trades = [r for r in records if isinstance(r, trade_pb2.Trade)]
    assert len(trades) == 8
    assert trades[4].time_ms == T0 + 3 * 60_000
    assert trades[4].trade_id == f"{T0 + 180_000}-0"


def test_read_naive_datetimes_in_the_given_zone(tmp_path):
    path = write(tmp_path / "MSFT.csv", HEADER + "2024-01-02 09:30:00,10,12,9,11,0\n")
    first = next(read_ohlc_file(path, zone=ZoneInfo("America/New_York")))
    assert first.time_ms == T0  # 09:30 New York is 14:30 UTC in January
    assert next(read_ohlc_file(path)).time_ms == T0 - 5 * 3_600_000


def test_read_uses_volume_column_when_present(tmp_path):
    path = write(
        tmp_path / "NVDA.csv",
        "Datetime,Open,High,Low,Close,Volume\n2024-01-02T14:30:00Z,1,2,1,2,40\n",
    )
    assert [t.size for t in read_ohlc_file(path)] == [10.0] * 4


def test_read_ohlc_merges_files_in_time_order(tmp_path):
    write(
        tmp_path / "AAPL.csv",
        HEADER + "2024-01-02T14:30:00Z,1,2,1,2,0\n2024-01-02T14:32:00Z,1,2,1,2,0\n",
    )
    write(tmp_path / "MSFT.csv", HEADER + "2024-01-02T14:31:00Z,5,6,4,5,0\n")
    records = list(read_ohlc(expand_inputs(str(tmp_path))))
    assert [t.time_ms for t in records] == sorted(t.time_ms for t in records)
    assert [t.symbol for t in records[::4]] == ["AAPL-USD", "MSFT-USD", "AAPL-USD"]


def test_read_ohlc_missing_columns_is_a_file_error(tmp_path):
    path = write(tmp_path / "AAPL.csv", "datetime,open,close\n2024-01-02T14:30:00Z,1,2\n")
    with pytest.raises(TradeFileError, match="missing column"):
        next(read_ohlc([path]))


def test_read_ohlc_bad_file_name_is_a_file_error(tmp_path):
    path = write(tmp_path / "BRK.B.csv", HEADER)
    with pytest.raises(TradeFileError, match="rename"):
        next(read_ohlc_file(path))


def test_expand_inputs_lists_and_directories(tmp_path):
    a = write(tmp_path / "A.csv", HEADER)
    write(tmp_path / "notes.txt", "")
    assert expand_inputs(f"{a}") == [a]
    assert expand_inputs(str(tmp_path)) == [a]
    with pytest.raises(TradeFileError):
        expand_inputs(str(tmp_path / "missing.csv"))
    with pytest.raises(TradeFileError):
        expand_inputs(str(tmp_path / "empty-dir-does-not-exist"))
