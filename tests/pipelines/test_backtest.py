"""`tradestream backtest` end to end on small generated files (DirectRunner)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.support.vectorized_signals import signals_for_candles
from tradestream import cli
from tradestream.market.sample_day import sample_trades
from tradestream.market.signal_messages import signal_id
from tradestream.market.trade_files import parse_time_ms, write_trades_csv
from tradestream.pipelines import backtest
from tradestream.strategies import library
from tradestream.v1 import candle_pb2

FILES = ("summary.json", "trades.csv", "signals.csv", "equity.csv", "candles.csv", "report.html")
BAD_ROWS = "not-a-time,BTC-USD,100,1,buy,x1\n1704153600000,BTC-USD,-3,1,buy,x2\n"


@pytest.fixture(scope="module")
def trades_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "trades.csv"
    write_trades_csv(path, sample_trades(hours=3, seed=11, rate_per_s=0.2))
    with path.open("a") as fh:
        fh.write(BAD_ROWS)
    return path


@pytest.fixture(scope="module")
def trades_run(trades_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    code = cli.main(
        [
            "backtest",
            "--input",
            str(trades_file),
            "--output",
            str(out),
            "--strategy",
            "SMA_CROSSOVER",
            "--param",
            "fast=5",
            "--param",
            "slow=20",
            "--strategy",
            "DOUBLE_EMA_CROSSOVER",
            "--candle_interval",
            "1m",
        ]
    )
    assert code == 0
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_backtest_cli_on_trades_writes_every_output_file(trades_run):
    for name in FILES:
        assert (trades_run / name).is_file(), name
    assert not (trades_run / ".parts").exists()
    headers = {
        "candles.csv": "time,symbol,open,high,low,close,volume",
        "signals.csv": "time,symbol,strategy,action,price,signal_id",
        "trades.csv": "symbol,strategy,direction,entry_time,entry_price,exit_time,exit_price,"
        "size,return,pnl,duration_ms,status",
        "equity.csv": "time,symbol,strategy,equity,drawdown,position",
    }
    for name, header in headers.items():
        assert (trades_run / name).read_text().splitlines()[0] == header


def test_backtest_summary_has_an_entry_per_strategy_and_symbol_and_counts_bad_rows(trades_run):
    summary = json.loads((trades_run / "summary.json").read_text())
    results = summary["results"]
    assert {r["symbol"] for r in results} == {"BTC-USD", "ETH-USD", "SOL-USD"}
    assert len(results) == 6
    assert {r["strategy_id"] for r in results} >= {"SMA_CROSSOVER(fast=5,slow=20)"}
    metrics = results[0]["metrics"]
    for name in (
        "total_return", "cagr", "annualized_volatility", "sharpe", "sortino", "calmar",
        "max_drawdown", "max_drawdown_duration_ms", "win_rate", "profit_factor", "expectancy",
        "sqn", "exposure", "num_trades", "avg_trade_duration_ms", "buy_and_hold_return",
    ):  # fmt: skip
        assert name in metrics
    rejected = summary["input"]["rejected_rows"]
    assert rejected["total"] == 2
    assert rejected["by_reason"] == {"invalid_price": 1, "malformed": 1}
    assert summary["input"]["symbols"]["BTC-USD"]["candles"] == 180
    assert summary["run"]["execution"]["fill"] == "close"


def test_backtest_candles_csv_are_the_candles_the_strategies_saw(trades_run):
    candles = _rows(trades_run / "candles.csv")
    btc = [c for c in candles if c["symbol"] == "BTC-USD"]
    assert len(btc) == 180
    assert btc[0]["time"] == "2024-01-02T00:00:00Z" and btc[1]["time"] == "2024-01-02T00:01:00Z"
    protos = [
        candle_pb2.Candle(
            symbol="BTC-USD",
            start_ms=parse_time_ms(c["time"]),
            interval_ms=60_000,
            open=float(c["open"]),
            high=float(c["high"]),
            low=float(c["low"]),
            close=float(c["close"]),
            volume=float(c["volume"]),
        )
        for c in btc
    ]
    strategy = library.build("SMA_CROSSOVER", {"fast": 5, "slow": 20})
    expected = [
        (s.candle_start_ms, "BUY" if s.action == 1 else "SELL", s.signal_id)
        for s in signals_for_candles([strategy], protos)
    ]
    signals = [
        (parse_time_ms(s["time"]), s["action"], s["signal_id"])
        for s in _rows(trades_run / "signals.csv")
        if s["symbol"] == "BTC-USD" and s["strategy"] == strategy.strategy_id
    ]
    assert signals == expected and signals
    for start, action, sid in signals:
        assert sid == signal_id(strategy.strategy_id, "BTC-USD", start, action)


def test_backtest_trades_and_equity_agree_with_summary(trades_run):
    summary = json.loads((trades_run / "summary.json").read_text())
    trades = _rows(trades_run / "trades.csv")
    equity = _rows(trades_run / "equity.csv")
    for result in summary["results"]:
        mine = [
            t
            for t in trades
            if (t["symbol"], t["strategy"]) == (result["symbol"], result["strategy_id"])
        ]
        closed = [t for t in mine if t["status"] == "closed"]
        assert len(closed) == result["metrics"]["num_trades"]
        assert all(t["entry_time"] <= t["exit_time"] for t in mine)
        curve = [
            e
            for e in equity
            if (e["symbol"], e["strategy"]) == (result["symbol"], result["strategy_id"])
        ]
        assert len(curve) == result["candles"]
        assert float(curve[-1]["equity"]) == pytest.approx(result["metrics"]["final_equity"])
    report = (trades_run / "report.html").read_text()
    assert "<svg" in report and "<script" not in report


def test_backtest_grid_on_a_candles_file_evaluates_every_valid_combination(trades_run, tmp_path):
    candles_file = tmp_path / "BTC-USD.csv"
    rows = (trades_run / "candles.csv").read_text().splitlines()
    candles_file.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        + "\n".join(
            ",".join([r.split(",")[0], *r.split(",")[2:]]) for r in rows[1:] if ",BTC-USD," in r
        )
        + "\n"
    )
    out = tmp_path / "grid"
    code = backtest.run(
        [
            "--input", str(candles_file), "--output", str(out),
            "--strategy", "SMA_CROSSOVER", "--grid", "fast=3:9:3", "--grid", "slow=6:12:3",
            "--fill=next_open", "--allow_short", "--fee=0.001", "--slippage_bps=2",
            "--detail_top", "2", "--rank_by", "total_return",
        ]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["grid"]["combinations"] == 9
    assert summary["run"]["grid"]["skipped"] == 3  # 6/6, 9/6, 9/9
    assert len(summary["results"]) == 6
    assert summary["input"]["symbols"]["BTC-USD"]["interval_ms"] == 60_000
    returns = [r["metrics"]["total_return"] for r in summary["results"]]
    assert returns == sorted(returns, reverse=True)
    assert len({e["strategy"] for e in _rows(out / "equity.csv")}) == 2
    assert "Heatmap of total_return" in (out / "report.html").read_text()
    execution = summary["run"]["execution"]
    assert (execution["fill"], execution["allow_short"], execution["fee"]) == (
        "next_open",
        True,
        0.001,
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["--input", "/nonexistent.csv"], "no such file"),
        (["--strategy", "NOPE"], "unknown strategy type"),
        (["--grid", "fast=1:10:1"], "outside its bounds"),
        (["--grid", "fast=50:60:5", "--param", "slow=20"], "no parameter set is valid"),
        (["--fees", "0.001"], "unknown flag(s) --fees"),
        (["--parallelism", "abc"], "argument --parallelism: invalid int value: 'abc'"),
    ],
)
def test_backtest_bad_arguments_exit_2_with_a_message(trades_file, tmp_path, capsys, args, message):
    base = {"--input": str(trades_file), "--strategy": "SMA_CROSSOVER"}
    argv = []
    for flag, value in base.items():
        if flag not in args:
            argv += [flag, value]
    argv += args + ["--output", str(tmp_path / "out")]
    assert backtest.run(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("tradestream backtest: error: ") and message in last
    assert "usage:" not in err  # one line, not a usage block first


def test_backtest_input_without_a_usable_row_exits_1_says_why_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "trades.csv"
    path.write_text(
        "time,symbol,price,size\n" + BAD_ROWS.replace(",buy,x1", "").replace(",buy,x2", "")
    )
    out = tmp_path / "out"
    assert (
        backtest.run(["--input", str(path), "--output", str(out), "--strategy", "SMA_CROSSOVER"])
        == 1
    )
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("tradestream backtest: error: no candle could be built: 2 input")
    assert "rejected (invalid_price: 1, malformed: 1)" in error
    assert f"first: {path} row 1, " in error and error.endswith(f"; nothing written to {out}")
    assert not out.exists()


def test_backtest_two_candle_files_that_disagree_are_said_on_stderr(tmp_path, capsys):
    # Two files of BTC-USD: the second repeats 00:03 exactly (quiet) and gives 00:04 and
    # 00:05 other closes (two conflicts, each said once).
    def write(name: str, rows: list[tuple[int, float]]) -> str:
        text = "time,symbol,open,high,low,close,volume\n" + "".join(
            f"2024-01-02T00:{m:02d}:00Z,BTC-USD,{c},{c + 1},{c - 1},{c},1\n" for m, c in rows
        )
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    a = write("a.csv", [(m, 100.0 + m % 5) for m in range(40)])
    b = write("b.csv", [(3, 103.0), (4, 90.0), (5, 91.0)])
    out = tmp_path / "out"
    argv = ["--input", a, b, "--output", str(out), "--strategy", "SMA_CROSSOVER",
            "--param", "fast=2", "--param", "slow=5"]  # fmt: skip
    assert backtest.run(argv) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "conflicting candles" in line]
    assert lines == [
        "conflicting candles from different inputs: BTC-USD 2024-01-02T00:04:00Z: two inputs "
        "give this candle (close 104.0 and 90.0, or other values); the one with close 104.0 "
        "is used",
        "conflicting candles from different inputs: BTC-USD 2024-01-02T00:05:00Z: two inputs "
        "give this candle (close 100.0 and 91.0, or other values); the one with close 100.0 "
        "is used",
    ] or lines == [
        line.replace("close 104.0 and 90.0", "close 90.0 and 104.0")
        .replace("with close 104.0", "with close 90.0")
        .replace("close 100.0 and 91.0", "close 91.0 and 100.0")
        .replace("with close 100.0", "with close 91.0")
        for line in lines
    ]
    info = json.loads((out / "summary.json").read_text())["input"]["symbols"]["BTC-USD"]
    assert info["conflicting_candles"] == 2 and info["duplicate_candles_dropped"] == 3
    used = {r["time"]: float(r["close"]) for r in _rows(out / "candles.csv")}
    for line in lines:  # the candle said to be used is the one the strategies saw
        when = line.split("BTC-USD ", 1)[1].split(":", 3)
        stamp = ":".join(when[:3])
        assert f"with close {used[stamp]!r}" in line


def test_backtest_candles_file_conflicts_and_short_sample_are_said_on_stderr(tmp_path, capsys):
    # 60 one-minute candles (1/24 day); row 62 repeats row 2's time with another close.
    lines = ["time,open,high,low,close,volume"]
    for i in range(60):
        close = 100 + (i % 7)
        lines.append(f"2024-01-02T00:{i:02d}:00Z,{close},{close + 1},{close - 1},{close},1")
    lines.append("2024-01-02T00:01:00Z,101,151,100,150,1")  # conflicts with row 2 (close 101)
    lines.append("2024-01-02T00:02:00Z,102,103,101,102,1")  # repeats row 3 exactly: silent
    path = tmp_path / "BTC-USD.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    argv = ["--input", str(path), "--output", str(out), "--strategy", "SMA_CROSSOVER"]
    assert backtest.run([*argv, "--param", "fast=2", "--param", "slow=5"]) == 0
    err = capsys.readouterr().err
    assert (
        f"conflicting duplicate candle in {path}, row 2: BTC-USD 2024-01-02T00:01:00Z: "
        "close 101.0, row 61 has close 150.0; row 61 is used (the last row wins)\n"
    ) in err
    assert err.count("conflicting duplicate candle") == 1
    assert (
        "  n/a: the sample spans 0.0417 days, under the 30 days needed to annualize: cagr, "
        "annualized_volatility, sharpe, sortino, calmar not shown; ranked by the computed sharpe"
    ) in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["rejected_rows"]["by_reason"] == {"conflicting_duplicate": 1}
    assert summary["input"]["symbols"]["BTC-USD"]["duplicate_candles_dropped"] == 2
    [entry] = summary["results"]
    assert entry["metrics"]["sharpe"] is None and entry["annualized_omitted"].startswith(
        "the sample spans 0.0417 days"
    )
    candles = _rows(out / "candles.csv")
    assert candles[1]["close"] == "150.0"  # the last row of 00:01 was used
