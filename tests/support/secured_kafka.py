"""Test support: a local KRaft broker whose only client listener is SASL_SSL with SCRAM-SHA-512.

The test CA and the broker's certificate are made with openssl for each run; the SCRAM users
(the broker's own, for its inter-broker listener, and the client's) are created when the
storage is formatted (`kafka-storage format --add-scram`). Passwords are random per run, so
nothing secret is ever committed; tests use them to check that no log shows them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.kafka import free_port_pair
from tradestream.settings import Settings

MECHANISM = "SCRAM-SHA-512"
CLIENT_USER = "tradestream"
BROKER_USER = "broker"


@dataclass(frozen=True)
class TestPki:
    """PEM files of a throw-away CA and a broker certificate for 127.0.0.1/localhost."""

    ca_cert: Path
    broker_keystore: Path  # the broker's private key followed by its certificate


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed:\n{done.stderr}")


def make_pki(directory: Path) -> TestPki:
    """A CA and a CA-signed broker certificate (SAN: IP 127.0.0.1, DNS localhost)."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=TradeStream test CA", "-keyout", "ca.key", "-out", "ca.pem",
             cwd=directory)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
             "-keyout", "broker.key", "-out", "broker.csr", cwd=directory)  # fmt: skip
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "broker.crt",
             cwd=directory)  # fmt: skip
    keystore = directory / "broker-keystore.pem"
    keystore.write_text(
        (directory / "broker.key").read_text() + (directory / "broker.crt").read_text()
    )
    for private in ("ca.key", "broker.key", "broker-keystore.pem"):
        os.chmod(directory / private, 0o600)
    return TestPki(ca_cert=directory / "ca.pem", broker_keystore=keystore)


@dataclass(frozen=True)
class SecuredBroker:
    """How to start the broker (`server_properties`, `format_args`) and reach it (`settings`)."""

    settings: Settings  # client settings: SASL_SSL, SCRAM user, CA file
    server_properties: dict[str, str]
    format_args: tuple[str, ...]
    password: str  # the client's SCRAM password (tests check it never shows up in logs)

    def env(self, password: str | None = None) -> dict[str, str]:
        """`TRADESTREAM_*` variables that point a TradeStream process at this broker."""
        s = self.settings
        return {
            "TRADESTREAM_BOOTSTRAP_SERVERS": s.bootstrap,
            "TRADESTREAM_KAFKA_SECURITY_PROTOCOL": s.kafka_security_protocol,
            "TRADESTREAM_KAFKA_SASL_MECHANISM": s.kafka_sasl_mechanism,
            "TRADESTREAM_KAFKA_SASL_USERNAME": s.kafka_sasl_username or "",
            "TRADESTREAM_KAFKA_SASL_PASSWORD": self.password if password is None else password,
            "TRADESTREAM_KAFKA_SSL_CAFILE": str(s.kafka_ssl_cafile),
        }


def secured_broker(state_dir: Path, jvm_dir: Path, partitions: int = 3) -> SecuredBroker:
    """Certificates, credentials and settings of a SASL_SSL/SCRAM-SHA-512 broker on free ports."""
    pki = make_pki(state_dir / "pki")
    client_password = secrets.token_urlsafe(18)
    broker_password = secrets.token_urlsafe(18)
    port = free_port_pair()
    settings = Settings(
        state_dir=state_dir,
        jvm_cache_dir=jvm_dir,
        kafka_port=port,
        topic_partitions=partitions,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=MECHANISM,
        kafka_sasl_username=CLIENT_USER,
        kafka_sasl_password=client_password,
        kafka_ssl_cafile=pki.ca_cert,
    )
    host, cport = settings.kafka_host, settings.controller_port
    scram_login = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{BROKER_USER}" password="{broker_password}";'
    )
    server_properties = {
        "listeners": f"SASL_SSL://{host}:{port},CONTROLLER://{host}:{cport}",
        "advertised.listeners": f"SASL_SSL://{host}:{port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config": scram_login,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.broker_keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca_cert),
        "ssl.client.auth": "none",
    }
    format_args = tuple(
        arg
        for user, password in ((BROKER_USER, broker_password), (CLIENT_USER, client_password))
        for arg in ("--add-scram", f"{MECHANISM}=[name={user},password={password}]")
    )
    return SecuredBroker(settings, server_properties, format_args, client_password)
