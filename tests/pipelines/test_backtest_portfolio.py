"""`tradestream backtest --portfolio` as a user runs it: flags, files, and their arithmetic.

The checks recompute the account from the files the run wrote (fills.csv, candles.csv), so a
run whose summary disagrees with its own fills fails; the engine's decisions themselves are
checked against the vectorized simulator and hand-computed cases in
tests/tradestream/backtest/test_portfolio.py.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from tradestream import cli
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import parse_time_ms, write_trades_csv
from tradestream.pipelines import backtest

FILES = {
    "summary.json",
    "fills.csv",
    "trades.csv",
    "equity.csv",
    "signals.csv",
    "candles.csv",
    "report.html",
    "portfolio.db",
}


@pytest.fixture(scope="module")
def trades_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "trades.csv"
    write_trades_csv(path, sample_trades(hours=6, seed=5, rate_per_s=0.3))
    return path


@pytest.fixture(scope="module")
def portfolio_run(trades_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    argv = [
        "backtest", "--portfolio", "--input", str(trades_file), "--output", str(out),
        "--strategy", "SMA_CROSSOVER", "--param", "fast=5", "--param", "slow=20",
        "--strategy", "DOUBLE_EMA_CROSSOVER", "--param", "short=5", "--param", "long=15",
        "--candle_interval", "1m", "--allow_short", "--sizing", "risk", "--stop", "pct",
        "--stop_pct", "0.002", "--risk_per_trade", "0.001", "--max_open_positions", "4",
        "--daily_loss_limit", "0.015", "--slippage_bps", "2", "--cash", "25000",
    ]  # fmt: skip
    assert cli.main(argv) == 0
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_portfolio_run_writes_its_files_and_the_settings_it_traded_with(portfolio_run):
    assert {p.name for p in portfolio_run.iterdir()} == FILES
    summary = json.loads((portfolio_run / "summary.json").read_text())
    settings = summary["run"]["settings"]
    assert summary["run"]["mode"] == "portfolio"
    assert (settings["initial_cash"], settings["sizing"], settings["stop"]) == (
        25_000.0, "risk", "pct",
    )  # fmt: skip
    assert (settings["allow_short"], settings["slippage_bps"]) == (True, 2.0)
    assert settings["fee"] == 0.001  # paper run's default: --fee was not given
    assert settings["max_open_positions"] == 4 and settings["daily_loss_limit"] == 0.015
    assert set(summary["attribution"]) == {"BTC-USD", "ETH-USD", "SOL-USD"}


def test_portfolio_summary_agrees_with_its_own_fills_and_candles(portfolio_run):
    summary = json.loads((portfolio_run / "summary.json").read_text())
    pf = summary["portfolio"]
    fills = _rows(portfolio_run / "fills.csv")
    assert len(fills) == pf["fills"] > 10
    cash, fees = pf["initial_cash"], 0.0
    position: dict[tuple[str, str], float] = defaultdict(float)
    for f in fills:
        qty = float(f["qty"]) * (1 if f["side"] == "BUY" else -1)
        cash -= qty * float(f["price"]) + float(f["fee"])
        fees += float(f["fee"])
        position[(f["symbol"], f["book"])] += qty
        assert float(f["cash_after"]) == pytest.approx(cash, rel=1e-9)
    last_close = {}
    for c in _rows(portfolio_run / "candles.csv"):
        last_close[c["symbol"]] = float(c["close"])
    equity = cash + sum(q * last_close[s] for (s, _), q in position.items())
    assert pf["cash"] == pytest.approx(cash, rel=1e-9)
    assert pf["fees_paid"] == pytest.approx(fees, rel=1e-9)
    assert pf["final_equity"] == pytest.approx(equity, rel=1e-9)
    net = sum(row["net_pnl"] for row in summary["attribution"].values())
    assert net == pytest.approx(pf["final_equity"] - pf["initial_cash"], abs=1e-6)
    equity_rows = _rows(portfolio_run / "equity.csv")
    assert float(equity_rows[-1]["equity"]) == pytest.approx(pf["final_equity"], rel=1e-12)


def test_portfolio_fills_are_at_their_candle_prices_and_stops_inside_the_range(portfolio_run):
    candles = {}
    for c in _rows(portfolio_run / "candles.csv"):
        candles[(c["symbol"], parse_time_ms(c["time"]))] = {
            k: float(c[k]) for k in ("open", "high", "low", "close")
        }
    slip = 2 / 10_000
    kinds = defaultdict(int)
    for f in _rows(portfolio_run / "fills.csv"):
        kinds[f["kind"]] += 1
        end = parse_time_ms(f["time"])
        candle = candles[(f["symbol"], end - 60_000)]  # the candle that ended at the fill
        price = float(f["price"])
        raw = price / (1 + slip) if f["side"] == "BUY" else price / (1 - slip)
        if f["kind"] == "stop":
            assert candle["low"] - 1e-9 <= raw <= candle["high"] + 1e-9
        else:
            assert raw == pytest.approx(candle["close"], rel=1e-12)
    assert kinds["entry"] > 0 and kinds["stop"] > 0 and kinds["exit"] > 0


def test_portfolio_risk_events_and_decisions_are_recorded(portfolio_run):
    summary = json.loads((portfolio_run / "summary.json").read_text())
    assert any(e["kind"] == "loss_limit" for e in summary["risk_events"])
    decisions = [s["decision"] for s in _rows(portfolio_run / "signals.csv")]
    assert len(decisions) == summary["portfolio"]["signals"]
    assert any(d.startswith("skipped:daily_loss_limit") for d in decisions)
    report = (portfolio_run / "report.html").read_text()
    assert "Portfolio backtest" in report and "SOL-USD" in report


def test_portfolio_db_is_what_paper_status_shows(portfolio_run):
    from tests.support.cli import tradestream

    summary = json.loads((portfolio_run / "summary.json").read_text())
    proc = tradestream("paper", "status", "--db", f"sqlite:///{portfolio_run / 'portfolio.db'}",
                       "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    account = json.loads(proc.stdout)["account"]
    pf = summary["portfolio"]
    assert account["fills"] == pf["fills"] and account["fees_paid"] == pf["fees_paid"]
    assert account["equity"] == pytest.approx(pf["final_equity"], rel=1e-12)
    assert account["signals"] == pf["signals"]


@pytest.mark.integration
def test_portfolio_db_on_postgresql_and_a_database_that_holds_one_is_refused(
    trades_file, tmp_path, postgres_server, capsys
):
    url = postgres_server.new_database()
    argv = ["--portfolio", "--input", str(trades_file), "--output", str(tmp_path / "a"),
            "--strategy", "SMA_CROSSOVER", "--db", url]  # fmt: skip
    assert backtest.run(argv) == 0
    assert not (tmp_path / "a" / "portfolio.db").exists()
    from tradestream.ledger.store import PaperStore

    store = PaperStore(url, readonly=True)
    try:
        snapshot = store.snapshot()
    finally:
        store.close()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert snapshot["account"]["fills"] == summary["portfolio"]["fills"] > 0
    capsys.readouterr()
    again = [*argv[:4], str(tmp_path / "b"), *argv[5:]]
    assert backtest.run(again) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "already holds a portfolio" in last and "***" in last  # the password hidden
    assert not (tmp_path / "b").exists()


def test_portfolio_fee_and_initial_cash_flags_take_paper_runs_names(trades_file, tmp_path):
    out = tmp_path / "out"
    argv = ["--portfolio", "--input", str(trades_file), "--output", str(out), "--strategy",
            "SMA_CROSSOVER", "--initial_cash", "5000", "--fee", "0", "--fraction", "0.2"]  # fmt: skip
    assert backtest.run(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    settings = summary["run"]["settings"]
    assert (settings["initial_cash"], settings["fee"], settings["fraction"]) == (5000.0, 0.0, 0.2)
    assert summary["portfolio"]["fees_paid"] == 0.0


def test_portfolio_limit_entries_targets_and_trailing_stops(trades_file, tmp_path):
    out = tmp_path / "out"
    argv = ["--portfolio", "--input", str(trades_file), "--output", str(out),
            "--strategy", "SMA_CROSSOVER", "--param", "fast=5", "--param", "slow=20",
            "--candle_interval", "1m", "--allow_short", "--entry_order", "limit",
            "--entry_offset_pct", "0.0003", "--time_in_force", "3", "--stop", "pct",
            "--stop_pct", "0.002", "--take_profit_r", "1.5", "--trailing_stop",
            "--daily_loss_limit", "0"]  # fmt: skip
    assert backtest.run(argv) == 0
    decisions = [s["decision"] for s in _rows(out / "signals.csv")]
    assert any("ordered:limit@" in d for d in decisions)
    kinds = defaultdict(int)
    candles = {}
    for c in _rows(out / "candles.csv"):
        candles[(c["symbol"], parse_time_ms(c["time"]))] = (float(c["low"]), float(c["high"]))
    for f in _rows(out / "fills.csv"):
        kinds[f["kind"]] += 1
        low, high = candles[(f["symbol"], parse_time_ms(f["time"]) - 60_000)]
        price = float(f["price"])  # no slippage, no fee here: the raw fill price
        assert low <= price <= high or f["kind"] == "exit"  # exits: at the close
    assert kinds["entry"] > 0 and kinds["target"] > 0 and kinds["stop"] > 0
    settings = json.loads((out / "summary.json").read_text())["run"]["settings"]
    assert (settings["entry_order"], settings["time_in_force"], settings["trailing_stop"]) == (
        "limit", 3, True,
    )  # fmt: skip


@pytest.mark.parametrize(
    "args,message",
    [
        (["--grid", "fast=5:10:5"], "--portfolio trades one set of strategies"),
        (["--fill", "next_open"], "--fill=close only"),
        (["--fraction", "2"], "fraction: expected a number <= 1, got 2.0"),
        (["--sizing", "risk"], "sizing=risk needs a stop"),
        (["--stop", "atr", "--atr_interval", "5m"], "builds the ATR from its own candles"),
    ],
)
def test_portfolio_bad_flags_are_one_line_and_exit_2(trades_file, tmp_path, capsys, args, message):
    argv = ["--portfolio", "--input", str(trades_file), "--output", str(tmp_path / "out"),
            "--strategy", "SMA_CROSSOVER", *args]  # fmt: skip
    assert backtest.run(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tradestream backtest: error: ")
    assert message in err[-1]
    assert not (tmp_path / "out").exists()
