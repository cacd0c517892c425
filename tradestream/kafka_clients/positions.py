"""Stored Kafka positions, and whether they still belong to the topic they were taken from.

A consumer that keeps its own offsets (a retained Flink checkpoint of `realtime`, the paper
executor's database) can outlive its topic: a reset local broker (`tradestream local down`,
`rm -r .local/kafka`, `local up`) or a topic deleted and created again starts the offsets at 0
under the same name. Resuming at the old offsets then skips records without a word: offsets
past the new end wait for records that are then never read, offsets inside it skip the new
records before them.

Kafka gives every topic a unique id (since 2.8; kafka-python reads it with the metadata), so
a stored position carries the id of the topic it was read from, and a resuming consumer
compares it, and each offset with the partition's current range, before reading. What to do
on a mismatch is the user's choice (`ON_TOPIC_RESET`): stop with one line that names the way
out (the default), or start over on the new topic with a WARNING that says what was dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


def current_topic_id(consumer, topic: str) -> str | None:
    """The topic's id from the consumer's latest metadata (None: unknown or a pre-2.8 broker).

    The caller must have fetched metadata for the topic first (`partitions_for_topic`).
    """
    found = consumer._client.cluster.topic_id(topic)  # kafka-python keeps ids per topic name
    return str(found) if found is not None else None


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
        client_options: kafka-python options (`tradestream.kafka_clients.config.client_config`).
        topic: The topic to describe.
        group_id: The consumer group whose committed offsets to read (None: none read).

    Raises:
        StalePositionError: the topic does not exist.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**dict(client_options), group_id=group_id, enable_auto_commit=False)
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        if not partitions:
            servers = ",".join(client_options.get("bootstrap_servers", []))
            raise StalePositionError(
                f"topic {topic} does not exist on {servers} (`tradestream local up` creates "
                "the local topics)"
            )
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = {}
        if group_id is not None:
            for tp in tps:
                offset = consumer.committed(tp)
                if offset is not None:
                    committed[tp.partition] = offset
        return TopicState(
            topic=topic,
            topic_id=current_topic_id(consumer, topic),
            beginning={tp.partition: o for tp, o in consumer.beginning_offsets(tps).items()},
            end={tp.partition: o for tp, o in consumer.end_offsets(tps).items()},
            committed=committed,
        )
    finally:
        consumer.close()


def commit_offsets(client_options: Mapping, topic: str, group_id: str, offsets: Mapping[int, int]):
    """Sets the group's committed offsets on `topic` (for a policy that starts over)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(**dict(client_options), group_id=group_id, enable_auto_commit=False)
    try:
        tps = {p: TopicPartition(topic, p) for p in offsets}
        consumer.assign(list(tps.values()))
        consumer.commit({tps[p]: OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
    finally:
        consumer.close()


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
