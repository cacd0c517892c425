"""A multi-timeframe strategy on candles that cannot build its longer ones: one clear line.

Chosen by name or file it is refused (backtest, optimize, realtime), before any work when
the candle interval is a flag, after reading a candles file otherwise; among realtime's
default strategies (every library type) such types are left out with a warning naming them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tests.support.cli import assert_one_line_error, tradestream
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades_csv
from tradestream.pipelines.options import fit_to_interval, selected_strategies
from tradestream.strategies import library

MINUTE = 60_000
DAILY_CSV = "Date,Open,High,Low,Close,Volume\n" + "".join(
    f"2024-{1 + i // 28:02d}-{1 + i % 28:02d},{100 + i},{101 + i},{99 + i},{100.5 + i},1000\n"
    for i in range(56)
)


@pytest.fixture(scope="module")
def trades_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "trades.csv"
    write_trades_csv(path, sample_trades(hours=1, seed=3, rate_per_s=0.2))
    return path


@pytest.mark.parametrize("command", ["backtest", "optimize"])
def test_a_candle_interval_that_does_not_divide_is_refused_before_any_work(
    command, trades_file, tmp_path
):
    out = tmp_path / "out"
    proc = tradestream(
        command, "--input", str(trades_file), "--output", str(out), "--candle_interval", "7m",
        "--strategy", "NSE_WEIGHTED_VOTE",
    )  # fmt: skip
    assert_one_line_error(proc, command, "NSE_WEIGHTED_VOTE(", "reads 5m candles", "7m")
    assert not out.exists()


def test_daily_candles_for_an_hourly_strategy_are_refused_in_one_line(tmp_path):
    candles = tmp_path / "daily.csv"
    candles.write_text(DAILY_CSV)
    out = tmp_path / "out"
    proc = tradestream(
        "backtest", "--input", str(candles), "--symbol", "SPY", "--output", str(out),
        "--strategy", "MTF_TREND_CROSSOVER",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("tradestream backtest: error: MTF_TREND_CROSSOVER("), last
    assert "reads 1h candles, which candles of 1d cannot build" in last
    assert f"nothing written to {out}" in last
    assert not out.exists()


def _options(*flags: str) -> PipelineOptions:
    return PipelineOptions(list(flags))


def test_realtime_leaves_unfit_library_defaults_out_and_names_them():
    options = _options()
    strategies = selected_strategies(options, default_all=True)
    kept, note = fit_to_interval(options, strategies, 7 * MINUTE)
    left_out = {s.type_name for s in strategies} - {s.type_name for s in kept}
    assert left_out == {"MTF_TREND_CROSSOVER", "RSI_TWO_TIMEFRAMES", "NSE_WEIGHTED_VOTE"}
    assert note is not None and "7m" in note
    assert all(name in note for name in left_out)
    kept, note = fit_to_interval(options, strategies, MINUTE)
    assert len(kept) == len(library.names()) and note is None


def test_realtime_refuses_a_chosen_strategy_the_interval_cannot_run():
    options = _options("--strategy", "RSI_TWO_TIMEFRAMES", "--strategy", "SMA_CROSSOVER")
    strategies = selected_strategies(options, default_all=True)
    with pytest.raises(ValueError, match=r"RSI_TWO_TIMEFRAMES\(.*reads 15m candles.*7m"):
        fit_to_interval(options, strategies, 7 * MINUTE)
    assert fit_to_interval(options, strategies, 5 * MINUTE) == (strategies, None)
