"""Live counters of a level-2 book ingest: the summary log line and Prometheus text.

The same rules as `metrics.py` (one writer thread, readers take copies); `MetricsServer`
serves these too (`tradestream_ingest_book_*`). Every record the stream reads is counted in
exactly one of `updates` (sent), `dead_lettered`, `skipped` or `control`, so

    records == sum(updates) + sum(dead_lettered) + sum(skipped) + control
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tradestream.exchanges.coinbase import HEARTBEATS
from tradestream.exchanges.order_book import FrameOutcome
from tradestream.ingest.metrics import PREFIX, _labelled, _number


def _add(counts: dict[str, int], key: str, n: int = 1) -> None:
    counts[key] = counts.get(key, 0) + n


@dataclass
class BookMetrics:
    """Counters since start; `connections` is a gauge of open exchange connections."""

    records: int = 0
    updates: dict[str, int] = field(default_factory=dict)  # BookUpdates sent, per symbol
    snapshots: dict[str, int] = field(default_factory=dict)  # of which snapshots
    dead_lettered: dict[str, int] = field(default_factory=dict)  # records, per reason
    skipped: dict[str, int] = field(default_factory=dict)  # records, per reason
    control: int = 0  # heartbeats and subscription acknowledgements
    heartbeats: int = 0
    sequence_gaps: int = 0
    missed_messages: int = 0
    resubscribes: int = 0  # re-subscription requests sent (each for one or more products)
    reconnects: int = 0
    failed_connects: int = 0
    silent_connections: int = 0
    exchange_errors: int = 0
    handler_errors: int = 0
    connections: int = 0
    connections_wanted: int = 0
    kafka_errors: Callable[[], int] = field(default=lambda: 0)
    started: float = field(default_factory=time.monotonic)

    def count(self, out: FrameOutcome) -> None:
        """Counts a frame's records that are not sent or dead-lettered (the caller counts
        those as it sends them), its gap and its heartbeat."""
        self.records += out.records
        if out.missed:
            self.sequence_gaps += 1
            self.missed_messages += out.missed
        for reason, _ in out.skipped:
            self.skip(reason)
        self.control += out.control
        if out.control and out.channel == HEARTBEATS:
            self.heartbeats += 1

    def sent(self, symbol: str, snapshot: bool) -> None:
        _add(self.updates, symbol)
        if snapshot:
            _add(self.snapshots, symbol)

    def dead_letter(self, reason: str) -> None:
        _add(self.dead_lettered, reason)

    def skip(self, reason: str) -> None:
        _add(self.skipped, reason)

    @property
    def total_updates(self) -> int:
        return sum(self.updates.values())

    @property
    def total_dead_letters(self) -> int:
        return sum(self.dead_lettered.values())

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    @property
    def unaccounted(self) -> int:
        """Records read but in none of the four places (0 unless there is a bug)."""
        return (
            self.records
            - self.total_updates
            - self.total_dead_letters
            - self.total_skipped
            - self.control
        )

    def render_prometheus(self) -> str:
        """The counters in the Prometheus text exposition format."""
        out: list[str] = []

        def family(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {PREFIX}_book_{name} {help_text}")
            out.append(f"# TYPE {PREFIX}_book_{name} {kind}")
            for labels, value in samples:
                out.append(f"{PREFIX}_book_{name}{labels} {_number(value)}")

        family(
            "updates_total",
            "counter",
            "BookUpdates produced to Kafka, per symbol.",
            _labelled("symbol", dict(self.updates)),
        )
        family(
            "snapshots_total",
            "counter",
            "Snapshots among them, per symbol.",
            _labelled("symbol", dict(self.snapshots)),
        )
        family(
            "dead_lettered_total",
            "counter",
            "Records dead-lettered, per reason.",
            _labelled("reason", dict(self.dead_lettered)),
        )
        family(
            "skipped_total",
            "counter",
            "Records dropped on purpose (repeats, updates awaiting a snapshot), per reason.",
            _labelled("reason", dict(self.skipped)),
        )
        for name, kind, help_text, value in [
            ("records_total", "counter", "Records read (events and other frames).", self.records),
            ("heartbeats_total", "counter", "Heartbeat messages received.", self.heartbeats),
            (
                "sequence_gaps_total",
                "counter",
                "Jumps in a connection's sequence_num.",
                self.sequence_gaps,
            ),
            (
                "missed_messages_total",
                "counter",
                "Messages lost in those jumps.",
                self.missed_messages,
            ),
            (
                "resubscribes_total",
                "counter",
                "Re-subscriptions for fresh snapshots.",
                self.resubscribes,
            ),
            ("reconnects_total", "counter", "Exchange reconnections.", self.reconnects),
            (
                "failed_connects_total",
                "counter",
                "Failed connection attempts.",
                self.failed_connects,
            ),
            (
                "silent_connections_total",
                "counter",
                "Connections dropped for silence.",
                self.silent_connections,
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
                "uptime_seconds",
                "gauge",
                "Seconds since the ingest started.",
                time.monotonic() - self.started,
            ),
        ]:
            family(name, kind, help_text, [("", value)])
        return "\n".join(out) + "\n"


def book_summary_line(metrics: BookMetrics) -> str:
    """One log line: what became of the records, then the health counters."""
    per_symbol = " ".join(f"{s}={n}" for s, n in sorted(metrics.updates.items())) or "none yet"
    return (
        f"book updates {per_symbol} | records {metrics.records}: sent {metrics.total_updates}, "
        f"dead-lettered {metrics.total_dead_letters} {_by_reason(metrics.dead_lettered)}, "
        f"skipped {metrics.total_skipped} {_by_reason(metrics.skipped)}, control "
        f"{metrics.control} | gaps {metrics.sequence_gaps} (missed {metrics.missed_messages}), "
        f"resubscribes {metrics.resubscribes} | connections "
        f"{metrics.connections}/{metrics.connections_wanted} | reconnects {metrics.reconnects} "
        f"(silent {metrics.silent_connections}) | failed connects {metrics.failed_connects} | "
        f"kafka errors {metrics.kafka_errors()}"
    )


def account_line(metrics: BookMetrics, dlq_topic: str | None = None) -> str:
    """Where every record went: `370 records: 335 sent, 8 dead-lettered to trades-dlq
    (sequence_gap 4, ...), 4 skipped (duplicate 2, out_of_order 2), 23 control`."""
    dead = f"{metrics.total_dead_letters} dead-lettered"
    if dlq_topic:
        dead += f" to {dlq_topic}"
    if metrics.dead_lettered:
        dead += f" {_by_reason(metrics.dead_lettered)}"
    skipped = f"{metrics.total_skipped} skipped"
    if metrics.skipped:
        skipped += f" {_by_reason(metrics.skipped)}"
    parts = [
        f"{metrics.total_updates} sent ({sum(metrics.snapshots.values())} snapshots)",
        dead,
        skipped,
        f"{metrics.control} control (heartbeats, subscriptions)",
    ]
    if metrics.unaccounted:
        parts.append(f"{metrics.unaccounted} UNACCOUNTED FOR")
    return f"{metrics.records} records: {', '.join(parts)}"


def _by_reason(counts: dict[str, int]) -> str:
    if not counts:
        return "()"
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "(" + ", ".join(f"{k} {n}" for k, n in items) + ")"
