"""Live counters of an ingest process: in the log every N seconds, and as Prometheus text.

`IngestMetrics` is written by the ingest loop (one thread) and read by the reporter and the
HTTP endpoint; every update is a single dict or int operation under the GIL and readers take
copies, so no lock is needed on the hot path.

`MetricsServer` serves the counters on `GET /metrics` in the Prometheus text format (0.0.4)
with the standard library's HTTP server, and `GET /healthz` for liveness probes:

    tradestream ingest --source=coinbase --products BTC-USD --metrics_port 9464
    curl -s localhost:9464/metrics | grep tradestream_ingest_trades_total
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "tradestream_ingest"


@dataclass
class IngestMetrics:
    """Counters since start; `connections` is a gauge of open exchange connections."""

    trades: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)  # by reason
    dead_letters: int = 0
    reconnects: int = 0
    failed_connects: int = 0  # attempts (first or re-) that never got subscribed
    silent_connections: int = 0
    heartbeats: int = 0
    heartbeat_gaps: int = 0
    sequence_gaps: int = 0
    exchange_errors: int = 0
    handler_errors: int = 0
    connections: int = 0
    connections_wanted: int = 0
    kafka_errors: Callable[[], int] = field(default=lambda: 0)
    rates: dict[str, float] = field(default_factory=dict)  # trades/s over the last interval
    started: float = field(default_factory=time.monotonic)

    def trade(self, symbol: str) -> None:
        self.trades[symbol] = self.trades.get(symbol, 0) + 1

    def duplicate(self, symbol: str) -> None:
        self.duplicates[symbol] = self.duplicates.get(symbol, 0) + 1

    def bad_message(self, reason: str) -> None:
        self.malformed[reason] = self.malformed.get(reason, 0) + 1

    @property
    def total_trades(self) -> int:
        return sum(self.trades.values())

    @property
    def total_duplicates(self) -> int:
        return sum(self.duplicates.values())

    @property
    def total_malformed(self) -> int:
        return sum(self.malformed.values())

    def render_prometheus(self) -> str:
        """The counters in the Prometheus text exposition format."""
        out: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {PREFIX}_{name} {help_text}")
            out.append(f"# TYPE {PREFIX}_{name} {kind}")
            for labels, value in samples:
                out.append(f"{PREFIX}_{name}{labels} {_number(value)}")

        family(
            "trades_total",
            "counter",
            "Trades produced to Kafka, per symbol.",
            _labelled("symbol", dict(self.trades)),
        )
        family(
            "trades_per_second",
            "gauge",
            "Trades per second per symbol over the last reporting interval.",
            _labelled("symbol", dict(self.rates)),
        )
        family(
            "duplicates_total",
            "counter",
            "Trades dropped as duplicates of (symbol, trade_id), per symbol.",
            _labelled("symbol", dict(self.duplicates)),
        )
        family(
            "malformed_total",
            "counter",
            "Messages or trades that could not be used (dead-lettered), per reason.",
            _labelled("reason", dict(self.malformed)),
        )
        scalars = [
            (
                "dead_letters_total",
                "counter",
                "Records sent to the dead-letter topic.",
                self.dead_letters,
            ),
            ("reconnects_total", "counter", "Exchange reconnections.", self.reconnects),
            (
                "failed_connects_total",
                "counter",
                "Connection attempts that failed before subscribing (refused, timed out, "
                "handshake error).",
                self.failed_connects,
            ),
            (
                "silent_connections_total",
                "counter",
                "Connections dropped for silence.",
                self.silent_connections,
            ),
            ("heartbeats_total", "counter", "Heartbeat messages received.", self.heartbeats),
            (
                "heartbeat_gaps_total",
                "counter",
                "Jumps in heartbeat_counter (missed messages).",
                self.heartbeat_gaps,
            ),
            (
                "sequence_gaps_total",
                "counter",
                "Jumps in a connection's sequence_num.",
                self.sequence_gaps,
            ),
            (
                "exchange_errors_total",
                "counter",
                "Error messages sent by the exchange.",
                self.exchange_errors,
            ),
            (
                "handler_errors_total",
                "counter",
                "Unexpected errors while handling a message.",
                self.handler_errors,
            ),
            (
                "kafka_errors_total",
                "counter",
                "Records Kafka failed to acknowledge.",
                self.kafka_errors(),
            ),
            ("connections", "gauge", "Open exchange connections.", self.connections),
            (
                "connections_wanted",
                "gauge",
                "Exchange connections configured.",
                self.connections_wanted,
            ),
            (
                "uptime_seconds",
                "gauge",
                "Seconds since the ingest started.",
                time.monotonic() - self.started,
            ),
        ]
        for name, kind, help_text, value in scalars:
            family(name, kind, help_text, [("", value)])
        return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labelled(label: str, values: dict[str, float]) -> list[tuple[str, float]]:
    return [(f'{{{label}="{_escape(k)}"}}', v) for k, v in sorted(values.items())]


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.6g}"


class RateTracker:
    """Turns the per-symbol trade counters into trades/s between two calls of `tick`."""

    def __init__(self, metrics: IngestMetrics) -> None:
        self.metrics = metrics
        self._last = dict(metrics.trades)
        self._last_time = time.monotonic()

    def tick(self) -> dict[str, float]:
        now = time.monotonic()
        counts = dict(self.metrics.trades)
        elapsed = max(now - self._last_time, 1e-9)
        rates = {s: (n - self._last.get(s, 0)) / elapsed for s, n in counts.items()}
        self._last, self._last_time = counts, now
        self.metrics.rates = rates
        return rates


def summary_line(metrics: IngestMetrics, rates: dict[str, float]) -> str:
    """One log line: per-symbol trades/s, then the health counters."""
    per_symbol = " ".join(f"{s}={r:,.1f}/s" for s, r in sorted(rates.items())) or "no trades yet"
    return (
        f"{per_symbol} | trades {metrics.total_trades} | connections "
        f"{metrics.connections}/{metrics.connections_wanted} | reconnects {metrics.reconnects} "
        f"(silent {metrics.silent_connections}) | failed connects {metrics.failed_connects} | "
        f"duplicates {metrics.total_duplicates} | "
        f"malformed {metrics.total_malformed} | dead letters {metrics.dead_letters} | "
        f"kafka errors {metrics.kafka_errors()}"
    )


class _Handler(BaseHTTPRequestHandler):
    metrics: IngestMetrics  # set on the subclass made per server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body = self.metrics.render_prometheus().encode()
            content_type = "text/plain; version=0.0.4; charset=utf-8"
            status = 200
        elif path == "/healthz":
            body, content_type, status = b"ok\n", "text/plain; charset=utf-8", 200
        else:
            body, content_type, status = b"not found\n", "text/plain; charset=utf-8", 404
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # scrapes every few seconds would drown the ingest log


class MetricsServer:
    """`GET /metrics` (Prometheus text) and `GET /healthz` on a background thread.

    Args:
        metrics: the counters to serve.
        port: TCP port (0: any free port; see `.port`).
        host: address to bind; 127.0.0.1 by default, 0.0.0.0 in a pod that is scraped.
    """

    def __init__(self, metrics: IngestMetrics, port: int, host: str = "127.0.0.1") -> None:
        handler = type("MetricsHandler", (_Handler,), {"metrics": metrics})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ingest-metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
