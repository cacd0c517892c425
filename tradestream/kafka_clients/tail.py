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


def read_range(
    consumer,
    starts: Mapping,
    stops: Mapping,
    timeout_s: float,
    max_records: int | None = None,
    partial_ok: bool = False,
) -> list:
    """The records of each partition from its start offset up to (not including) its stop.

    Args:
        consumer: a KafkaConsumer; the partitions of `starts` are assigned to it.
        starts: TopicPartition -> first offset to read.
        stops: TopicPartition -> offset to stop before (usually the end offset).
        timeout_s: how long reading may take.
        max_records: the most records a poll returns (kafka-python's default if None).
        partial_ok: on timeout, return what was read instead of raising.

    Returns:
        The records, in the order the polls returned them.

    Raises:
        TimeoutError: the offsets were not reached within `timeout_s` (unless `partial_ok`).
    """
    consumer.assign(list(starts))
    for tp, start in starts.items():
        consumer.seek(tp, start)
    out: list = []
    deadline = time.monotonic() + timeout_s
    poll_args = (
        {"timeout_ms": 200}
        if max_records is None
        else {"timeout_ms": 200, "max_records": max_records}
    )
    while any(consumer.position(tp) < stops[tp] for tp in starts):
        if time.monotonic() > deadline:
            if partial_ok:
                break
            ranges = ", ".join(
                f"{tp.topic}[{tp.partition}] {starts[tp]}..{stops[tp]}" for tp in starts
            )
            raise TimeoutError(f"reading {ranges} took more than {timeout_s:.0f}s")
        for tp, records in consumer.poll(**poll_args).items():
            out.extend(r for r in records if r.offset < stops[tp])
    return out
