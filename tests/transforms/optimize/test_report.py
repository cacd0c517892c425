"""report.html of a small real optimize run (DirectRunner, walk-forward, SMA_CROSSOVER)."""

from __future__ import annotations

import json
import re

import pytest

from tests.transforms.optimize.builders import series_from_close, sine_close, write_candles_csv
from tradestream import cli
from transforms.optimize.report import write_report

ARGS = ["--strategy", "SMA_CROSSOVER", "--bound", "fast=2:40", "--bound", "slow=5:80",
        "--fee", "0.002", "--min_trades", "5", "--population", "6", "--generations", "2",
        "--seed", "3", "--train", "16h", "--test", "8h", "--top", "3"]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    candles = write_candles_csv(data / "SYN.csv", series_from_close(sine_close(2400)))
    out = data / "out"
    assert cli.main(["optimize", "--input", str(candles), "--output", str(out), *ARGS]) == 0
    best = json.loads((out / "best.json").read_text())
    history = json.loads((out / "history.json").read_text())
    return out, best, history, (out / "report.html").read_text()


def _text(page: str) -> str:
    """The page without its tags, so a value split over markup still reads as one."""
    return re.sub(r"<[^>]+>", " ", page)


def test_optimize_run_writes_a_self_contained_report(run):
    out, _, _, page = run
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"(src|href)=|<script|@import|url\(", page)  # nothing fetched


def test_report_has_one_svg_per_chart(run):
    _, _, _, page = run
    charts = re.findall(r'<svg [^>]*aria-label="([^"]+)"', page)
    # One strategy type x one symbol: generations, parameter map, in- vs out-of-sample.
    assert charts == ["fitness by generation", "parameter map", "in-sample vs out-of-sample"]
    assert page.count("</svg>") == 3


def test_report_generations_chart_draws_best_and_mean_of_every_search(run):
    _, _, history, page = run
    chart = page.split('aria-label="fitness by generation"')[1].split("</svg>")[0]
    searches = history["searches"]
    assert len(searches) == 4  # 3 folds + the final search
    assert chart.count("<polyline") == 2 * len(searches)  # every value is finite here
    assert chart.count('stroke-dasharray="5 3"') == len(searches)
    for label in ("fold 1", "fold 2", "fold 3", "final"):
        assert f"</i>{label}</span>" in page


def test_report_shows_the_best_parameters_and_their_numbers(run):
    _, best, _, page = run
    text = _text(page)
    first = best[0]
    params = ", ".join(f"{k}={v}" for k, v in first["params"].items())
    assert f"Best: {params} , fitness {first['fitness']:.3f}" in " ".join(text.split())
    for entry in best:
        row = re.search(rf"<tr><td>{entry['rank']}</td>.*?</tr>", page).group(0)
        assert f"fast={entry['params']['fast']}, slow={entry['params']['slow']}" in row
        assert f"{entry['fitness']:.3f}" in row
        assert f"{entry['metrics']['sharpe']:.3f}" in row
        assert f"{entry['overfitting']['deflated_sharpe_ratio']:.3f}" in row
    chart = page.split('aria-label="parameter map"')[1].split("</svg>")[0]
    assert chart.count("<rect") == len(best)
    assert f"fast={first['params']['fast']}, slow={first['params']['slow']}: fitness" in chart


def test_report_shows_in_sample_and_out_of_sample_per_fold(run):
    _, best, _, page = run
    walk = best[0]["walk_forward"]
    summary = walk["summary"]
    text = " ".join(_text(page).split())
    assert f"Mean objective IS: {summary['in_sample_objective_mean']:.3f}" in text
    assert f"Mean objective OOS: {summary['out_of_sample_objective_mean']:.3f}" in text
    table = page.split('aria-label="in-sample vs out-of-sample"')[1]
    rows = re.findall(r"<tr><td>\d+</td>.*?</tr>", table)
    assert len(rows) == len(walk["folds"]) == 3
    for fold, row in zip(walk["folds"], rows, strict=True):
        is_, oos = fold["in_sample"], fold["out_of_sample"]
        cells = re.findall(r"<td>([^<]*)</td>", row)
        # fold, IS/OOS objective, then IS/OOS Sharpe, side by side
        assert cells[0] == str(fold["fold"])
        assert cells[1:5] == [
            f"{is_['objective']:.3f}",
            f"{oos['objective']:.3f}",
            f"{is_['metrics']['sharpe']:.3f}",
            f"{oos['metrics']['sharpe']:.3f}",
        ]
        params = ", ".join(f"{k}={v}" for k, v in fold["params"].items())
        assert params in row
    bars = page.split('aria-label="in-sample vs out-of-sample"')[1].split("</svg>")[0]
    assert bars.count("<rect") == 2 * len(walk["folds"])


def test_write_report_rebuilds_the_same_page_from_the_files(run):
    out, _, _, page = run
    assert write_report(out) == out / "report.html"
    assert (out / "report.html").read_text() == page


def test_report_without_walk_forward_or_finite_set_says_so(tmp_path):
    (tmp_path / "best.json").write_text("[]")
    search = {"search": "X|S", "strategy": "X", "symbol": "S", "fold": None,
              "generations": [{"generation": 0, "best": None, "mean": None}]}  # fmt: skip
    (tmp_path / "history.json").write_text(json.dumps({"searches": [search]}))
    page = write_report(tmp_path).read_text()
    assert "No set reached a finite fitness" in page
    assert "No finite fitness in any generation" in page
    assert "No walk-forward" in page and "<svg" not in page
