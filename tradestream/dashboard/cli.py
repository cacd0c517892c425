"""`tradestream dashboard`: serve the live page and the runs page.

    tradestream dashboard                                    http://127.0.0.1:8765/
    tradestream dashboard --runs_dir out/ --port 8080
    TRADESTREAM_DASHBOARD_TOKEN=... tradestream dashboard --host 0.0.0.0
        then open http://HOST:8765/?token=...

Bound to 127.0.0.1 by default. Binding any other address needs a token (`--token` or
TRADESTREAM_DASHBOARD_TOKEN, 16+ characters of [A-Za-z0-9._~-]); it refuses to start
without one. The address is bound before anything is announced: a port in use is one line
on stderr and exit 2; `--port 0` takes a free port and announces it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import re
import signal
import socket
import sys
from pathlib import Path

from tradestream.cli_types import port, positive_float
from tradestream.settings import get_settings

_TOKEN = re.compile(r"^[A-Za-z0-9._~-]{16,}$")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    p = subparsers.add_parser(
        "dashboard",
        help="a local web page: signals, positions, equity, fills, risk, pipeline health, runs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default=s.dashboard_host, help=f"bind address ({s.dashboard_host})")
    p.add_argument("--port", type=port, default=s.dashboard_port, help=f"port ({s.dashboard_port})")
    p.add_argument(
        "--token",
        default=None,
        help="access token (default TRADESTREAM_DASHBOARD_TOKEN; required off loopback)",
    )
    p.add_argument("--db", default=s.paper_db, help=f"paper portfolio database ({s.paper_db})")
    p.add_argument(
        "--runs_dir",
        type=Path,
        default=Path("."),
        help="directory holding backtest/optimizer output dirs (default: current directory)",
    )
    p.add_argument("--bootstrap_servers", default=s.bootstrap, help="Kafka bootstrap servers")
    p.add_argument("--trades_topic", default=s.trades_topic, help="topic the realtime job reads")
    p.add_argument("--signals_topic", default=s.signals_topic, help="topic the executor reads")
    p.add_argument("--dlq_topic", default=s.dlq_topic, help="dead-letter topic")
    p.add_argument(
        "--realtime_group", default="tradestream-realtime", help="the realtime job's group"
    )
    p.add_argument("--paper_group", default="tradestream-paper", help="the executor's group")
    p.add_argument("--no_kafka", action="store_true", help="do not monitor Kafka (no health panel)")
    p.add_argument(
        "--refresh", type=positive_float, default=1.0, help="seconds between page updates (1)"
    )
    p.add_argument(
        "--health_every", type=positive_float, default=5.0, help="seconds between Kafka checks"
    )
    p.set_defaults(handler=run_dashboard)


def _server(config, stopping):
    """A uvicorn Server that stops on SIGTERM/SIGINT and returns (uvicorn's own re-raises the
    signal after shutdown, which would skip our cleanup and exit with -15)."""
    import uvicorn

    class Server(uvicorn.Server):
        stopped_by: int | None = None

        @contextlib.contextmanager
        def capture_signals(self):
            def stop(sig, _frame) -> None:
                if self.should_exit and sig == signal.SIGINT:
                    self.force_exit = True
                self.stopped_by = sig
                self.should_exit = True
                stopping.set()

            previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)

    return Server(config)


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on (host, port), as uvicorn would bind it, for
    `Server.run(sockets=)`. Listening before the page is announced means a browser opened at
    once waits in the backlog instead of being refused.

    Raises:
        OSError: the address is in use, not local, or the host does not resolve.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's default backlog
    except BaseException:
        sock.close()
        raise
    return sock


def run_dashboard(args: argparse.Namespace) -> int:
    import uvicorn

    from tradestream.dashboard.app import DashboardConfig, create_app
    from tradestream.dashboard.auth import is_loopback
    from tradestream.dashboard.health import HealthTargets, KafkaHealth

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    secret = get_settings().dashboard_token
    token = args.token or (secret.get_secret_value() if secret is not None else None)
    if token is not None and not _TOKEN.match(token):
        print(
            "tradestream dashboard: error: the token needs 16+ characters of [A-Za-z0-9._~-]",
            file=sys.stderr,
        )
        return 2
    if not is_loopback(args.host) and token is None:
        print(
            f"tradestream dashboard: error: refusing to bind {args.host} without a token "
            "(--token or TRADESTREAM_DASHBOARD_TOKEN); 127.0.0.1 needs none",
            file=sys.stderr,
        )
        return 2
    try:  # before anything is started or announced
        sock = _listen(args.host, args.port)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            why = f"{why} (another dashboard? choose another --port)"
        print(
            f"tradestream dashboard: error: cannot listen on {args.host}:{args.port}: {why}",
            file=sys.stderr,
        )
        return 2
    health = None
    if not args.no_kafka:
        health = KafkaHealth(
            HealthTargets(
                bootstrap=args.bootstrap_servers,
                groups=(
                    ("realtime", args.realtime_group, args.trades_topic),
                    ("paper", args.paper_group, args.signals_topic),
                ),
                dlq_topic=args.dlq_topic,
                signals_topic=args.signals_topic,
            ),
            every_s=args.health_every,
        )
        health.start()
    config = DashboardConfig(
        db_url=args.db, runs_dir=args.runs_dir, token=token, refresh_s=args.refresh
    )
    app = create_app(config, health)
    server = _server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            timeout_graceful_shutdown=3,
        ),
        app.state.stopping,
    )
    shown = "localhost" if is_loopback(args.host) else args.host
    port = sock.getsockname()[1]
    print(f"dashboard on http://{shown}:{port}/ (runs from {args.runs_dir.resolve()})", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if health is not None:
            health.stop()
        app.state.source.close()
    return 130 if server.stopped_by == signal.SIGINT else 0
