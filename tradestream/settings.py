"""Environment configuration: the one place `TRADESTREAM_*` variables are read.

Pipeline flags live in each pipeline's `PipelineOptions`; their defaults come
from here, so the precedence is: command-line flag > environment > default.

    TRADESTREAM_STATE_DIR          where local state lives (Kafka data, JVM cache, logs)
    TRADESTREAM_JVM_CACHE_DIR      the Maven-resolved jars (default <state_dir>/jvm)
    TRADESTREAM_KAFKA_HOST         host the local broker binds to (default 127.0.0.1)
    TRADESTREAM_KAFKA_PORT         client port of the local broker (default 9092)
    TRADESTREAM_BOOTSTRAP_SERVERS  Kafka bootstrap servers for every client
                                   (default: the local broker)
    ...                            see `Settings` below for every field
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
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

    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_", extra="ignore", frozen=True)

    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Directory for local state: Kafka data and logs, the JVM jar cache.",
    )
    jvm_cache_dir: Path | None = Field(
        None,
        description="Cache of the Maven-resolved JVM toolchain (default: <state_dir>/jvm).",
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
    topic_partitions: int = Field(
        3, ge=1, le=1024, description="Partitions of the topics that `local up` creates."
    )
    trades_topic: str = Field("trades", min_length=1, description="Topic of protobuf Trades.")
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
        """Topics `tradestream local up` creates (strategies: the optimizer's results)."""
        return (self.trades_topic, self.signals_topic, self.dlq_topic, self.strategies_topic)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
