"""Kafka client configuration from settings: one place for bootstrap servers and security."""

from __future__ import annotations

from typing import Any

from tradestream.settings import Settings, get_settings


def client_config(settings: Settings, bootstrap: str | None = None) -> dict[str, Any]:
    """Options shared by kafka-python producers, consumers and admin clients."""
    return {"bootstrap_servers": (bootstrap or settings.bootstrap).split(",")}


def env_client_config(bootstrap: str | None = None) -> dict[str, Any]:
    """`client_config` from this process's environment, for code running on Beam workers.

    Transforms carry only the bootstrap servers in the pipeline graph; credentials are read
    here, on the worker, when a client is built, so they are never pickled, sent to the
    runner or logged with the pipeline options.
    """
    return client_config(get_settings(), bootstrap)


def producer_config(settings: Settings, bootstrap: str | None = None) -> dict[str, Any]:
    """An idempotent producer (acks=all) batching for throughput with low latency."""
    return {
        **client_config(settings, bootstrap),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_in_flight_requests_per_connection": 5,
        "retries": 2_147_483_647,
    }
