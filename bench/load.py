"""The realtime benches' Kafka helpers: a trade generator cheap enough not to skew them, and a
reader of a topic from its start.

The generator runs on the same two cores as the pipeline it measures, so it queues records
in librdkafka (confluent-kafka, the project's client) for a few microseconds each, with
acks=1 and without the idempotence of the project's producers: it only feeds the benches.
"""

from __future__ import annotations

from confluent_kafka import Consumer, Producer, TopicPartition


class FastProducer:
    """`send(topic, key, value)` and `flush()`: the benches' load generator."""

    def __init__(self, bootstrap: str, acks: int | str = 1) -> None:
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
        if self._producer.flush(60):
            raise RuntimeError("records still unacknowledged after 60 s")

    def close(self) -> None:
        self.flush()


def reader_from_start(bootstrap: str, topic: str) -> Consumer:
    """A consumer assigned every partition of `topic` from its first record (commits nothing)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-reader", "enable.auto.commit": False,
         "auto.offset.reset": "earliest"}
    )  # fmt: skip
    partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in sorted(partitions)])
    return consumer


def records(consumer: Consumer, timeout_s: float) -> list[tuple[bytes, int]]:
    """(value, written at) of the records at hand, waiting up to `timeout_s` for a first one.

    "Written at" is the record's timestamp: with the topics' default CreateTime, the epoch ms
    at which the writing producer was handed it (`produce()` in the pipeline's sink).
    Returns as soon as there is one (latency benches time their arrival): `consume` with a
    timeout would wait all of it for a full batch.
    """
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    out = []
    for message in [first, *consumer.consume(1000, 0)]:
        if message.error() is not None:
            raise RuntimeError(f"reading Kafka: {message.error().str()}")
        out.append((message.value(), message.timestamp()[1]))
    return out


def values(consumer: Consumer, timeout_s: float) -> list[bytes]:
    """The values of the records at hand (see `records`)."""
    return [value for value, _ in records(consumer, timeout_s)]
