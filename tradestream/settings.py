"""Environment configuration: the one place `TRADESTREAM_*` variables are read.

Pipeline flags live in each pipeline's `PipelineOptions`; their defaults come
from here, so the precedence is: command-line flag > environment > default.

    TRADESTREAM_STATE_DIR          where local state lives (Kafka data, JVM cache, logs)
    TRADESTREAM_JVM_CACHE_DIR      the Maven-resolved jars (default <state_dir>/jvm)
    TRADESTREAM_KAFKA_HOST         host the local broker binds to (default 127.0.0.1)
    TRADESTREAM_KAFKA_PORT         client port of the local broker (default 9092)
    TRADESTREAM_BOOTSTRAP_SERVERS  Kafka bootstrap servers for every client
                                   (default: the local broker)
    TRADESTREAM_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, _SASL_USERNAME, _SASL_PASSWORD,
    TRADESTREAM_KAFKA_SSL_CAFILE, _SSL_CERTFILE, _SSL_KEYFILE, _SSL_KEY_PASSWORD,
    TRADESTREAM_KAFKA_SSL_CHECK_HOSTNAME
                                   how every Kafka client connects (TLS, SASL/SCRAM);
                                   passwords are `SecretStr`: masked in repr and logs
    ...                            see `Settings` below for every field
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PACKAGE_DIR = Path(__file__).resolve().parent


def _default_state_dir() -> Path:
    """`.local/` of the source checkout when running from one, else a per-user directory."""
    repo = _PACKAGE_DIR.parent
    if (repo / "pyproject.toml").is_file() and (repo / "protos").is_dir():
        return repo / ".local"
    return Path.home() / ".local" / "share" / "tradestream"


def repo_root() -> Path | None:
    """The source checkout this package runs from, if any (for scripts/jvm poms)."""
    repo = _PACKAGE_DIR.parent
    return repo if (repo / "scripts" / "jvm").is_dir() else None


class Settings(BaseSettings):
    """TradeStream's environment settings (prefix `TRADESTREAM_`)."""

    # hide_input_in_errors: a validation error must not echo the input, which holds secrets.
    model_config = SettingsConfigDict(
        env_prefix="TRADESTREAM_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Directory for local state: Kafka data and logs, the JVM jar cache.",
    )
    jvm_cache_dir: Path | None = Field(
        None,
        description="Cache of the Maven-resolved JVM toolchain (default: <state_dir>/jvm).",
    )
    postgres_bin_dir: Path | None = Field(
        None,
        description="PostgreSQL's initdb and pg_ctl for `local up --postgres` (default: the "
        "newest /usr/lib/postgresql/<version>/bin, else PATH).",
    )
    kafka_host: str = Field("127.0.0.1", description="Address the local Kafka broker binds to.")
    kafka_port: int = Field(9092, ge=1, le=65535, description="Client port of the local broker.")
    kafka_controller_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="KRaft controller port of the local broker (default: client port + 1).",
    )
    kafka_heap: str = Field("512m", description="JVM heap (-Xmx) of the local broker.")
    bootstrap_servers: str | None = Field(
        None,
        description="Kafka bootstrap servers used by every client; default: the local broker.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How Kafka clients connect: TLS (SSL), SASL, both, or neither."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism (with a SASL_* security protocol)."
    )
    kafka_sasl_username: str | None = Field(
        None, min_length=1, description="SASL user name (required with a SASL_* protocol)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (required with a SASL_* protocol); from a Secret."
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the brokers' certificates "
        "(default: the system's trusted CAs).",
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate, for brokers that require mutual TLS."
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="PEM private key of the client certificate (if not in the certfile)."
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of an encrypted client private key."
    )
    kafka_ssl_check_hostname: bool = Field(
        True, description="Check that a broker's certificate names the host connected to."
    )
    topic_partitions: int = Field(
        3, ge=1, le=1024, description="Partitions of the topics that `local up` creates."
    )
    trades_topic: str = Field("trades", min_length=1, description="Topic of protobuf Trades.")
    book_topic: str = Field(
        "book", min_length=1, description="Topic of protobuf BookUpdates (level-2 order books)."
    )
    signals_topic: str = Field("signals", min_length=1, description="Topic of protobuf Signals.")
    dlq_topic: str = Field(
        "trades-dlq", min_length=1, description="Dead-letter topic of rejected trades."
    )
    strategies_topic: str = Field(
        "strategies", min_length=1, description="Topic of optimizer results (StrategySet)."
    )
    maven: str = Field("mvn", description="Maven executable used to fetch the JVM toolchain.")
    paper_db_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the paper executor's database "
        "(default: sqlite:///<state_dir>/paper.db).",
    )
    dashboard_host: str = Field("127.0.0.1", description="Address `tradestream dashboard` binds.")
    dashboard_port: int = Field(8765, ge=1, le=65535, description="Port of the dashboard.")
    dashboard_token: SecretStr | None = Field(
        None, description="Access token of the dashboard (required when not bound to loopback)."
    )

    @field_validator("state_dir", "jvm_cache_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile")
    @classmethod
    def _readable_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        value = value.expanduser().resolve()
        if not value.is_file():
            var = f"TRADESTREAM_{info.field_name.upper()}"
            raise ValueError(f"{var}={value}: no such file")
        return value

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> Settings:
        protocol = self.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        if sasl and (not self.kafka_sasl_username or self.kafka_sasl_password is None):
            raise ValueError(
                f"TRADESTREAM_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                "TRADESTREAM_KAFKA_SASL_USERNAME and TRADESTREAM_KAFKA_SASL_PASSWORD"
            )
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password is not None):
            # Credentials that would silently go unused are a misconfiguration.
            raise ValueError(
                "TRADESTREAM_KAFKA_SASL_USERNAME/PASSWORD are set but "
                f"TRADESTREAM_KAFKA_SECURITY_PROTOCOL={protocol} does not use SASL "
                "(use SASL_SSL)"
            )
        tls_files = (self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        if not protocol.endswith("SSL") and any(f is not None for f in tls_files):
            raise ValueError(
                "TRADESTREAM_KAFKA_SSL_* files are set but "
                f"TRADESTREAM_KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS "
                "(use SSL or SASL_SSL)"
            )
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ValueError("TRADESTREAM_KAFKA_SSL_KEYFILE needs TRADESTREAM_KAFKA_SSL_CERTFILE")
        return self

    @property
    def controller_port(self) -> int:
        return self.kafka_controller_port or self.kafka_port + 1

    @property
    def bootstrap(self) -> str:
        """Bootstrap servers for clients: explicit setting, else the local broker."""
        return self.bootstrap_servers or f"{self.kafka_host}:{self.kafka_port}"

    @property
    def jvm_dir(self) -> Path:
        return self.jvm_cache_dir or self.state_dir / "jvm"

    @property
    def paper_db(self) -> str:
        """The paper executor's database URL: explicit setting, else a SQLite file."""
        return self.paper_db_url or f"sqlite:///{self.state_dir / 'paper.db'}"

    @property
    def local_topics(self) -> tuple[str, ...]:
        """Topics `tradestream local up` creates (strategies: the optimizer's results; book:
        level-2 order book updates)."""
        return (
            self.trades_topic,
            self.signals_topic,
            self.dlq_topic,
            self.strategies_topic,
            self.book_topic,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
