"""The runs page: backtest/optimizer output directories and their reports."""

from __future__ import annotations

import json
import os

from tests.tradestream.dashboard.server import get, serve
from tradestream.dashboard.app import DashboardConfig, create_app
from tradestream.dashboard.runs import list_runs, resolve_file


def make_backtest(directory, sharpes=(1.2, 2.5), mtime=None):
    directory.mkdir(parents=True)
    summary = {
        "run": {"command": "tradestream backtest ...", "rank_by": "sharpe"},
        "input": {},
        "results": [
            {
                "symbol": "BTC-USD",
                "strategy_id": f"SMA_CROSSOVER(fast={i},slow=30)",
                "metrics": {
                    "sharpe": s,
                    "total_return": 0.1 * i,
                    "max_drawdown": 0.05,
                    "num_trades": 7,
                },
            }  # fmt: skip
            for i, s in enumerate(sharpes, start=1)
        ],
    }
    (directory / "summary.json").write_text(json.dumps(summary))
    (directory / "report.html").write_text(
        "<html><body>report of " + directory.name + "</body></html>"
    )
    (directory / "trades.csv").write_text("time,symbol\n")
    if mtime is not None:
        for f in directory.iterdir():
            os.utime(f, (mtime, mtime))


def test_runs_lists_backtests_and_optimizer_runs_newest_first(tmp_path):
    make_backtest(tmp_path / "old", mtime=1_700_000_000)
    make_backtest(tmp_path / "grids" / "sma", sharpes=(0.5, float("nan"), 3.0), mtime=1_700_100_000)
    opt = tmp_path / "opt"
    opt.mkdir()
    best = [
        {"rank": 1, "strategy": "RSI", "strategy_id": "RSI(period=9)", "symbol": "ETH-USD",
         "objective": "sharpe", "fitness": 1.9, "metrics": {"sharpe": 1.9, "total_return": 0.3}},
        {"rank": 2, "strategy": "RSI", "strategy_id": "RSI(period=21)", "symbol": "ETH-USD",
         "objective": "sharpe", "fitness": 1.1, "metrics": {"sharpe": 1.1}},
    ]  # fmt: skip
    (opt / "best.json").write_text(json.dumps(best))
    (tmp_path / "not-a-run").mkdir()
    runs = list_runs(tmp_path)
    assert [r.path for r in runs][:2] == ["opt", "grids/sma"]
    by_path = {r.path: r for r in runs}
    assert set(by_path) == {"opt", "grids/sma", "old"}
    sma = by_path["grids/sma"]
    assert sma.kind == "backtest" and sma.results == 3 and sma.report == "grids/sma/report.html"
    assert sma.best["strategy_id"] == "SMA_CROSSOVER(fast=3,slow=30)"  # NaN is not the best
    optimized = by_path["opt"]
    assert optimized.kind == "optimize" and optimized.report is None and optimized.results == 2
    assert optimized.best["strategy_id"] == "RSI(period=9)" and optimized.best["sharpe"] == 1.9


def test_runs_backtest_of_a_short_sample_without_sharpe_still_shows_its_best(tmp_path):
    # summary.json leaves Sharpe null on a sample too short to annualize; its results are
    # listed best first, so the first one is the run's best.
    make_backtest(tmp_path / "day", sharpes=(None, None))
    [run] = list_runs(tmp_path)
    assert run.best["strategy_id"] == "SMA_CROSSOVER(fast=1,slow=30)"
    assert run.best["sharpe"] is None and run.best["total_return"] == 0.1


def test_runs_skips_hidden_directories_such_as_a_run_in_progress(tmp_path):
    make_backtest(tmp_path / "out")
    make_backtest(tmp_path / "out" / ".staging-abc123")  # tradestream backtest, not done yet
    make_backtest(tmp_path / ".hidden")
    assert [r.path for r in list_runs(tmp_path)] == ["out"]


def test_runs_file_access_stays_inside_the_runs_dir(tmp_path):
    make_backtest(tmp_path / "runs" / "a")
    (tmp_path / "secret.txt").write_text("no")
    root = tmp_path / "runs"
    assert resolve_file(root, "a/report.html") is not None
    assert resolve_file(root, "../secret.txt") is None
    assert resolve_file(root, "a/missing.html") is None
    (root / "a" / ".env").write_text("SECRET=1")
    (root / "notes.txt").write_text("not a run")
    assert resolve_file(root, "a/.env") is None  # hidden
    assert resolve_file(root, "notes.txt") is None  # not in a run directory
    assert resolve_file(root, "a/trades.csv") is not None


def test_runs_page_links_each_report_and_serves_it(tmp_path):
    make_backtest(tmp_path / "bt1")
    app = create_app(DashboardConfig(db_url=f"sqlite:///{tmp_path / 'none.db'}", runs_dir=tmp_path))
    with serve(app) as url:
        page = get(f"{url}/runs")
        assert page.status == 200
        assert 'href="/runs/bt1/report.html"' in page.text
        assert "SMA_CROSSOVER(fast=2,slow=30)" in page.text and "sharpe 2.50" in page.text
        report = get(f"{url}/runs/bt1/report.html")
        assert report.status == 200 and "report of bt1" in report.text
        assert get(f"{url}/runs/..%2Fnone.db").status == 404
        assert json.loads(get(f"{url}/api/runs").text)[0]["path"] == "bt1"
