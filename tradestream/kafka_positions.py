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
    """

    problems: tuple[str, ...]

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
            problems.append(
                f"{topic}[{partition}] ends at offset {end[partition]}, before the stored "
                f"offset {offset}"
            )
        elif offset < beginning.get(partition, 0):
            problems.append(
                f"{topic}[{partition}] starts at offset {beginning[partition]} (older records "
                f"deleted), after the stored offset {offset}: "
                f"{beginning[partition] - offset} records were never read"
            )
    return PositionCheck(tuple(problems))
