"""Topic ids, offset ranges and committed offsets read from (and committed to) the real broker.

check_position's rules are tested with the paper executor and realtime's launch; these tests
pin what the client side hands them.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import AdminClient

from tests.support.kafka import create_topics, produce, recreate_topics
from tradestream.kafka_clients.config import client_config
from tradestream.kafka_clients.positions import (
    StalePositionError,
    TopicState,
    commit_offsets,
    current_topic_id,
    read_topic_state,
    settle_committed,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(kafka_broker) -> str:
    name = f"positions-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [name], partitions=2)
    produce(kafka_broker.bootstrap, name, ((f"k{i}".encode(), b"v") for i in range(40)))
    return name


def test_current_topic_id_is_a_uuid_that_changes_when_the_topic_is_recreated(kafka_broker, topic):
    admin = AdminClient(client_config(kafka_broker))
    first = current_topic_id(admin, topic)
    # The text form positions were stored in before confluent-kafka (uuid.UUID's).
    assert first == str(uuid.UUID(first))
    assert current_topic_id(admin, topic) == first
    recreate_topics(kafka_broker, [topic], partitions=2)
    assert current_topic_id(admin, topic) not in (None, first)


def test_read_topic_state_reports_ranges_id_and_only_committed_partitions(kafka_broker, topic):
    options = client_config(kafka_broker)
    state = read_topic_state(options, topic, "g-state")
    assert state.topic == topic and state.committed == {}
    assert state.beginning == {0: 0, 1: 0} and sum(state.end.values()) == 40
    assert state.topic_id == current_topic_id(AdminClient(options), topic)

    commit_offsets(options, topic, "g-state", {1: 3})
    assert read_topic_state(options, topic, "g-state").committed == {1: 3}
    assert read_topic_state(options, topic, None).committed == {}  # no group: none read


def test_read_topic_state_of_topics_created_a_moment_ago(kafka_broker):
    # For a moment a new partition's leader answers NOT_LEADER_FOR_PARTITION (`make demo`
    # failed there right after `local up`): the offsets are asked again.
    options = client_config(kafka_broker)
    for _ in range(5):
        name = f"fresh-{uuid.uuid4().hex[:8]}"
        create_topics(kafka_broker, [name], partitions=3)
        state = read_topic_state(options, name, None)
        assert state.beginning == state.end == {0: 0, 1: 0, 2: 0}


def test_read_topic_state_of_a_missing_topic_names_it_in_one_line(kafka_broker):
    with pytest.raises(StalePositionError, match="topic no-such-topic does not exist on"):
        read_topic_state(client_config(kafka_broker), "no-such-topic", "g")


def test_settle_committed_moves_only_the_offsets_outside_their_partitions(kafka_broker, topic):
    options = client_config(kafka_broker)
    state = read_topic_state(options, topic, None)
    beyond = {0: state.end[0] + 7, 1: 1}
    commit_offsets(options, topic, "g-settle", beyond)
    state = read_topic_state(options, topic, "g-settle")
    assert state.committed == beyond
    with pytest.raises(StalePositionError, match="--on_topic_reset=start_over"):
        settle_committed(options, state, "g-settle", "earliest", "fail")
    warnings = settle_committed(options, state, "g-settle", "latest", "start_over")
    assert len(warnings) == 1 and f"{topic}[0] ends at offset {state.end[0]}" in warnings[0]
    assert read_topic_state(options, topic, "g-settle").committed == {0: state.end[0], 1: 1}
    fitting = TopicState(topic, None, state.beginning, state.end, {0: 0, 1: 1})
    assert settle_committed(options, fitting, "g-settle", "latest", "fail") == []
