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
TIMEOUT_S = 5.0  # longest wait for one answer of the brokers


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
        """A consumer that reads offsets only; `group`'s to read its committed ones."""
        consumer = self._consumers.get(group)
        if consumer is None:
            from confluent_kafka import Consumer

            from tradestream.kafka_clients.config import consumer_config, env_client_config

            consumer = Consumer(consumer_config(env_client_config(self.targets.bootstrap), group))
            self._consumers[group] = consumer
        return consumer

    def _partitions(self, topic: str):
        from confluent_kafka import TopicPartition

        found = self._consumer(None).list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
        if found is None or found.error is not None:
            return []
        return [TopicPartition(topic, p) for p in sorted(found.partitions)]

    def _ranges(self, tps) -> tuple[dict, dict]:
        """(beginning offsets, end offsets) of the partitions, keyed by partition."""
        plain = self._consumer(None)
        ranges = {tp.partition: plain.get_watermark_offsets(tp, timeout=TIMEOUT_S) for tp in tps}
        return {p: low for p, (low, _) in ranges.items()}, {p: hi for p, (_, hi) in ranges.items()}

    def check(self) -> dict:
        """One reading: {ok, checked_ms, groups: [...], dead_letters, signals_total, error}."""
        t = self.targets
        out: dict = {"ok": True, "checked_ms": int(time.time() * 1000), "error": "", "groups": []}
        try:
            for label, group, topic in t.groups:
                tps = self._partitions(topic)
                entry = {"label": label, "group": group, "topic": topic, "lag": None}
                if tps:
                    begins, ends = self._ranges(tps)
                    member = self._consumer(group)
                    lag, committed_any = 0, False
                    for tp in member.committed(tps, timeout=TIMEOUT_S):
                        committed = tp.offset if tp.offset >= 0 else None  # < 0: none
                        committed_any |= committed is not None
                        start = committed if committed is not None else begins[tp.partition]
                        lag += ends[tp.partition] - start
                    entry.update(lag=max(lag, 0), committed=committed_any, partitions=len(tps))
                else:
                    entry["error"] = f"topic {topic} not found"
                out["groups"].append(entry)
            dlq = self._partitions(t.dlq_topic)
            if dlq:
                begins, ends = self._ranges(dlq)
                out["dead_letters"] = sum(ends[p] - begins[p] for p in ends)
            else:
                out["dead_letters"] = None
            sig = self._partitions(t.signals_topic)
            out["signals_total"] = sum(self._ranges(sig)[1].values()) if sig else None
        except Exception as exc:  # noqa: BLE001 - shown on the page, retried next time
            log.debug("kafka health check failed: %s", exc)
            from confluent_kafka import KafkaException

            self._close_consumers()
            # librdkafka's words for a client error, not the KafkaError's repr.
            reason = exc.args[0].str() if isinstance(exc, KafkaException) else exc
            out.update(ok=False, error=f"{type(exc).__name__}: {reason}")
        return out
