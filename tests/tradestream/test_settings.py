"""Environment settings: defaults, TRADESTREAM_* overrides, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tradestream.settings import Settings


def test_settings_defaults_point_at_local_broker(monkeypatch):
    for var in ("TRADESTREAM_BOOTSTRAP_SERVERS", "TRADESTREAM_KAFKA_PORT"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.bootstrap == "127.0.0.1:9092"
    assert s.controller_port == 9093
    assert s.local_topics == ("trades", "signals", "trades-dlq", "strategies")


def test_settings_env_overrides_port_and_bootstrap(monkeypatch, tmp_path):
    monkeypatch.setenv("TRADESTREAM_KAFKA_PORT", "19092")
    monkeypatch.setenv("TRADESTREAM_STATE_DIR", str(tmp_path))
    s = Settings()
    assert s.bootstrap == "127.0.0.1:19092"
    assert s.jvm_dir == tmp_path / "jvm"
    monkeypatch.setenv("TRADESTREAM_BOOTSTRAP_SERVERS", "kafka:9092")
    assert Settings().bootstrap == "kafka:9092"


def test_settings_rejects_out_of_range_port(monkeypatch):
    monkeypatch.setenv("TRADESTREAM_KAFKA_PORT", "70000")
    with pytest.raises(ValidationError):
        Settings()
