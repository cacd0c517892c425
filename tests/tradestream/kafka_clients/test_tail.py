"""read_range on the real broker: exactly the records between two offsets, or a clear timeout."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from tests.support.kafka import create_topics
from tradestream.kafka_clients.config import client_config, consumer_config, producer_config
from tradestream.kafka_clients.tail import read_range

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(kafka_broker) -> str:
    """A two-partition topic with 30 records on partition 0 and 20 on partition 1."""
    name = f"tail-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [name], partitions=2)
    producer = Producer(producer_config(kafka_broker))
    for partition, count in ((0, 30), (1, 20)):
        for i in range(count):
            producer.produce(name, value=f"{partition}-{i}".encode(), partition=partition)
    assert producer.flush(30) == 0
    return name


@pytest.fixture
def consumer(kafka_broker):
    reader = Consumer(consumer_config(client_config(kafka_broker)))
    yield reader
    reader.close()


def test_read_range_returns_each_partitions_records_from_start_to_before_stop(consumer, topic):
    starts = {(topic, 0): 0, (topic, 1): 0}
    everything = read_range(consumer, starts, {(topic, 0): 0, (topic, 1): 0}, timeout_s=30)
    assert everything == []  # start == stop: nothing to read, no waiting
    ends = {tp: _end(consumer, *tp) for tp in starts}
    assert ends == {(topic, 0): 30, (topic, 1): 20}

    records = read_range(consumer, {(topic, 0): 5, (topic, 1): 2}, ends, timeout_s=30)
    by_partition = {p: [r for r in records if r.partition() == p] for p in (0, 1)}
    for p, got in by_partition.items():
        assert [r.offset() for r in got] == list(range(5 if p == 0 else 2, ends[topic, p]))
        assert all(r.error() is None and r.topic() == topic for r in got)
        assert [r.value() for r in got] == [f"{p}-{r.offset()}".encode() for r in got]

    # A stop below the end: the records at and after it are not returned.
    short = read_range(consumer, {(topic, 0): 0}, {(topic, 0): 3}, timeout_s=30, max_records=1)
    assert [r.offset() for r in short] == [0, 1, 2]


def test_read_range_past_the_end_times_out_or_returns_what_it_read(consumer, topic):
    end = _end(consumer, topic, 0)
    beyond = {(topic, 0): end + 5}
    with pytest.raises(TimeoutError, match=rf"reading {topic}\[0\] 0\.\.{end + 5} took more"):
        read_range(consumer, {(topic, 0): 0}, beyond, timeout_s=1)
    partial = read_range(consumer, {(topic, 0): 0}, beyond, timeout_s=1, partial_ok=True)
    assert [r.offset() for r in partial] == list(range(end))


def test_read_range_from_an_offset_the_partition_no_longer_holds_raises(consumer, topic):
    """consumer_config resets nothing on its own: a start past the end is an error."""
    end = _end(consumer, topic, 0)
    with pytest.raises(KafkaException, match="(?i)offset"):
        read_range(consumer, {(topic, 0): end + 100}, {(topic, 0): end + 101}, timeout_s=30)


def _end(consumer, topic: str, partition: int) -> int:
    return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
