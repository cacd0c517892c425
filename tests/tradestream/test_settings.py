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
    assert s.local_topics == ("trades", "signals", "trades-dlq", "strategies", "book")


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


# --- Kafka security -------------------------------------------------------------------------


def _clear_kafka_security_env(monkeypatch):
    for var in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD",
                "SSL_CAFILE", "SSL_CERTFILE", "SSL_KEYFILE", "SSL_KEY_PASSWORD",
                "SSL_CHECK_HOSTNAME"):  # fmt: skip
        monkeypatch.delenv(f"TRADESTREAM_KAFKA_{var}", raising=False)


def test_settings_kafka_security_defaults_to_plaintext_without_credentials(monkeypatch):
    _clear_kafka_security_env(monkeypatch)
    s = Settings()
    assert s.kafka_security_protocol == "PLAINTEXT"
    assert s.kafka_sasl_password is None and s.kafka_ssl_cafile is None


def test_settings_sasl_scram_from_env_keeps_the_password_out_of_repr(monkeypatch, tmp_path):
    _clear_kafka_security_env(monkeypatch)
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    monkeypatch.setenv("TRADESTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TRADESTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("TRADESTREAM_KAFKA_SASL_USERNAME", "svc-tradestream")
    monkeypatch.setenv("TRADESTREAM_KAFKA_SASL_PASSWORD", "s3cret-Value-42")
    monkeypatch.setenv("TRADESTREAM_KAFKA_SSL_CAFILE", str(ca))
    s = Settings()
    assert s.kafka_sasl_mechanism == "SCRAM-SHA-256"
    assert s.kafka_sasl_password.get_secret_value() == "s3cret-Value-42"
    assert s.kafka_ssl_cafile == ca
    for shown in (repr(s), str(s), s.model_dump_json(), str(s.model_dump())):
        assert "s3cret-Value-42" not in shown


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECURITY_PROTOCOL": "SASL_SSL"}, "needs TRADESTREAM_KAFKA_SASL_USERNAME and"),
        ({"SECURITY_PROTOCOL": "SASL_PLAINTEXT", "SASL_USERNAME": "u"}, "SASL_PASSWORD"),
        ({"SASL_USERNAME": "u", "SASL_PASSWORD": "p"}, "does not use SASL (use SASL_SSL)"),
        ({"SECURITY_PROTOCOL": "SSL", "SSL_CAFILE": "/nonexistent/ca.pem"},
         "TRADESTREAM_KAFKA_SSL_CAFILE=/nonexistent/ca.pem: no such file"),
        ({"SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "GSSAPI", "SASL_USERNAME": "u",
          "SASL_PASSWORD": "p"}, "SCRAM-SHA-512"),
        ({"SECURITY_PROTOCOL": "TLS"}, "SASL_SSL"),
    ],
)  # fmt: skip
def test_settings_incomplete_kafka_security_is_rejected_with_a_clear_error(
    monkeypatch, env, message
):
    _clear_kafka_security_env(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(f"TRADESTREAM_KAFKA_{name}", value)
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings()


def test_settings_tls_files_need_a_tls_protocol_and_a_keyfile_needs_a_certfile(tmp_path):
    pem = tmp_path / "x.pem"
    pem.write_text("-")
    with pytest.raises(ValidationError, match="does not use TLS"):
        Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u",
                 kafka_sasl_password="p", kafka_ssl_cafile=pem)  # fmt: skip
    with pytest.raises(ValidationError, match="KEYFILE needs TRADESTREAM_KAFKA_SSL_CERTFILE"):
        Settings(kafka_security_protocol="SSL", kafka_ssl_keyfile=pem)


def test_settings_validation_error_does_not_echo_the_password(monkeypatch):
    _clear_kafka_security_env(monkeypatch)
    with pytest.raises(ValidationError) as raised:
        Settings(kafka_security_protocol="SSL", kafka_sasl_username="u",
                 kafka_sasl_password="s3cret-Value-42")  # fmt: skip
    assert "s3cret-Value-42" not in str(raised.value)
