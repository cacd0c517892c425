"""Shared fixtures: the JVM cache, an isolated real Kafka broker, Flink runner arguments, and
the portfolio databases (`db_url`: SQLite and a real PostgreSQL; `postgres_server`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from tests.support.kafka import broker_settings
from tests.support.postgres import db_url, postgres_server  # noqa: F401 - pytest fixtures
from tradestream.local import kafka as local_kafka
from tradestream.runtime import jvm
from tradestream.settings import Settings, get_settings

# Property tests check values, not speed: on a loaded 2-core machine one example can take far
# longer than hypothesis's default 200 ms deadline, and generating data can trip its too_slow
# health check. Example counts stay hypothesis's default (100) unless a test sets its own.
hypothesis_settings.register_profile(
    "tradestream", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("tradestream")


@pytest.fixture(scope="session")
def jvm_dir() -> Path:
    """The project's JVM cache, fetched once if missing (Maven Central)."""
    settings = get_settings()
    jvm.fetch(settings, quiet=True)
    return settings.jvm_dir


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory, jvm_dir: Path) -> Iterator[Settings]:
    """A real single-node KRaft broker for the whole session, on free ports.

    Yields the Settings whose `bootstrap` points at it; the broker is stopped at the end.
    """
    settings = broker_settings(tmp_path_factory.mktemp("kafka-state"), jvm_dir)
    local_kafka.up(settings)
    try:
        yield settings
    finally:
        local_kafka.down(settings)
