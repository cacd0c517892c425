"""`tradestream local ...`: the JVM toolchain cache, the local Kafka broker and, with
`local up --postgres`, a local PostgreSQL server for the paper executor's state."""

from __future__ import annotations

import argparse

from tradestream.cli_types import hidden_alias, listen_port, positive_int
from tradestream.local import kafka, postgres
from tradestream.runtime import jvm
from tradestream.settings import Settings, get_settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    local = subparsers.add_parser(
        "local",
        help="local runtime: JVM toolchain cache and a single-node KRaft Kafka broker",
        description=(
            "Manage the local runtime. State (Kafka data and logs, the JVM jar cache) lives in "
            "TRADESTREAM_STATE_DIR (default: .local/ of the source checkout)."
        ),
    )
    sub = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")

    fetch = sub.add_parser(
        "fetch",
        help="resolve the Kafka broker and Beam/Flink jars from Maven Central into the cache",
    )
    fetch.add_argument("--force", action="store_true", help="fetch again even if cached")
    fetch.set_defaults(handler=_fetch)

    up = sub.add_parser(
        "up",
        help="start Kafka on 127.0.0.1 and create the trades, signals and trades-dlq topics",
        description=(
            "Start a single-node KRaft Kafka broker in the background, wait until it accepts "
            "clients and create the topics. Running it again while the broker is up only makes "
            "sure the topics exist."
        ),
    )
    up.add_argument(
        "--port", type=listen_port, help="client port (default 9092, TRADESTREAM_KAFKA_PORT)"
    )
    up.add_argument(
        "--controller_port", type=listen_port, help="KRaft controller port (default port+1)"
    )
    hidden_alias(up, "--controller-port", "--controller_port")
    up.add_argument(
        "--partitions", type=positive_int, help="partitions per created topic (default 3)"
    )
    up.add_argument(
        "--postgres",
        action="store_true",
        help="also start a PostgreSQL server (Debian's `postgresql` package) on 127.0.0.1 "
        "with a database `paper`, and print the --db URL of `tradestream paper run` for it",
    )
    up.add_argument(
        "--postgres_port",
        type=listen_port,
        default=postgres.DEFAULT_PORT,
        help=f"port of that server (default {postgres.DEFAULT_PORT})",
    )
    up.set_defaults(handler=_up)

    down = sub.add_parser("down", help="stop the local Kafka broker (and PostgreSQL server)")
    down.set_defaults(handler=_down)

    status = sub.add_parser(
        "status", help="report the broker and its topics (exit 0 healthy, 1 otherwise)"
    )
    status.set_defaults(handler=_status)


def _settings(args: argparse.Namespace) -> Settings:
    base = get_settings()
    overrides = {}
    if getattr(args, "port", None):
        overrides["kafka_port"] = args.port
    if getattr(args, "controller_port", None):
        overrides["kafka_controller_port"] = args.controller_port
    if getattr(args, "partitions", None):
        overrides["topic_partitions"] = args.partitions
    if not overrides:
        return base
    # Validate the overrides with the same field constraints as the environment.
    return Settings(**{**{f: getattr(base, f) for f in Settings.model_fields}, **overrides})


def _fetch(args: argparse.Namespace) -> int:
    layout = jvm.fetch(_settings(args), force=args.force)
    print(f"[local] job server: {layout.job_server_jar}")
    print(f"[local] expansion service: {layout.expansion_service_jar}")
    return 0


def _postgres_dir(settings: Settings):
    return settings.state_dir / "postgres"


def _postgres_bin(settings: Settings, required: bool = True):
    """The configured PostgreSQL binaries (None: found when needed)."""
    if settings.postgres_bin_dir is None:
        return None
    if not required and not (settings.postgres_bin_dir / "pg_ctl").is_file():
        return None  # `local down` stops the server by signal then
    return postgres.find_bin_dir(settings.postgres_bin_dir)


def _up(args: argparse.Namespace) -> int:
    settings = _settings(args)
    kafka.up(settings)
    if args.postgres:
        info = postgres.up(
            _postgres_dir(settings), args.postgres_port, bin_dir=_postgres_bin(settings)
        )
        print(f"[local] paper executor on PostgreSQL: tradestream paper run --db {info.url()}")
    return 0


def _down(args: argparse.Namespace) -> int:
    settings = _settings(args)
    kafka.down(settings)
    postgres.down(_postgres_dir(settings), _postgres_bin(settings, required=False))
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    healthy, report = kafka.status(settings)
    print(report)
    info = postgres.running_server(_postgres_dir(settings))
    if info is not None:
        print(f"PostgreSQL: running, pid {info.pid}, --db {info.url()}")
    return 0 if healthy else 1
