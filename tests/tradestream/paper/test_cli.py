"""`tradestream paper`: config precedence, status, reset-breaker (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.support.signals import event
from tradestream.cli import build_parser, main
from tradestream.ledger.store import PaperStore
from tradestream.paper.cli import build_config
from tradestream.paper.executor import ExecutorOptions
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine


def _args(*flags: str):
    return build_parser().parse_args(["paper", "run", *flags])


def test_paper_cli_flags_override_the_stored_config_and_keep_the_rest():
    stored = PortfolioConfig(fee=0.002, allow_short=True, strategies=("SMA_*",))
    config = build_config(
        _args("--fraction", "0.25", "--no_allow_short", "--symbol", "BTC-USD"), stored
    )
    assert config.fraction == 0.25 and config.allow_short is False
    assert config.symbols == ("BTC-USD",)
    assert config.fee == 0.002 and config.strategies == ("SMA_*",)  # kept from the database
    assert build_config(_args(), None) == PortfolioConfig()  # a new database: defaults
    weighted = build_config(_args("--aggregation", "vote", "--weight", "RSI*=2.5"), None)
    assert weighted.weights == (("RSI*", 2.5),)
    assert (
        build_config(_args("--stop", "atr", "--atr_interval", "5m"), None).atr_interval_ms
        == 300_000
    )


def test_paper_cli_status_prints_the_portfolio(db_url, capsys):
    assert main(["paper", "status", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "no portfolio" in out
    password = make_url(db_url).password
    assert not password or password not in out
    store = PaperStore(db_url)
    config = PortfolioConfig(fee=0.0)
    eng = PortfolioEngine(config)
    eng.on_signal(event("BUY", 100.0, 0), set())
    store.save(eng.state, eng.take_changes(), {}, config)
    store.close()
    assert main(["paper", "status", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "equity 10,000.00" in out and "BTC-USD" in out and "LONG" in out
    assert main(["paper", "status", "--db", db_url, "--json"]) == 0
    assert '"ready": true' in capsys.readouterr().out


def test_paper_cli_reset_breaker_leaves_a_request_for_the_executor(db_url, capsys):
    assert main(["paper", "reset-breaker", "--db", db_url]) == 0
    store = PaperStore(db_url)
    try:
        assert store.requested("reset_breaker")
    finally:
        store.close()


def test_paper_cli_database_defaults_to_sqlite_in_the_state_dir(monkeypatch, tmp_path):
    from tradestream.settings import Settings

    monkeypatch.delenv("TRADESTREAM_PAPER_DB_URL", raising=False)
    monkeypatch.setenv("TRADESTREAM_STATE_DIR", str(tmp_path))
    assert Settings().paper_db == f"sqlite:///{tmp_path / 'paper.db'}"
    monkeypatch.setenv("TRADESTREAM_PAPER_DB_URL", "postgresql://u@db/paper")
    assert Settings().paper_db == "postgresql://u@db/paper"


def test_paper_cli_on_topic_reset_defaults_to_fail_and_refuses_other_policies(capsys):
    assert _args().on_topic_reset == "fail"
    assert _args("--on_topic_reset", "start_over").on_topic_reset == "start_over"
    with pytest.raises(SystemExit) as raised:
        _args("--on_topic_reset", "latest")
    assert raised.value.code == 2
    assert "invalid choice: 'latest'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="on_topic_reset"):
        ExecutorOptions(bootstrap="localhost:9092", on_topic_reset="skip")
