"""`tradestream backtest` on the Flink runner (embedded cluster, LOOPBACK workers) gives the
same outputs as on the DirectRunner."""

from __future__ import annotations

import json

import pytest

from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades_csv
from tradestream.pipelines import backtest
from tradestream.runtime.flink import flink_runner_args
from tradestream.settings import get_settings

pytestmark = pytest.mark.integration


def _results(out):
    summary = json.loads((out / "summary.json").read_text())
    return summary["input"], summary["results"]


def test_backtest_on_flink_runner_matches_direct_runner(tmp_path, jvm_dir):
    trades = tmp_path / "trades.csv"
    write_trades_csv(trades, sample_trades(hours=2, seed=3, rate_per_s=0.1))
    args = ["--input", str(trades), "--strategy", "SMA_CROSSOVER",
            "--grid", "fast=3:6:1", "--grid", "slow=8:12:2"]  # fmt: skip
    assert backtest.run([*args, "--output", str(tmp_path / "direct")]) == 0
    flink = flink_runner_args(get_settings(), parallelism=2)
    assert backtest.run([*args, "--output", str(tmp_path / "flink"), *flink]) == 0
    assert _results(tmp_path / "flink") == _results(tmp_path / "direct")
    for name in ("candles.csv", "trades.csv", "signals.csv", "equity.csv"):
        assert (tmp_path / "flink" / name).read_text() == (tmp_path / "direct" / name).read_text()
    assert len(_results(tmp_path / "flink")[1]) == 3 * 12
