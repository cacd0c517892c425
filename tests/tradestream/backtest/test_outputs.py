"""Output formatting: ISO times, CSV rows, summary.json, rejected-row accounting, report.html."""

from __future__ import annotations

import json
import math

import numpy as np

from tests.support.builders import MINUTE, T0, candle
from tradestream.backtest.chunks import Selected, chunk_results, simulate_chunk
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.files import RejectedRow
from tradestream.backtest.grid import expand_grid
from tradestream.backtest.metrics import DAY_MS, annualization_caveat
from tradestream.backtest.outputs import (
    GridInfo,
    RunInfo,
    SeriesInfo,
    conflict_lines,
    console_summary,
    equity_csv,
    iso_times,
    summary_json,
    trades_csv,
    write_json,
)
from tradestream.backtest.series import build_series
from tradestream.reports.backtest_report import render_report
from tradestream.strategies import library
from tradestream.transforms.backtest.simulate import DetailResultsFn
from tradestream.transforms.backtest.write_outputs import SummarizeRejectionsCombineFn

CONFIG = ExecutionConfig()


def _series(n=240):
    closes = 100 + 10 * np.sin(np.arange(n) / 9.0)
    return build_series(
        "BTC-USD", [candle(T0 + i * MINUTE, float(c)) for i, c in enumerate(closes)], MINUTE
    )


def _no_rejections():
    fn = SummarizeRejectionsCombineFn()
    return fn.extract_output(fn.create_accumulator())


def _run(strategies, grid=None):
    series = _series()
    results = chunk_results(simulate_chunk(series, strategies, CONFIG), CONFIG)
    fn = DetailResultsFn(strategies, CONFIG, 64)
    fn.setup()
    details = list(fn.process(series, [Selected("BTC-USD", strategies[0].strategy_id, 0)]))
    info = RunInfo(
        inputs=("x.csv",),
        input_kind="candles",
        candle_interval_ms=0,
        config=CONFIG,
        strategies=len(strategies),
        grid=GridInfo.of(grid) if grid else None,
    )
    return series, results, details, info


def test_outputs_iso_times_are_utc_with_seconds_or_milliseconds():
    assert iso_times(np.array([1_704_153_600_000])) == ["2024-01-02T00:00:00Z"]
    assert iso_times(np.array([1_704_153_600_250, 1_704_153_600_000])) == [
        "2024-01-02T00:00:00.250Z",
        "2024-01-02T00:00:00.000Z",
    ]


def test_outputs_csv_rows_quote_strategy_ids_and_match_the_simulation():
    strategy = library.build("SMA_CROSSOVER", {"fast": 5, "slow": 20})
    series, results, details, _ = _run([strategy])
    detail = details[0]
    rows = trades_csv(detail).splitlines()
    assert len(rows) == len(detail.trades) > 0
    first = rows[0].split('"')
    assert first[1] == "SMA_CROSSOVER(fast=5,slow=20)"
    equity = equity_csv(detail).splitlines()
    assert len(equity) == len(series)
    assert equity[0].startswith("2023-11-14T22:14:00Z,BTC-USD,")
    last = equity[-1].split('"')[-1].split(",")
    assert float(last[1]) == results[0].metrics.final_equity


def test_outputs_summary_has_one_entry_per_result_and_null_for_undefined():
    strategies = list(
        expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=3:5:1", "slow=250"]).strategies
    )
    series, results, _, info = _run(strategies)
    summary = summary_json(info, results, [SeriesInfo.of(series)], _no_rejections())
    text = json.dumps(summary, allow_nan=False)
    assert len(summary["results"]) == 3
    entry = summary["results"][0]
    assert entry["params"]["slow"] == 250 and entry["metrics"]["num_trades"] == 0
    assert entry["metrics"]["sharpe"] is None  # no trade: undefined, not NaN
    assert '"NaN"' not in text and "Infinity" not in text
    assert summary["input"]["symbols"]["BTC-USD"]["candles"] == 240


def test_outputs_rejections_are_counted_by_reason_and_file_with_first_examples():
    fn = SummarizeRejectionsCombineFn()
    accs = []
    for part in range(3):
        acc = fn.create_accumulator()
        for row in range(40):
            reason = "malformed" if row % 2 else "invalid_price"
            acc = fn.add_input(acc, RejectedRow(f"f{part}.csv", row + 1, reason, "x"))
        accs.append(acc)
    summary = fn.extract_output(fn.merge_accumulators(accs))
    assert summary.total == 120
    assert summary.by_reason == {"malformed": 60, "invalid_price": 60}
    assert summary.by_file == {"f0.csv": 40, "f1.csv": 40, "f2.csv": 40}
    assert [(r.file, r.row) for r in summary.examples[:2]] == [("f0.csv", 1), ("f0.csv", 2)]
    assert len(summary.examples) == 20


def test_report_is_self_contained_with_charts_table_and_grid_heatmap():
    grid = expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=3:9:3", "slow=6:12:3"])
    series, results, details, info = _run(list(grid.strategies), grid)
    page = render_report(info, results, [SeriesInfo.of(series)], details, _no_rejections())
    assert page.startswith("<!doctype html>")
    assert "<script" not in page and "https://" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") == 5  # equity, drawdown, price, heatmap, its colour legend
    assert "Heatmap of sharpe" in page and "fast=3, slow=6" in page
    assert page.count("<tr>") == len(results) + 1


