"""End to end in headless Chromium: signals flow through Kafka and the paper executor, and
the dashboard page shows them (and the new equity) without a reload.

Chromium comes from the shared fixture in tests/support/browser.py (scripts/ensure_chromium.sh
finds or installs it). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.browser import browser_fixture, save_page_screenshot  # noqa: F401 (fixture)
from tests.support.kafka import create_topics, free_port, produce
from tests.support.signals import proto, random_stream
from tests.tradestream.dashboard.server import get
from tests.tradestream.dashboard.test_runs import make_backtest
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine, SignalEvent
from tradestream.v1 import trade_pb2

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tradestream.cli", *args],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_dashboard_shows_new_signals_and_equity_live_in_chromium(kafka_broker, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    tag = uuid.uuid4().hex[:8]
    signals_topic, trades_topic, dlq_topic = f"sig-{tag}", f"trd-{tag}", f"dlq-{tag}"
    create_topics(kafka_broker, [trades_topic, dlq_topic], partitions=3)
    create_topics(kafka_broker, [signals_topic], partitions=1)  # one order: a known portfolio
    dead = trade_pb2.DeadLetter(payload=b"{bad", reason="malformed", source_topic=trades_topic)
    produce(kafka_broker.bootstrap, dlq_topic, [(None, dead.SerializeToString())] * 3)
    runs = tmp_path / "runs"
    make_backtest(runs / "sma-grid")
    db = f"sqlite:///{tmp_path / 'paper.db'}"
    port = free_port()
    env = {**os.environ, "TRADESTREAM_STATE_DIR": str(tmp_path / "state")}
    env.pop("TRADESTREAM_DASHBOARD_TOKEN", None)
    first = random_stream(4, 60)  # leaves BTC-USD long in books A and C
    new = [
        proto("SELL", 112.0, 60, "A(x=1)"),  # closes book A above its entry
        proto("BUY", 50.0, 60, "MACD_CROSS(fast=12,slow=26)", symbol="SOL-USD"),
    ]
    before, after = _expected_equity(first), _expected_equity(first + new)
    assert before != after
    produce(
        kafka_broker.bootstrap,
        signals_topic,
        [(s.symbol.encode(), s.SerializeToString()) for s in first],
    )
    procs = [
        _spawn(
            ["paper", "run", "--db", db, "--bootstrap_servers", kafka_broker.bootstrap,
             "--signals_topic", signals_topic, "--group_id", f"paper-{tag}"],
            tmp_path / "paper.log", env,
        ),
        _spawn(
            ["dashboard", "--port", str(port), "--db", db, "--runs_dir", str(runs),
             "--bootstrap_servers", kafka_broker.bootstrap, "--signals_topic", signals_topic,
             "--trades_topic", trades_topic, "--dlq_topic", dlq_topic,
             "--paper_group", f"paper-{tag}", "--refresh", "0.3", "--health_every", "1"],
            tmp_path / "dashboard.log", env,
        ),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _healthy(url), 30, "the dashboard to start")
        browser.get(url + "/")
        wait = WebDriverWait(browser, 30, poll_frequency=0.1)
        equity = browser.find_element(By.ID, "equity")
        wait.until(lambda d: equity.text == before)
        newest = "#signals-body tr[data-signal-id]:first-child"
        wait.until(
            lambda d: any(
                r.get_attribute("data-signal-id") == first[-1].signal_id
                for r in d.find_elements(By.CSS_SELECTOR, newest)
            )
        )
        browser.execute_script("window.__noReload = 42;")
        wait.until(lambda d: "records behind" in d.find_element(By.ID, "health-paper").text)
        assert browser.find_element(By.ID, "health-dlq").text == "3"

        produce(
            kafka_broker.bootstrap,
            signals_topic,
            [(s.symbol.encode(), s.SerializeToString()) for s in new],
        )
        for s in new:
            wait.until(
                lambda d, sid=s.signal_id: d.find_elements(
                    By.CSS_SELECTOR, f'tr[data-signal-id="{sid}"]'
                )
            )
        wait.until(lambda d: equity.text == after)
        assert browser.execute_script("return window.__noReload;") == 42  # no reload happened
        positions = browser.find_element(By.ID, "positions-body").text
        assert "MACD_CROSS(fast=12,slow=26)" in positions
        last_fill = browser.find_elements(By.CSS_SELECTOR, "#fills-body tr:first-child td")
        assert [c.text for c in last_fill[2:5]] == ["SOL-USD", "MACD_CROSS(fast=12,slow=26)", "BUY"]
        assert browser.find_element(By.ID, "conn").text == "live"
        assert browser.find_elements(By.CSS_SELECTOR, "#equity-chart path")
        time.sleep(0.3)  # let the new-row highlight settle for the picture
        save_page_screenshot(browser, "dashboard.png")

        browser.get(url + "/runs")
        link = browser.find_element(By.CSS_SELECTOR, 'a[href="/runs/sma-grid/report.html"]')
        save_page_screenshot(browser, "dashboard-runs.png")
        link.click()
        wait.until(lambda d: "report of sma-grid" in d.page_source)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], (tmp_path / "dashboard.log").read_text()[-2000:]


def _expected_equity(signals) -> str:
    """The equity the page must show, from the engine run over the same stream."""
    engine = PortfolioEngine(PortfolioConfig())
    seen: set[str] = set()
    for s in signals:
        engine.on_signal(SignalEvent.from_proto(s), seen)
    return f"{engine.state.portfolio.equity():,.2f}"


def _healthy(url: str) -> bool:
    try:
        return get(url + "/healthz").status == 200
    except OSError:
        return False
