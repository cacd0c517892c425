"""`tradestream sample` writes the format its file name asks for, or refuses it in one line."""

from __future__ import annotations

import pyarrow.parquet as pq

from tests.support.cli import assert_one_line_error, tradestream
from tradestream.market.trade_files import BadRow, read_trades


def _trades(path):
    rows = list(read_trades(path))
    assert not [r for r in rows if isinstance(r, BadRow)], rows[:3]
    return [(t.time_ms, t.symbol, t.price, t.size, t.side, t.trade_id) for t in rows]


def test_sample_writes_parquet_that_reads_back_as_the_csv_does(tmp_path):
    csv_file, parquet_file = tmp_path / "day.csv", tmp_path / "day.parquet"
    for path in (csv_file, parquet_file):
        done = tradestream("sample", "--hours", "0.5", "--output", str(path))
        assert done.returncode == 0, done.stderr
    assert parquet_file.read_bytes()[:4] == b"PAR1"  # a Parquet file, not CSV text
    table = pq.read_table(parquet_file)
    assert table.column_names == ["time", "symbol", "price", "size", "side", "trade_id"]
    from_csv = _trades(csv_file)
    assert from_csv and _trades(parquet_file) == from_csv
    assert table.num_rows == len(from_csv)


def test_sample_refuses_a_name_it_cannot_write(tmp_path):
    target = tmp_path / "day.json"
    done = tradestream("sample", "--output", str(target))
    assert_one_line_error(done, "sample", "unknown format", ".parquet")
    assert not target.exists()
