"""The dashboard app: snapshot JSON, the server-sent event stream, the access token."""

from __future__ import annotations

import json

import pytest

from tests.support.signals import event
from tests.tradestream.dashboard.server import first_event, get, serve
from tradestream.cli import main
from tradestream.dashboard.app import DashboardConfig, create_app
from tradestream.dashboard.auth import is_loopback
from tradestream.ledger.store import PaperStore
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine

TOKEN = "s3cret-token-0123456789"


@pytest.fixture
def db_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'paper.db'}"
    store = PaperStore(url)
    config = PortfolioConfig(fee=0.0)
    eng = PortfolioEngine(config)
    seen: set[str] = set()
    for e in (event("BUY", 100.0, 0, "A"), event("SELL", 120.0, 1, "A")):
        eng.on_signal(e, seen)
    eng.on_signal(event("BUY", 120.0, 2, "B"), seen)
    store.save(eng.state, eng.take_changes(), {("signals", 0): 3}, config)
    store.close()
    return url


def test_dashboard_snapshot_has_portfolio_signals_fills_and_curve(db_url, tmp_path):
    app = create_app(DashboardConfig(db_url=db_url, runs_dir=tmp_path))
    with serve(app) as url:
        snap = json.loads(get(f"{url}/api/snapshot").text)
    paper = snap["paper"]
    # Long 10 units 100 -> 120 (+200), then 10% of 10,200 at 120 (8.5 units) still open.
    assert paper["account"]["equity"] == pytest.approx(10_200.0)
    assert paper["account"]["realized_pnl"] == pytest.approx(200.0)
    assert [p["book"] for p in paper["positions"]] == ["B"]
    assert [s["decision"] for s in paper["signals"]] == [
        "filled:entry",
        "filled:exit",
        "filled:entry",
    ]
    assert len(paper["fills"]) == 3 and [p["equity"] for p in paper["equity"]][-1] == 10_200.0
    assert snap["health"] is None


def test_dashboard_stream_sends_a_snapshot_event(db_url, tmp_path):
    app = create_app(DashboardConfig(db_url=db_url, runs_dir=tmp_path, refresh_s=0.2))
    with serve(app) as url:
        data = json.loads(first_event(f"{url}/api/stream"))
    assert data["paper"]["account"]["signals"] == 3


def test_dashboard_without_a_database_says_so(tmp_path):
    app = create_app(DashboardConfig(db_url=f"sqlite:///{tmp_path / 'x.db'}", runs_dir=tmp_path))
    with serve(app) as url:
        snap = json.loads(get(f"{url}/api/snapshot").text)
        page = get(f"{url}/")
    assert snap["paper"] == {
        "ready": False,
        "reason": f"no portfolio database at {tmp_path / 'x.db'} yet",
    }
    assert not (tmp_path / "x.db").exists()
    assert page.status == 200 and 'id="equity"' in page.text


def test_dashboard_on_a_damaged_database_says_so_and_keeps_serving(tmp_path):
    damaged = tmp_path / "x.db"
    damaged.write_bytes(b"\x13 not a database " * 100)
    app = create_app(DashboardConfig(db_url=f"sqlite:///{damaged}", runs_dir=tmp_path))
    with serve(app) as url:
        response = get(f"{url}/api/snapshot")
        page = get(f"{url}/")
    assert response.status == 200
    paper = json.loads(response.text)["paper"]
    assert paper["ready"] is False and str(damaged) in paper["reason"]
    assert page.status == 200


def test_dashboard_token_is_required_and_accepted_three_ways(db_url, tmp_path):
    app = create_app(DashboardConfig(db_url=db_url, runs_dir=tmp_path, token=TOKEN))
    with serve(app) as url:
        assert get(f"{url}/").status == 401
        assert get(f"{url}/api/snapshot?token=wrong-token-000000").status == 401
        assert get(f"{url}/healthz").status == 200
        assert get(f"{url}/api/snapshot", {"Authorization": f"Bearer {TOKEN}"}).status == 200
        via_query = get(f"{url}/?token={TOKEN}")
        assert via_query.status == 200
        cookie = via_query.headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in via_query.headers["set-cookie"]
        assert get(f"{url}/api/snapshot", {"Cookie": cookie}).status == 200


def test_dashboard_refuses_a_public_bind_without_token(monkeypatch, capsys):
    monkeypatch.delenv("TRADESTREAM_DASHBOARD_TOKEN", raising=False)
    assert main(["dashboard", "--host", "0.0.0.0", "--no_kafka"]) == 2
    assert "refusing to bind 0.0.0.0 without a token" in capsys.readouterr().err
    assert main(["dashboard", "--token", "short", "--no_kafka"]) == 2
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
