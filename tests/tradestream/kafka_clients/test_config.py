"""Settings -> kafka-python options: bootstrap, TLS and SASL/SCRAM, secrets unwrapped only here."""

from __future__ import annotations

import pytest

from tradestream.kafka_clients import config as kafka_config
from tradestream.kafka_clients.config import client_config, env_client_config, producer_config
from tradestream.settings import Settings, get_settings


def test_client_config_plaintext_is_bootstrap_and_protocol_only(tmp_path):
    config = client_config(Settings(state_dir=tmp_path, bootstrap_servers="a:9092,b:9092"))
    assert config == {"bootstrap_servers": ["a:9092", "b:9092"], "security_protocol": "PLAINTEXT"}


def test_client_config_explicit_bootstrap_overrides_the_settings(tmp_path):
    config = client_config(Settings(state_dir=tmp_path), "k1:9093")
    assert config["bootstrap_servers"] == ["k1:9093"]


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
        "bootstrap_servers": ["kafka:9095"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "tradestream",
        "sasl_plain_password": "pw-1",
        "ssl_check_hostname": False,
        "ssl_cafile": str(ca),
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
        "ssl_password": "key-pw",
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
    assert config["sasl_mechanism"] == "PLAIN"
    assert not [k for k in config if k.startswith("ssl_")]


def test_client_config_ssl_without_cafile_uses_the_system_trust_store(tmp_path):
    config = client_config(Settings(state_dir=tmp_path, kafka_security_protocol="SSL"))
    assert config["security_protocol"] == "SSL" and "ssl_cafile" not in config
    assert config["ssl_check_hostname"] is True
    assert not [k for k in config if k.startswith("sasl_")]


def test_producer_config_keeps_security_and_idempotence(tmp_path):
    settings = Settings(
        state_dir=tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    config = producer_config(settings)
    assert config["enable_idempotence"] is True and config["acks"] == "all"
    assert config["sasl_plain_password"] == "p"


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
    assert config["sasl_plain_username"] == "worker"
    assert config["sasl_plain_password"] == "from-the-env"
    assert checked == ["kafka:9092"]


def test_verify_connection_skips_plaintext_and_checks_a_secured_protocol(tmp_path, monkeypatch):
    import kafka.admin

    clients: list[dict] = []

    class RecordingAdminClient:
        """Stands in for the broker connection verify_connection opens (and closes)."""

        def __init__(self, **config):
            clients.append(config)

        def close(self):
            pass

    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", RecordingAdminClient)
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
    assert [c["bootstrap_servers"] for c in clients] == [["127.0.0.1:2"]]
    assert clients[0]["security_protocol"] == "SASL_PLAINTEXT"


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
