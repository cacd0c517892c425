"""report.html of a small real optimize run (DirectRunner, walk-forward, SMA_CROSSOVER)."""

from __future__ import annotations

import bisect
import json
import re

import pytest

from tests.tradestream.optimize.builders import series_from_close, sine_close, write_candles_csv
from tradestream import cli
from tradestream.reports.optimize_report import write_report

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
    _, _, history, page = run
    charts = re.findall(r'<svg [^>]*aria-label="([^"]+)"', page)
    # One strategy type x one symbol: generations, one fast x slow map and its colour legend
    # per search (3 folds + final, switched by tabs), in- vs out-of-sample.
    searches = len(history["searches"])
    assert charts == [
        "fitness by generation",
        *["parameter map", "colour legend"] * searches,
        "in-sample vs out-of-sample",
    ]
    assert page.count("</svg>") == len(charts)
    tabs = re.findall(r'<input type="radio" name="pm0" id="pm0-(\d)"( checked)?><label [^>]*>'
                      r"([^<]+)</label>", page)  # fmt: skip
    assert [(label, checked) for _, checked, label in tabs] == [
        ("final", " checked"), ("fold 1", ""), ("fold 2", ""), ("fold 3", "")
    ]  # fmt: skip
    assert page.count('<div class="panel">') == searches


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
        # 2,400 one-minute candles: too short to annualize, so the Sharpe cell is a dash
        assert entry["metrics"]["sharpe"] is None
        assert re.findall(r"<td>([^<]*)</td>", row)[1:3] == [f"{entry['fitness']:.3f}", "–"]
        assert f"{entry['overfitting']['deflated_sharpe_ratio']:.3f}" in row
    assert f"Sharpe –: {first['annualized_omitted']} (the fitness is the computed" in page
    chart = page.split('aria-label="parameter map"')[1].split("</svg>")[0]  # the final's
    assert re.search(
        r'<rect class="mark" [^>]*><title>chosen \(rank 1\): '
        rf"fast={first['params']['fast']}, slow={first['params']['slow']}<",
        chart,
    )
    for fold in first["walk_forward"]["folds"]:  # fold winners are circled
        assert f"<title>fold {fold['fold']} winner: {_params(fold['params'])}<" in chart


def _params(params) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _panels(page: str) -> dict[str, str]:
    """Each parameter-map panel of the page by its search's label (`final`, `fold 1`, ...)."""
    panels = {}
    for chunk in page.split('<div class="panel">')[1:]:
        label = re.match(r'<p class="meta">(final|fold \d+) search on', chunk).group(1)
        panels[label] = chunk.split("<h3>")[0]  # the last panel ends with the section
    return panels


def _cells(svg: str) -> dict[tuple[int, int], tuple[int, float | None]]:
    cells = {}
    for i, j, n, best in re.findall(
        r'<rect class="cell" data-i="(\d+)" data-j="(\d+)" data-n="(\d+)" '
        r'data-best="([^"]+)"',
        svg,
    ):
        cells[(int(i), int(j))] = (int(n), None if best == "null" else float(best))
    return cells


def test_report_heatmap_has_a_cell_for_every_evaluated_genome(run):
    out, _, _, page = run
    evaluations = json.loads((out / "evaluations.json").read_text())
    searches = {s["search"]: s for s in evaluations["searches"]}
    panels = _panels(page)
    assert set(panels) == {"final", "fold 1", "fold 2", "fold 3"}
    for key, search in searches.items():
        label = "final" if search["fold"] is None else f"fold {search['fold']}"
        records = [r for r in evaluations["evaluations"] if r["search"] == key]
        assert len(records) == search["evaluations"] > 0
        (svg,) = re.findall(r'<svg [^>]*aria-label="parameter map".*?</svg>', panels[label])
        attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', svg.split(">")[0]))
        assert (attrs["data-x"], attrs["data-y"]) == ("fast", "slow")
        x_edges = [float(v) for v in attrs["data-x-edges"].split(",")]
        y_edges = [float(v) for v in attrs["data-y-edges"].split(",")]
        # The bins tile the searched ranges (--bound fast=2:40, slow=5:80), integers each.
        assert x_edges[0] == 2 and x_edges[-1] == 41 and y_edges[0] == 5 and y_edges[-1] == 81
        assert x_edges == sorted(set(x_edges)) and len(x_edges) <= 21

        def bin_of(edges, value):
            return bisect.bisect_right(edges, value) - 1

        expected: dict[tuple[int, int], list] = {}
        for r in records:
            key_ij = (bin_of(x_edges, r["params"]["fast"]), bin_of(y_edges, r["params"]["slow"]))
            expected.setdefault(key_ij, []).append(r["fitness"])
        cells = _cells(svg)
        assert set(cells) == set(expected)  # every genome's cell is drawn, and nothing else
        for key_ij, values in expected.items():
            finite = [v for v in values if v is not None]
            best = max(finite) if finite else None
            assert cells[key_ij] == (len(values), best)
        assert sum(n for n, _ in cells.values()) == len(records)


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
        # 16 h and 8 h windows: objective values shown, Sharpe withheld (too short to annualize)
        assert cells[1:5] == [f"{is_['objective']:.3f}", f"{oos['objective']:.3f}", "–", "–"]
        params = ", ".join(f"{k}={v}" for k, v in fold["params"].items())
        assert params in row
    assert "Mean Sharpe IS: – " in text and "WF efficiency: – " in text
    assert "–: windows under 30 days are too short to annualize" in text
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
    assert "No evaluations.json in this directory" in page  # an older run's directory
