"""Shared fixtures: the JVM cache, an isolated real Kafka broker, Flink runner arguments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kafka import broker_settings
from tradestream.local import kafka as local_kafka
from tradestream.runtime import jvm
from tradestream.settings import Settings, get_settings


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
