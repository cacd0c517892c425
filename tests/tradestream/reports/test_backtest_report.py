"""report.html from RankedResults: the same page as from messages; big heatmaps bucketed."""

from __future__ import annotations

import re

import numpy as np

from tests.tradestream.backtest.test_ranking import (
    CONFIG,
    _no_rejections,
    _ranked,
    _run_info,
    _series,
)
from tradestream.backtest.chunks import Selected
from tradestream.backtest.grid import expand_grid
from tradestream.backtest.metrics import RECORD_DTYPE
from tradestream.backtest.outputs import SeriesInfo
from tradestream.backtest.ranking import SeriesSpan, rank_parts, write_part
from tradestream.reports.backtest_report import HEATMAP_CELLS, render_report
from tradestream.strategies import library
from tradestream.transforms.backtest.simulate import DetailResultsFn


def _page(grid, results, series, index):
    fn = DetailResultsFn(grid.strategies, CONFIG, 64)
    fn.setup()
    best = [Selected(series.symbol, grid.sets.describe(np.array([index]))[0][2], 0, index)]
    details = list(fn.process(series, best))
    return render_report(
        _run_info(grid), results, [SeriesInfo.of(series)], details, _no_rejections()
    )


def test_report_from_ranked_results_is_the_page_from_messages(tmp_path):
    grid = expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=2:30:2", "slow=3:90:3"])
    series = _series()
    ranked, messages = _ranked(series, grid.strategies, "sharpe", tmp_path, chunk=50)
    best = ranked.ids(0, 1)[0][0]
    page = _page(grid, [ranked], series, best)
    assert page == _page(grid, messages, series, best)
    assert "Heatmap of sharpe" in page and page.count("<tr>") == 201  # the best 200
    assert f"{len(messages) - 200} more result(s) in summary.json" in page


def test_report_heatmap_of_a_big_grid_shows_buckets_of_neighbouring_values(tmp_path):
    grid = expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=2:100:1", "slow=3:300:1"])
    series = _series(n=120)
    records = np.zeros(len(grid), dtype=RECORD_DTYPE)  # made up: only their layout matters
    records["set"] = np.arange(len(grid))
    records["sharpe"] = np.random.default_rng(2).normal(size=len(grid))
    span = SeriesSpan(series.symbol, 0, 1, len(series), series.interval_ms)
    part = write_part(str(tmp_path), records, span)
    ranked = rank_parts([part], grid.sets, CONFIG, "sharpe", str(tmp_path))
    page = _page(grid, [ranked], series, ranked.ids(0, 1)[0][0])
    heatmap = page[page.index("Heatmap of sharpe") : page.index("<h2>Results")]
    cells = heatmap.count("<rect")
    assert 0 < cells <= HEATMAP_CELLS * HEATMAP_CELLS
    assert "99 x 298 values in 99 x 100 cells" in heatmap
    assert re.search(r"slow=3\.\.5: best sharpe = ", heatmap)
