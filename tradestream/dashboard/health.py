"""Pipeline health for the dashboard: consumer-group lag and the dead-letter count.

Lag of a group on a topic = sum over partitions of (end offset - the group's committed
offset); a partition the group never committed counts from the beginning of the log. The
realtime pipeline commits after Flink checkpoints, the paper executor after each stored
batch. Dead letters = records retained on the DLQ topic (end - beginning offsets).

Read in a background thread every few seconds (Kafka calls block), cached for requests.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthTargets:
    bootstrap: str
    groups: tuple[tuple[str, str, str], ...]  # (label, group id, topic)
    dlq_topic: str
    signals_topic: str


class KafkaHealth:
    """Polls Kafka for lag and dead letters; `latest()` returns the last reading."""

    def __init__(self, targets: HealthTargets, every_s: float = 5.0) -> None:
        self.targets = targets
        self.every_s = every_s
        self._latest: dict = {
            "ok": None,
            "checked_ms": None,
            "groups": [],
            "error": "not checked yet",
        }
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumers: dict[str | None, object] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kafka-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_consumers()

    def _close_consumers(self) -> None:
        for consumer in self._consumers.values():
            with contextlib.suppress(Exception):  # closing a broken client
                consumer.close()
        self._consumers.clear()

    def latest(self) -> dict:
        with self._lock:
            return dict(self._latest)

    def _run(self) -> None:
        while not self._stop.is_set():
            reading = self.check()
            with self._lock:
                self._latest = reading
            self._stop.wait(self.every_s)

    def _consumer(self, group: str | None):
        consumer = self._consumers.get(group)
        if consumer is None:
            from kafka import KafkaConsumer

            from tradestream.kafka_clients.config import env_client_config

            consumer = KafkaConsumer(
                **env_client_config(self.targets.bootstrap),
                group_id=group,
                enable_auto_commit=False,
                request_timeout_ms=5000,
            )
            self._consumers[group] = consumer
        return consumer

    def _partitions(self, topic: str):
        from kafka import TopicPartition

        parts = self._consumer(None).partitions_for_topic(topic)
        return [TopicPartition(topic, p) for p in sorted(parts or [])]

    def check(self) -> dict:
        """One reading: {ok, checked_ms, groups: [...], dead_letters, signals_total, error}."""
        t = self.targets
        out: dict = {"ok": True, "checked_ms": int(time.time() * 1000), "error": "", "groups": []}
        try:
            plain = self._consumer(None)
            for label, group, topic in t.groups:
                tps = self._partitions(topic)
                entry = {"label": label, "group": group, "topic": topic, "lag": None}
                if tps:
                    ends = plain.end_offsets(tps)
                    begins = plain.beginning_offsets(tps)
                    member = self._consumer(group)
                    lag, committed_any = 0, False
                    for tp in tps:
                        committed = member.committed(tp)
                        committed_any |= committed is not None
                        lag += ends[tp] - (committed if committed is not None else begins[tp])
                    entry.update(lag=max(lag, 0), committed=committed_any, partitions=len(tps))
                else:
                    entry["error"] = f"topic {topic} not found"
                out["groups"].append(entry)
            dlq = self._partitions(t.dlq_topic)
            if dlq:
                ends, begins = plain.end_offsets(dlq), plain.beginning_offsets(dlq)
                out["dead_letters"] = sum(ends[tp] - begins[tp] for tp in dlq)
            else:
                out["dead_letters"] = None
            sig = self._partitions(t.signals_topic)
            out["signals_total"] = sum(plain.end_offsets(sig).values()) if sig else None
        except Exception as exc:  # noqa: BLE001 - shown on the page, retried next time
            log.debug("kafka health check failed: %s", exc)
            self._close_consumers()
            out.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        return out
