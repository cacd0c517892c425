"""Read a topic's partitions between two offsets: the one "read it to its end" loop.

    records = read_range(consumer, starts, stops, timeout_s=30)

Used to read a StrategySet topic to its end (:mod:`tradestream.optimize.strategy_sets`), to
look at what the trades topic already holds before a resumed ingest
(:mod:`tradestream.ingest.resume`) and to seed the signal writer's recent ids
(:mod:`tradestream.transforms.kafka_io`). Offsets, not empty polls, say when a partition is done.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

# Records one `consume` call returns at most when the caller does not say (the callers were
# tuned with polls of up to 500 records).
DEFAULT_MAX_RECORDS = 500
# How long one `consume` call waits for records before the offsets are checked again.
POLL_TIMEOUT_S = 0.2


def read_range(
    consumer: Consumer,
    starts: Mapping[tuple[str, int], int],
    stops: Mapping[tuple[str, int], int],
    timeout_s: float,
    max_records: int | None = None,
    partial_ok: bool = False,
) -> list[Message]:
    """The records of each partition from its start offset up to (not including) its stop.

    Args:
        consumer: a confluent-kafka Consumer; the partitions of `starts` are assigned to it
            (replacing any assignment it had).
        starts: (topic, partition) -> first offset to read.
        stops: (topic, partition) -> offset to stop before (usually the end offset).
        timeout_s: how long reading may take.
        max_records: the most records one `consume` call returns (500 if None).
        partial_ok: on timeout, return what was read instead of raising.

    Returns:
        The records (Messages without an error), in the order they were read.

    Raises:
        TimeoutError: the offsets were not reached within `timeout_s` (unless `partial_ok`).
        KafkaException: the consumer reported an error (e.g. a start offset that the
            partition no longer holds).
    """
    # The next offset to read per partition; a partition is done once it reaches its stop.
    next_offset = dict(starts)
    consumer.assign([TopicPartition(topic, p, offset) for (topic, p), offset in starts.items()])
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while pending := [tp for tp in starts if next_offset[tp] < stops[tp]]:
        if time.monotonic() > deadline:
            if partial_ok:
                break
            ranges = ", ".join(
                f"{topic}[{p}] {starts[topic, p]}..{stops[topic, p]}" for topic, p in starts
            )
            raise TimeoutError(f"reading {ranges} took more than {timeout_s:.0f}s")
        messages = consumer.consume(max_records or DEFAULT_MAX_RECORDS, POLL_TIMEOUT_S)
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(error)
            tp = (msg.topic(), msg.partition())
            if tp in stops and msg.offset() < stops[tp]:
                out.append(msg)
                next_offset[tp] = max(next_offset[tp], msg.offset() + 1)
        if not messages:
            # Records are not the only entries of a log: a transaction's commit marker takes
            # an offset too, and the consumer's position moves past it without a record.
            for position in consumer.position([TopicPartition(topic, p) for topic, p in pending]):
                tp = (position.topic, position.partition)
                next_offset[tp] = max(next_offset[tp], position.offset)
    return out
