"""Kafka client configuration from settings: one place for bootstrap servers and security.

Every kafka-python client TradeStream builds takes its options from `client_config` (or
`producer_config`), so TLS and SASL/SCRAM are configured once, by the `TRADESTREAM_KAFKA_*`
environment (see `tradestream.settings`). Secret values stay `SecretStr` until here, where they
are handed to the client and nowhere else: never logged, never put into pipeline options.
"""

from __future__ import annotations

from typing import Any

from tradestream.settings import Settings, get_settings


def client_config(settings: Settings, bootstrap: str | None = None) -> dict[str, Any]:
    """Options shared by kafka-python producers, consumers and admin clients.

    Args:
        settings: The environment settings (security protocol, SASL, TLS files).
        bootstrap: Bootstrap servers overriding `settings.bootstrap` (e.g. from a flag).

    Returns:
        Keyword arguments for `KafkaProducer`, `KafkaConsumer` or `KafkaAdminClient`.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": (bootstrap or settings.bootstrap).split(","),
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol.startswith("SASL_"):
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_sasl_username
        config["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_security_protocol.endswith("SSL"):
        config["ssl_check_hostname"] = settings.kafka_ssl_check_hostname
        for option, path in (
            ("ssl_cafile", settings.kafka_ssl_cafile),
            ("ssl_certfile", settings.kafka_ssl_certfile),
            ("ssl_keyfile", settings.kafka_ssl_keyfile),
        ):
            if path is not None:
                config[option] = str(path)
        if settings.kafka_ssl_key_password is not None:
            config["ssl_password"] = settings.kafka_ssl_key_password.get_secret_value()
    return config


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
