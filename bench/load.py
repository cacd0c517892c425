"""The realtime benches' trade generator: a Kafka producer cheap enough not to skew them.

The generator runs on the same two cores as the pipeline it measures. kafka-python's
producer costs about 150 us of Python per record (measured: 0.56 of a core at 3,000
trades/s), which the pipeline then lacks. librdkafka's (confluent-kafka) queues a record in
C for a few microseconds. It is not a TradeStream dependency: it is installed into
`.local/bench-kafka/` (pip `--target`, from PyPI) on first use and imported from there by the
benches only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFLUENT = "confluent-kafka==2.16.2"
CONFLUENT_DIR = REPO / ".local" / "bench-kafka"


def ensure_confluent() -> Path:
    """Installs confluent-kafka for the benches if needed; returns the directory to import from."""
    if not (CONFLUENT_DIR / "confluent_kafka").is_dir():
        print(f"installing {CONFLUENT} into {CONFLUENT_DIR} (benches only) ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(CONFLUENT_DIR),
             "--no-deps", CONFLUENT],
            check=True,
        )  # fmt: skip
    return CONFLUENT_DIR


class FastProducer:
    """`send(topic, key, value)` and `flush()`, as the benches use kafka-python's producer."""

    def __init__(self, bootstrap: str, acks: int | str = 1) -> None:
        path = str(ensure_confluent())
        if path not in sys.path:
            sys.path.append(path)
        from confluent_kafka import Producer

        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": acks,
             "queue.buffering.max.messages": 1_000_000}
        )  # fmt: skip

    def send(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        where = {} if partition is None else {"partition": partition}
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, **where)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self) -> None:
        self._producer.flush(60)

    def close(self) -> None:
        self.flush()
