"""Stored Kafka positions, and whether they still belong to the topic they were taken from.

A consumer that keeps its own offsets (a retained Flink checkpoint of `realtime`, the paper
executor's database) can outlive its topic: a reset local broker (`tradestream local down`,
`rm -r .local/kafka`, `local up`) or a topic deleted and created again starts the offsets at 0
under the same name. Resuming at the old offsets then skips records without a word: offsets
past the new end wait for records that are then never read, offsets inside it skip the new
records before them.

Kafka gives every topic a unique id (since 2.8; the admin API's DescribeTopics returns it),
so a stored position carries the id of the topic it was read from, and a resuming consumer
compares it, and each offset with the partition's current range, before reading. What to do
on a mismatch is the user's choice (`ON_TOPIC_RESET`): stop with one line that names the way
out (the default), or start over on the new topic with a WARNING that says what was dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient

from tradestream.kafka_clients.config import consumer_config
from tradestream.kafka_clients.offsets import retried, watermark_offsets

# How long one request for metadata, offsets or a commit may take.
REQUEST_TIMEOUT_S = 30.0

T = TypeVar("T")
# A group coordinator that moved or is still loading: librdkafka does not mark these
# retriable when a committed-offsets request fails on them, but they pass.
_COORDINATOR_NOT_READY = (
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError._WAIT_COORD,
)

# --on_topic_reset: what a consumer does when its stored position does not fit the topic.
ON_TOPIC_RESET = ("fail", "start_over")


class StalePositionError(RuntimeError):
    """A stored position belongs to another incarnation of the topic (one-line message)."""


@dataclass(frozen=True)
class PositionCheck:
    """A stored position compared with the topic as it is now.

    Attributes:
        problems: One readable line per mismatch; empty when the position fits.
        outside: The partitions whose stored offset lies outside the records they hold now.
    """

    problems: tuple[str, ...]
    outside: frozenset[int] = frozenset()

    @property
    def fits(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return "; ".join(self.problems)


def current_topic_id(
    admin: AdminClient, topic: str, timeout_s: float = REQUEST_TIMEOUT_S
) -> str | None:
    """The topic's id as the broker describes it now (None: a pre-2.8 broker has none).

    The id is given in the UUID text form (`8c0e...-...`) that stored positions have held
    since they were first written, not in Kafka's base64 form, so they still compare equal.

    Raises:
        KafkaException: the topic does not exist, or the broker did not answer in time.
    """
    described = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout_s)
    found = described[topic].result(timeout=timeout_s + 5).topic_id
    if found is None:
        return None
    # Kafka's Uuid is two signed 64-bit halves.
    bits = (found.get_most_significant_bits() % 2**64) << 64
    bits |= found.get_least_significant_bits() % 2**64
    return str(uuid.UUID(int=bits)) if bits else None


def check_position(
    topic: str,
    stored_topic_id: str | None,
    topic_id: str | None,
    offsets: Mapping[int, int],
    beginning: Mapping[int, int],
    end: Mapping[int, int],
) -> PositionCheck:
    """Compares stored offsets (and the id of the topic they came from) with the topic now.

    Args:
        topic: The topic's name (for the messages).
        stored_topic_id: The id recorded with the offsets (None: not recorded, not compared).
        topic_id: The topic's id now (None: unknown, not compared).
        offsets: partition -> next offset to read, as stored.
        beginning: partition -> earliest offset the topic still has.
        end: partition -> offset after the newest record.

    Returns:
        The problems found, each naming the partition and the offsets involved.
    """
    problems: list[str] = []
    outside: set[int] = set()
    if stored_topic_id and topic_id and stored_topic_id != topic_id:
        problems.append(
            f"topic {topic} was recreated (topic id {stored_topic_id} when the position was "
            f"stored, {topic_id} now: a reset broker or a deleted topic)"
        )
    for partition in sorted(offsets):
        offset = offsets[partition]
        if partition not in end:
            problems.append(
                f"{topic} has no partition {partition} any more (stored offset {offset})"
            )
        elif offset > end[partition]:
            outside.add(partition)
            problems.append(
                f"{topic}[{partition}] ends at offset {end[partition]}, before the stored "
                f"offset {offset}"
            )
        elif offset < beginning.get(partition, 0):
            outside.add(partition)
            problems.append(
                f"{topic}[{partition}] starts at offset {beginning[partition]} (older records "
                f"deleted), after the stored offset {offset}: "
                f"{beginning[partition] - offset} records were never read"
            )
    return PositionCheck(tuple(problems), frozenset(outside))


@dataclass(frozen=True)
class TopicState:
    """A topic as it is now, and a consumer group's committed offsets on it.

    Attributes:
        topic: The topic's name.
        topic_id: Kafka's id of the topic (None on brokers before 2.8).
        beginning: partition -> earliest offset still held.
        end: partition -> offset after the newest record.
        committed: partition -> the group's committed offset (partitions without one absent).
    """

    topic: str
    topic_id: str | None
    beginning: dict[int, int]
    end: dict[int, int]
    committed: dict[int, int]


def read_topic_state(client_options: Mapping, topic: str, group_id: str | None) -> TopicState:
    """Reads the topic's id and offset range, and the group's committed offsets on it.

    Args:
        client_options: librdkafka properties (`tradestream.kafka_clients.config.client_config`).
        topic: The topic to describe.
        group_id: The consumer group whose committed offsets to read (None: none read).

    Raises:
        StalePositionError: the topic does not exist.
        KafkaException: a broker did not answer within `REQUEST_TIMEOUT_S`.
    """
    admin = AdminClient(dict(client_options))
    listed = admin.list_topics(topic=topic, timeout=REQUEST_TIMEOUT_S).topics.get(topic)
    partitions = sorted(listed.partitions) if listed is not None and not listed.error else []
    if not partitions:
        raise StalePositionError(
            f"topic {topic} does not exist on {client_options['bootstrap.servers']} "
            "(`tradestream local up` creates the local topics)"
        )
    consumer = Consumer(consumer_config(dict(client_options), group_id))
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = {}
        if group_id is not None:
            for tp in _retried(lambda: consumer.committed(tps, timeout=REQUEST_TIMEOUT_S)):
                if tp.offset >= 0:  # OFFSET_INVALID: the group has committed nothing here
                    committed[tp.partition] = tp.offset
        # A topic just created answers NOT_LEADER_FOR_PARTITION for a moment.
        ranges = {tp.partition: watermark_offsets(consumer, tp, REQUEST_TIMEOUT_S) for tp in tps}
        return TopicState(
            topic=topic,
            topic_id=current_topic_id(admin, topic),
            beginning={p: low for p, (low, _) in ranges.items()},
            end={p: high for p, (_, high) in ranges.items()},
            committed=committed,
        )
    finally:
        consumer.close()


def commit_offsets(client_options: Mapping, topic: str, group_id: str, offsets: Mapping[int, int]):
    """Sets the group's committed offsets on `topic` (for a policy that starts over).

    Raises:
        KafkaException: the commit failed for a partition, or was not answered in time.
    """
    consumer = Consumer(consumer_config(dict(client_options), group_id))
    try:
        tps = [TopicPartition(topic, p, o) for p, o in offsets.items()]
        done = _retried(lambda: consumer.commit(offsets=tps, asynchronous=False))
        failed = next((tp.error for tp in done or [] if tp.error is not None), None)
        if failed is not None:
            raise KafkaException(failed)
    finally:
        consumer.close()


def _retried(request: Callable[[], T]) -> T:
    """`request()`, again while it fails with a retriable error, for up to REQUEST_TIMEOUT_S.

    A group's coordinator can move or still be loading (a broker just started, the offsets
    topic just created): librdkafka reports that as a retriable error rather than waiting.
    """
    return retried(request, _COORDINATOR_NOT_READY, REQUEST_TIMEOUT_S)


def settle_committed(
    client_options: Mapping, state: TopicState, group_id: str, start_from: str, on_topic_reset: str
) -> list[str]:
    """Checks a group's committed offsets against the topic's ranges before a consumer starts.

    Offsets beyond a partition's end (records lost on the broker) or before its beginning
    (records deleted by retention before they were read) are refused (`"fail"`), or moved to
    the `start_from` edge (`"start_over"`) with a warning naming each partition.

    Returns:
        Warnings for the console (empty when every committed offset fits).

    Raises:
        StalePositionError: an offset does not fit and the policy is "fail".
    """
    check = check_position(state.topic, None, None, state.committed, state.beginning, state.end)
    if check.fits:
        return []
    if on_topic_reset == "fail":
        raise StalePositionError(
            f"the committed offsets of consumer group {group_id} do not fit "
            f"{state.topic}: {check.summary()}; start with --on_topic_reset=start_over to "
            f"move them to the {start_from} offsets"
        )
    edge = state.beginning if start_from == "earliest" else state.end
    moved = {p: edge[p] for p in check.outside}
    commit_offsets(client_options, state.topic, group_id, moved)
    return [
        f"consumer group {group_id}: {check.summary()}; moved to the {start_from} offsets "
        f"{dict(sorted(moved.items()))}"
    ]
