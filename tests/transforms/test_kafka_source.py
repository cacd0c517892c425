"""The Kafka source's batches: claimed whole, stamped at their earliest event time.

(The source end to end, against a real broker on Flink: tests/pipelines/test_realtime_flink.py.)
"""

from __future__ import annotations

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from tests.support.builders import T0, trade
from transforms.kafka_io import TradeEventTime
from transforms.kafka_source import KafkaReadConfig, ReadTopicFn, TopicRestriction, TopicTracker

CONFIG = KafkaReadConfig("localhost:1", "trades", "g", event_time=TradeEventTime())


def _record(offset: int, value: bytes, kafka_ts: int = 5) -> ConsumerRecord:
    return ConsumerRecord(
        "trades", 0, -1, offset, kafka_ts, 0, b"k", value, [], None, 1, len(value), -1
    )


def _batch(records, tracker, positions, max_ts):
    return ReadTopicFn()._batch(CONFIG, 0, records, tracker, positions, max_ts)


def test_a_batch_is_one_claim_stamped_at_its_earliest_trade_time():
    values = [trade(time_ms=T0 + d).SerializeToString() for d in (300, 100, 200)]
    records = [_record(10 + i, v) for i, v in enumerate([*values, b"not a trade"])]
    tracker = TopicTracker(TopicRestriction(start={0: 10}, max_ts={}))
    positions, max_ts = {0: 10}, {}

    out = _batch(records, tracker, positions, max_ts)

    assert out.value == [*values, b"not a trade"]
    assert out.timestamp.micros == (T0 + 100) * 1000
    assert positions == {0: 14}
    assert max_ts == {0: T0 + 300}  # the malformed record moves nothing
    primary, residual = tracker.try_split(0)
    assert primary.stop == {0: 14} and residual.start == {0: 14}
    assert residual.max_ts == {0: T0 + 300}


def test_after_a_split_a_batch_is_not_claimed_and_the_residual_reads_it():
    tracker = TopicTracker(TopicRestriction(start={0: 10}, max_ts={}))
    positions, max_ts = {0: 10}, {}
    first = [_record(10, trade(time_ms=T0).SerializeToString())]
    assert _batch(first, tracker, positions, max_ts) is not None
    _, residual = tracker.try_split(0)  # the runner checkpoints between two polls

    later = [_record(11 + i, trade(time_ms=T0 + i).SerializeToString()) for i in range(3)]
    assert _batch(later, tracker, positions, max_ts) is None
    assert positions == {0: 11}
    assert residual.start == {0: 11}  # where the next call starts: nothing skipped


def test_a_batch_without_any_event_time_is_stamped_at_the_partition_progress():
    tracker = TopicTracker(TopicRestriction(start={0: 0}, max_ts={}))
    positions, max_ts = {0: 0}, {0: T0 + 50}
    out = _batch([_record(0, b"junk"), _record(1, b"")], tracker, positions, max_ts)
    assert out.value == [b"junk", b""]
    assert out.timestamp.micros == (T0 + 50) * 1000
    assert max_ts == {0: T0 + 50}
    assert positions == {0: 2}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("start_from", "newest", "start_from must be 'earliest' or 'latest'"),
        ("commit_offsets", "always", "commit_offsets must be 'finalized', 'read' or 'never'"),
    ],
)
def test_a_config_with_an_unknown_choice_is_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        KafkaReadConfig("localhost:1", "trades", "g", **{field: value})
