"""The reports and the dashboard as a reader sees them: rendered by headless Chromium in a
1280-pixel window, with a screenshot of each in test-artifacts/.

Built from real runs: a backtest grid over three symbols of the bundled sample (a 2-parameter
grid, so each symbol gets a heatmap; returns and Sharpe ratios of both signs), a small
walk-forward optimize run, and the dashboard serving both runs and a paper portfolio whose
positions carry long strategy ids. Each page must fit the window (nothing past its right edge,
no table cut off inside a scrolling box), and the fixes that make them readable are checked
in the DOM: one heatmap colour scale for every symbol, cell labels that contrast with their
cell and fit in it, round axis ticks without surplus decimals, generations numbered as the
optimizer's log numbers them, and axis labels on the dashboard's equity chart.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil

import pytest

from tests.support.browser import (
    browser_fixture,  # noqa: F401 (registers `browser`)
    horizontal_overflow,
    save_page_screenshot,
)
from tests.support.signals import event
from tests.tradestream.dashboard.server import serve
from tests.tradestream.optimize.builders import series_from_close, sine_close, write_candles_csv
from tradestream import cli
from tradestream.dashboard.app import DashboardConfig, create_app
from tradestream.ledger.store import PaperStore
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades_csv
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine

pytestmark = pytest.mark.integration

GENERATIONS = 4
# A library strategy with all its parameters: the longest ids a real portfolio shows.
LONG_ID = (
    "MICRO_REVERSAL_SCALPER(fast=5,slow=20,atr_period=14,burst=1.0,wick=0.4,period=5,"
    "target=2.0,stop=1.0)"
)


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    """A backtest of SMA_CROSSOVER over a 6 x 7 grid on 6 hours of BTC, ETH and SOL."""
    root = tmp_path_factory.mktemp("grid")
    trades = root / "trades.csv"
    write_trades_csv(trades, sample_trades(hours=6, seed=11, rate_per_s=0.2))
    out = root / "out"
    args = ["backtest", "--input", str(trades), "--output", str(out), "--strategy",
            "SMA_CROSSOVER", "--grid", "fast=2:12:2", "--grid", "slow=10:40:5",
            "--candle_interval", "1m", "--fee", "0.002"]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(args) == 0
    return out


@pytest.fixture(scope="module")
def optimize_run(tmp_path_factory):
    """A walk-forward optimize run (3 folds) and the log it printed."""
    root = tmp_path_factory.mktemp("optimize")
    candles = write_candles_csv(root / "SYN.csv", series_from_close(sine_close(2400)))
    out = root / "out"
    args = ["optimize", "--input", str(candles), "--output", str(out), "--strategy",
            "SMA_CROSSOVER", "--bound", "fast=2:40", "--bound", "slow=5:80", "--fee", "0.002",
            "--min_trades", "5", "--population", "10", "--seed", "3", "--generations",
            str(GENERATIONS), "--train", "16h", "--test", "8h", "--objective", "weighted",
            "--top", "3"]  # fmt: skip
    log = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(log):
        assert cli.main(args) == 0
    return out, log.getvalue()


def _open(browser, path):
    browser.get(path.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"


def _texts(browser, selector: str) -> list[str]:
    return browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent)", selector
    )


def _y_labels(browser, chart: str) -> list[list[str]]:
    """The y tick labels (right-aligned texts that are not times) of each chart `chart`."""
    return [
        [t for t in labels if not re.search(r"\d:\d", t)]
        for labels in browser.execute_script(
            """return [...document.querySelectorAll(`svg[aria-label="${arguments[0]}"]`)]
                 .map((svg) => [...svg.querySelectorAll('text[text-anchor="end"]')]
                   .map((t) => t.textContent))""",
            chart,
        )
    ]


def _rgb(colour: str) -> tuple[int, int, int]:
    if colour.startswith("#"):
        digits = colour[1:]
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return tuple(int(digits[k : k + 2], 16) for k in (0, 2, 4))
    return tuple(int(v) for v in re.findall(r"\d+", colour)[:3])


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """The WCAG 2 contrast ratio of two sRGB colours."""

    def luminance(rgb):
        linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _assert_round_labels(labels: list[str], what: str) -> None:
    """Tick labels with the decimals their step needs: the same count on every label, and
    not all ending in a 0 after the point (`45.000`, `0.800`: a decimal too many)."""
    assert len(labels) >= 2, (what, labels)
    numbers = [label.rstrip("%") for label in labels]
    decimals = {len(n.split(".")[1]) if "." in n else 0 for n in numbers}
    assert len(decimals) == 1, (what, labels)
    if decimals != {0}:
        assert not all(n.endswith("0") for n in numbers), (what, labels)


def test_backtest_grid_report_fits_the_window_with_one_heatmap_scale(browser, grid_run):
    _open(browser, grid_run / "report.html")
    assert horizontal_overflow(browser) == []
    save_page_screenshot(browser, "report-backtest-grid.png")

    cells = browser.execute_script(
        """return [...document.querySelectorAll('svg[aria-label="heatmap"]')].flatMap((svg, i) =>
             [...svg.querySelectorAll("rect")].filter((r) => r.querySelector("title"))
               .map((r) => ({symbol: i, fill: r.getAttribute("fill"),
                             value: parseFloat(r.querySelector("title").textContent
                                              .split(" = ")[1])})))"""
    )
    symbols = {c["symbol"] for c in cells}
    assert len(symbols) == 3
    values = [c["value"] for c in cells]
    assert min(values) < 0 < max(values)  # both signs, so one scale must diverge at 0
    # One scale: every negative cell is a red (r > g), every positive one a green (g > r),
    # whatever its symbol, and the colour deepens with the distance from 0 across symbols.
    negative = sorted((c["value"], _rgb(c["fill"])) for c in cells if c["value"] < 0)
    positive = sorted((c["value"], _rgb(c["fill"])) for c in cells if c["value"] > 0)
    assert all(r > g for _, (r, g, _) in negative) and all(g > r for _, (r, g, _) in positive)
    assert [rgb[1] for _, rgb in negative] == sorted(rgb[1] for _, rgb in negative)
    assert [rgb[0] for _, rgb in positive] == sorted((rgb[0] for _, rgb in positive), reverse=True)
    legend = " ".join(_texts(browser, "p.note"))
    assert "One colour scale for every symbol's heatmap" in legend

    labels = browser.execute_script(
        """return [...document.querySelectorAll('svg[aria-label="heatmap"] rect + text')]
             .map((t) => { const cell = t.previousElementSibling, a = t.getBoundingClientRect(),
                                 b = cell.getBoundingClientRect();
               return {text: t.textContent, ink: getComputedStyle(t).fill,
                       fill: cell.getAttribute("fill"),
                       inside: a.left >= b.left && a.right <= b.right &&
                               a.top >= b.top && a.bottom <= b.bottom}; })"""
    )
    assert len(labels) == len(cells)  # every cell is labelled (they all have a value here)
    assert any(label["text"].startswith("-") for label in labels)
    # Negative numbers included, no label spills over its cell; each reads as well as WCAG AA
    # asks of text (a contrast of 4.5 with its cell).
    assert [label for label in labels if not label["inside"]] == []
    faint = [label for label in labels if _contrast(_rgb(label["ink"]), _rgb(label["fill"])) < 4.5]
    assert faint == []

    times = _texts(browser, 'svg[aria-label="equity curve"] text')
    ticks = [t for t in times if re.fullmatch(r"\d\d-\d\d \d\d:\d\d", t)]
    assert len(ticks) >= 3
    assert all(t.endswith(":00") for t in ticks), ticks  # 6 hours: a tick on every hour
    for chart in ("equity curve", "drawdown", "price with entries and exits"):
        for labels in _y_labels(browser, chart):  # one chart per symbol
            _assert_round_labels(labels, chart)


def test_optimize_report_fits_the_window_and_numbers_generations_as_the_log(browser, optimize_run):
    out, log = optimize_run
    _open(browser, out / "report.html")
    assert horizontal_overflow(browser) == []
    save_page_screenshot(browser, "report-optimize.png")

    logged = [int(n) for n in re.findall(rf"\[optimize\] gen (\d+)/{GENERATIONS} ", log)]
    assert logged == list(range(1, GENERATIONS + 1))
    chart = 'svg[aria-label="fitness by generation"]'
    generations = [int(t) for t in _texts(browser, f'{chart} text[text-anchor="middle"]')]
    assert generations[0] == logged[0] and generations[-1] == logged[-1]
    for chart in ("fitness by generation", "in-sample vs out-of-sample"):
        (labels,) = _y_labels(browser, chart)
        _assert_round_labels(labels, chart)
    folds = browser.execute_script(
        "return document.querySelectorAll('table')[1].querySelectorAll('tbody tr').length"
    )
    assert folds == 3  # the fold table is on the page (and, above, within the window)


@pytest.fixture
def dashboard(tmp_path, grid_run, optimize_run):
    """The dashboard over both runs (in nested directories) and a portfolio with four open
    positions, one held by a strategy with a long id."""
    runs = tmp_path / "runs"
    shutil.copytree(grid_run, runs / "backtests" / "2024-01-02" / "sma-grid-btc-eth-sol")
    shutil.copytree(optimize_run[0], runs / "optimize" / "2023-11-15" / "sma-walk-forward")
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    store = PaperStore(url)
    config = PortfolioConfig(fee=0.001)
    engine = PortfolioEngine(config)
    seen: set[str] = set()
    minute = 0
    for strategy in (LONG_ID, "MACD_CROSSOVER(fast=12,slow=26,signal=9)"):
        for symbol, price in (("BTC-USD", 42_123.45), ("ETH-USD", 2_301.5)):
            engine.on_signal(event("BUY", price, minute, strategy, symbol), seen)
            minute += 7
    engine.on_signal(event("SELL", 42_900.0, minute + 40, LONG_ID, "BTC-USD"), seen)
    engine.on_signal(event("BUY", 101.2345, minute + 95, LONG_ID, "SOL-USD"), seen)
    store.save(engine.state, engine.take_changes(), {("signals", 0): 6}, config)
    store.close()
    app = create_app(DashboardConfig(db_url=url, runs_dir=runs, refresh_s=0.3))
    with serve(app) as base:
        yield base


def test_dashboard_pages_fit_the_window_and_the_equity_chart_has_axes(browser, dashboard):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(dashboard + "/")
    wait = WebDriverWait(browser, 20, poll_frequency=0.1)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#positions-body tr td.num"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#equity-chart path"))
    assert LONG_ID in browser.find_element(By.ID, "positions-body").text.replace("\n", "")
    assert horizontal_overflow(browser) == []
    save_page_screenshot(browser, "report-dashboard.png")

    texts = _texts(browser, "#equity-chart text")
    assert "equity" in texts and "time (UTC)" in texts  # the axes say what they measure
    times = [t for t in texts if re.fullmatch(r"\d\d-\d\d \d\d:\d\d", t)]
    assert len(times) >= 2 and all(int(t[-2:]) % 5 == 0 for t in times), times
    money = [t for t in texts if re.fullmatch(r"[\d,.]+", t)]
    _assert_round_labels(money, "equity axis")

    browser.get(dashboard + "/runs")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 2
    assert horizontal_overflow(browser) == []
    save_page_screenshot(browser, "report-dashboard-runs.png")


@pytest.fixture(scope="module")
def portfolio_run(tmp_path_factory):
    """A portfolio backtest of two strategies over 6 hours of BTC, ETH and SOL."""
    root = tmp_path_factory.mktemp("portfolio")
    trades = root / "trades.csv"
    write_trades_csv(trades, sample_trades(hours=6, seed=5, rate_per_s=0.3))
    out = root / "out"
    args = ["backtest", "--portfolio", "--input", str(trades), "--output", str(out),
            "--strategy", "SMA_CROSSOVER", "--strategy", LONG_ID.split("(")[0],
            "--candle_interval", "1m", "--allow_short", "--stop", "pct", "--stop_pct", "0.003",
            "--daily_loss_limit", "0.01"]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(args) == 0
    return out


def test_portfolio_report_fits_the_window_with_round_axes(browser, portfolio_run):
    _open(browser, portfolio_run / "report.html")
    assert horizontal_overflow(browser) == []
    save_page_screenshot(browser, "report-portfolio.png")
    for chart in ("portfolio equity", "drawdown"):
        [labels] = _y_labels(browser, chart)
        _assert_round_labels(labels, chart)
    headings = _texts(browser, "h2")
    assert "Attribution by symbol" in headings and any(
        h.startswith("Closed trades") for h in headings
    )
    symbols = _texts(browser, "h2 + div table td.l:first-child")
    assert {"BTC-USD", "ETH-USD", "SOL-USD"} <= set(symbols)