def test_report_without_grid_has_no_heatmap():
    strategy = library.build("SMA_CROSSOVER", {"fast": 5, "slow": 20})
    series, results, details, info = _run([strategy])
    page = render_report(info, results, [SeriesInfo.of(series)], details, _no_rejections())
    assert "Heatmap" not in page and page.count("<svg") == 3


SHORT_CAVEAT = (
    "the sample spans 0.167 days, under the 30 days needed to annualize: "
    "cagr, annualized_volatility, sharpe, sortino, calmar not shown"
)  # 240 one-minute candles: 240 / 1440 days


def test_metrics_annualization_needs_thirty_days():
    assert annualization_caveat(30 * DAY_MS) is None
    assert annualization_caveat(400 * DAY_MS) is None
    assert annualization_caveat(30 * DAY_MS - 1) is not None
    assert annualization_caveat(240 * MINUTE) == SHORT_CAVEAT
    assert annualization_caveat(DAY_MS).startswith("the sample spans 1 day, under the 30 days")


def test_outputs_summary_of_a_short_sample_has_null_annualized_metrics_and_the_reason():
    strategies = list(
        expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=3:5:1", "slow=20"]).strategies
    )
    series, results, _, info = _run(strategies)
    assert all(math.isfinite(r.metrics.sharpe) for r in results)  # computed, then withheld
    summary = summary_json(info, results, [SeriesInfo.of(series)], _no_rejections())
    for entry in summary["results"]:
        assert entry["annualized_omitted"] == SHORT_CAVEAT
        m = entry["metrics"]
        assert [m[k] for k in ("cagr", "annualized_volatility", "sharpe", "sortino", "calmar")] == [
            None
        ] * 5
        assert m["total_return"] is not None and m["max_drawdown"] is not None
    # Still ranked by the computed Sharpe, best first.
    best = max(results, key=lambda r: r.metrics.sharpe)
    assert summary["results"][0]["strategy_id"] == best.strategy.strategy_id


def test_outputs_summary_of_thirty_days_keeps_annualized_metrics():
    closes = 100 + 10 * np.sin(np.arange(30) / 3.0)
    day = 86_400_000
    series = build_series(
        "BTC-USD",
        [candle(T0 + i * day, float(c), interval_ms=day) for i, c in enumerate(closes)],
        day,
    )
    strategy = library.build("SMA_CROSSOVER", {"fast": 2, "slow": 5})
    [result] = chunk_results(simulate_chunk(series, [strategy], CONFIG), CONFIG)
    info = RunInfo(("x.csv",), "candles", 0, CONFIG, 1)
    [entry] = summary_json(info, [result], [SeriesInfo.of(series)], _no_rejections())["results"]
    assert entry["annualized_omitted"] is None
    assert entry["metrics"]["sharpe"] is not None
    assert entry["metrics"]["sharpe"] == result.metrics.sharpe


def test_outputs_console_says_why_annualized_metrics_are_missing(tmp_path):
    strategy = library.build("SMA_CROSSOVER", {"fast": 5, "slow": 20})
    series, results, _, info = _run([strategy])
    write_json(
        str(tmp_path / "summary.json"),
        summary_json(info, results, [SeriesInfo.of(series)], _no_rejections()),
    )
    text, _ = console_summary(str(tmp_path), "sharpe")
    assert "SMA_CROSSOVER(fast=5,slow=20)" in text and " sharpe=n/a " in text
    assert f"  n/a: {SHORT_CAVEAT}; ranked by the computed sharpe\n" in text
    text, _ = console_summary(str(tmp_path), "total_return")
    assert f"  n/a: {SHORT_CAVEAT}\n" in text


def test_report_of_a_short_sample_shows_na_for_annualized_metrics():
    grid = expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=3:9:3", "slow=6:12:3"])
    series, results, details, info = _run(list(grid.strategies), grid)
    page = render_report(info, results, [SeriesInfo.of(series)], details, _no_rejections())
    assert "CAGR: <b>n/a</b>" in page and "Sharpe: <b>n/a</b>" in page
    assert page.count(f'<td title="{SHORT_CAVEAT}">n/a</td>') == 5 * len(results)
    assert f"BTC-USD: n/a for CAGR, Vol, Sharpe, Sortino and Calmar: {SHORT_CAVEAT}." in page
    assert "sharpe extrapolated from 0.167 days: compare the cells with one another" in page


def test_outputs_conflicting_duplicates_one_line_each_then_a_count():
    examples = [
        {"file": "a.csv", "row": 1, "reason": "malformed", "detail": "row 1: x"},
        *(
            {
                "file": "a.csv",
                "row": 10 + i,
                "reason": "conflicting_duplicate",
                "detail": f"row {10 + i}: c{i}",
            }
            for i in range(12)
        ),
    ]
    rejected = {
        "total": 15,
        "by_reason": {"malformed": 1, "conflicting_duplicate": 14},
        "examples": examples,
    }
    lines = conflict_lines(rejected)
    assert lines[0] == "conflicting duplicate candle in a.csv, row 10: c0"
    assert lines[9] == "conflicting duplicate candle in a.csv, row 19: c9"
    assert lines[10:] == ["... and 4 more conflicting duplicate candle(s); see summary.json"]
    assert conflict_lines({"by_reason": {"malformed": 1}, "examples": examples[:1]}) == []
