"""A partition's offset range, asked of its leader, and the one retry rule for requests a
broker answers with "not ready yet".

    low, high = watermark_offsets(consumer, TopicPartition("trades", 0), timeout_s=30)

A broker names itself leader of a new partition in its metadata a moment before it serves
the partition's offsets; meanwhile it answers NOT_LEADER_FOR_PARTITION (or
LEADER_NOT_AVAILABLE), which librdkafka does not retry for this request and does not
always flag retriable. So the first command after `tradestream local up`, or after a topic
is created, would fail on a topic that is fine a second later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException

LEADER_UNSETTLED = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
_PAUSE_S = 0.2

T = TypeVar("T")


def retried(request: Callable[[], T], settling: tuple[int, ...], timeout_s: float) -> T:
    """`request()`, asked again while it fails with a retriable error or one of the
    `settling` codes (a leader or coordinator not ready yet), for up to `timeout_s`; then,
    or on any other error, the KafkaException is raised."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return request()
        except KafkaException as exc:
            error = exc.args[0]
            if not (error.retriable() or error.code() in settling):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(_PAUSE_S)


def watermark_offsets(consumer, tp, timeout_s: float) -> tuple[int, int]:
    """(the partition's first offset, the offset after its last record).

    Asked again while the leader is not settled or the error is retriable, until
    `timeout_s`; then, or on any other error, the KafkaException is raised.
    """
    deadline = time.monotonic() + timeout_s
    found = retried(
        lambda: consumer.get_watermark_offsets(tp, timeout=max(deadline - time.monotonic(), 0.1)),
        LEADER_UNSETTLED,
        timeout_s,
    )
    if found is None:
        raise KafkaException(
            KafkaError(
                KafkaError._TIMED_OUT,
                f"no offsets of {tp.topic}[{tp.partition}] within {timeout_s:.0f}s",
            )
        )
    return found
