"""Settings -> librdkafka properties: bootstrap, TLS and SASL/SCRAM, secrets unwrapped only here."""

from __future__ import annotations

import logging
import time

import pytest

from tradestream.kafka_clients import config as kafka_config
from tradestream.kafka_clients.config import (
    client_config,
    consumer_config,
    env_client_config,
    producer_config,
)
from tradestream.settings import Settings, get_settings

# What every client gets besides bootstrap servers and security.
COMMON = {
    "reconnect.backoff.max.ms": 1000,
    "logger": logging.getLogger("tradestream.kafka.client"),
}


def test_client_config_plaintext_is_bootstrap_and_protocol_only(tmp_path):
    config = client_config(Settings(state_dir=tmp_path, bootstrap_servers="a:9092, b:9092"))
    assert config == {
        "bootstrap.servers": "a:9092,b:9092",
        "security.protocol": "PLAINTEXT",
        **COMMON,
    }


def test_client_config_explicit_bootstrap_overrides_the_settings(tmp_path):
    config = client_config(Settings(state_dir=tmp_path), "k1:9093")
    assert config["bootstrap.servers"] == "k1:9093"


def test_client_config_sasl_ssl_scram_maps_every_option(tmp_path):
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "client.pem", "client.key"))
    for path in (ca, cert, key):
        path.write_text("-")
    settings = Settings(
        state_dir=tmp_path,
        bootstrap_servers="kafka:9095",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="tradestream",
        kafka_sasl_password="pw-1",
        kafka_ssl_cafile=ca,
        kafka_ssl_certfile=cert,
        kafka_ssl_keyfile=key,
        kafka_ssl_key_password="key-pw",
        kafka_ssl_check_hostname=False,
    )
    assert client_config(settings) == {
        "bootstrap.servers": "kafka:9095",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "tradestream",
        "sasl.password": "pw-1",
        "ssl.endpoint.identification.algorithm": "none",
        "ssl.ca.location": str(ca),
        "ssl.certificate.location": str(cert),
        "ssl.key.location": str(key),
        "ssl.key.password": "key-pw",
        **COMMON,
    }


def test_client_config_sasl_plaintext_has_no_tls_options(tmp_path):
    settings = Settings(
        state_dir=tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    config = client_config(settings)
    assert config["sasl.mechanism"] == "PLAIN"
    assert not [k for k in config if k.startswith("ssl.")]


def test_client_config_ssl_without_cafile_uses_the_system_trust_store(tmp_path):
    config = client_config(Settings(state_dir=tmp_path, kafka_security_protocol="SSL"))
    assert config["security.protocol"] == "SSL" and "ssl.ca.location" not in config
    assert config["ssl.endpoint.identification.algorithm"] == "https"
    assert not [k for k in config if k.startswith("sasl.")]


def test_producer_config_keeps_security_and_idempotence(tmp_path):
    settings = Settings(
        state_dir=tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    config = producer_config(settings)
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert config["sasl.password"] == "p"
    # Keys land on the partitions the Java client chooses (and TradeStream always did).
    assert config["partitioner"] == "murmur2_random"


def test_consumer_config_never_commits_or_resets_on_its_own(tmp_path):
    base = client_config(Settings(state_dir=tmp_path))
    reader = consumer_config(base)
    assert reader["group.id"] == kafka_config.READER_GROUP
    assert reader["enable.auto.commit"] is False and reader["enable.auto.offset.store"] is False
    assert reader["auto.offset.reset"] == "error" and reader["check.crcs"] is True
    assert consumer_config(base, "realtime")["group.id"] == "realtime"
    assert base.items() <= reader.items()


def test_every_client_config_is_accepted_by_librdkafka(tmp_path):
    """The names and values are librdkafka's: a client builds from each config (no broker)."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient

    settings = Settings(
        state_dir=tmp_path,
        bootstrap_servers="127.0.0.1:1",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    base = client_config(settings)
    AdminClient(base)
    Consumer(consumer_config(base)).close()
    Producer(producer_config(settings)).flush(0)


def test_env_client_config_reads_the_worker_environment(monkeypatch, tmp_path):
    """What Beam workers do: the graph holds only bootstrap servers, the env the rest."""
    monkeypatch.setenv("TRADESTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("TRADESTREAM_KAFKA_SASL_USERNAME", "worker")
    monkeypatch.setenv("TRADESTREAM_KAFKA_SASL_PASSWORD", "from-the-env")
    checked = []
    monkeypatch.setattr(kafka_config, "verify_connection", lambda s, b: checked.append(b))
    get_settings.cache_clear()
    try:
        config = env_client_config("kafka:9092")
    finally:
        get_settings.cache_clear()
    assert config["sasl.username"] == "worker"
    assert config["sasl.password"] == "from-the-env"
    assert checked == ["kafka:9092"]


def test_verify_connection_skips_plaintext_and_checks_a_secured_protocol(tmp_path, monkeypatch):
    clients: list[dict] = []

    class RecordingAdminClient:
        """Stands in for the broker connection verify_connection opens (and asks for metadata)."""

        def __init__(self, config):
            clients.append(config)

        def list_topics(self, timeout):
            return None

    monkeypatch.setattr(kafka_config, "AdminClient", RecordingAdminClient)
    plain = Settings(state_dir=tmp_path, bootstrap_servers="127.0.0.1:1")
    assert kafka_config.verify_connection(plain) is None
    assert clients == []  # PLAINTEXT: no connection attempted
    secured = Settings(
        state_dir=tmp_path,
        bootstrap_servers="127.0.0.1:2",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="plaintext-test",
        kafka_sasl_password="p",
    )
    kafka_config.verify_connection(secured, timeout_s=2)
    assert [c["bootstrap.servers"] for c in clients] == ["127.0.0.1:2"]
    assert clients[0]["security.protocol"] == "SASL_PLAINTEXT"
    # Checked once per process: the second call opens no connection.
    kafka_config.verify_connection(secured, timeout_s=2)
    assert len(clients) == 1


def test_verify_connection_unreachable_secured_broker_is_a_clear_error(tmp_path):
    settings = Settings(
        state_dir=tmp_path,
        bootstrap_servers="127.0.0.1:1",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="u",
        kafka_sasl_password="never-shown",
    )
    with pytest.raises(kafka_config.KafkaSecurityError, match="cannot connect to Kafka") as e:
        kafka_config.verify_connection(settings, timeout_s=2)
    assert "never-shown" not in str(e.value)


def test_verify_connection_without_a_broker_gives_up_within_its_timeout(tmp_path):
    """librdkafka would retry forever: the check stops at `timeout_s` and says why."""
    settings = Settings(
        state_dir=tmp_path,
        bootstrap_servers="127.0.0.1:1",
        kafka_security_protocol="SSL",
    )
    started = time.monotonic()
    with pytest.raises(kafka_config.KafkaSecurityError, match="Connection refused"):
        kafka_config.verify_connection(settings, timeout_s=2)
    assert time.monotonic() - started < 10


def test_verify_connection_with_a_ca_file_that_is_no_certificate_names_the_file(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    settings = Settings(
        state_dir=tmp_path,
        bootstrap_servers="127.0.0.1:1",
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=ca,
    )
    with pytest.raises(kafka_config.KafkaSecurityError, match="ssl.ca.location failed"):
        kafka_config.verify_connection(settings, timeout_s=2)
