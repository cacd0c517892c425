"""The Kafka source's batches: claimed whole, stamped at their earliest event time.

(The source end to end, against a real broker on Flink: tests/pipelines/test_realtime_flink.py.)
"""

from __future__ import annotations

import time

import pytest
from apache_beam.utils.timestamp import Timestamp
from confluent_kafka import TIMESTAMP_CREATE_TIME, Message

from tests.support.builders import T0, trade
from tradestream.transforms.kafka_io import TradeEventTime
from tradestream.transforms.kafka_source import (
    KafkaReadConfig,
    ReadTopicFn,
    TopicRestriction,
    TopicTracker,
    _Reader,
)

CONFIG = KafkaReadConfig("localhost:1", "trades", "g", event_time=TradeEventTime())


def _record(offset: int, value: bytes, kafka_ts: int = 5, partition: int = 0) -> Message:
    return Message(
        topic="trades",
        partition=partition,
        offset=offset,
        key=b"k",
        value=value,
        timestamp=(TIMESTAMP_CREATE_TIME, kafka_ts),
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


class _ScriptedConsumer:
    """A confluent-kafka Consumer stand-in: each consume() returns the next scripted result.

    `polls` holds {partition: records} per poll; an empty one ends a read call (as a
    caught-up poll does: nothing arrives while poll() waits). Every partition's high
    watermark is its end from the first poll on.
    """

    def __init__(self, ends: dict[int, int], polls: list[dict[int, list]]) -> None:
        self._ends = ends
        self._polls = list(polls)
        self._fetched = False

    def assign(self, tps) -> None:
        pass

    def seek(self, tp) -> None:
        pass

    def consume(self, num_messages: int, timeout: float) -> list:
        self._fetched = True
        records = self._polls.pop(0) if self._polls else {}
        return [record for batch in records.values() for record in batch]

    def poll(self, timeout: float):
        return None

    def get_watermark_offsets(self, tp, timeout=None, cached=False) -> tuple[int, int]:
        assert cached, "the source reads high watermarks from the latest fetch only"
        return (0, self._ends[tp.partition]) if self._fetched else (-1001, -1001)


def _trades_at(partition: int, first_offset: int, times: list[int]) -> list[Message]:
    return [
        _record(first_offset + i, trade(time_ms=t).SerializeToString(), partition=partition)
        for i, t in enumerate(times)
    ]


def test_a_call_never_publishes_a_watermark_past_the_batches_it_emitted():
    """Flink may deliver a call's watermark before the call's own batches (a checkpoint that
    finishes the bundle buffers its output and emits the watermark at once): the batches
    must not be behind it then. The incident: a catch-up call read minutes 28:41-96 of one
    partition and published 96, so its trades of minutes 28 and 29 arrived after their
    candles had closed and were dead-lettered as late."""
    from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
    from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker

    minute = 60_000
    # Partition 0 (one symbol) is read whole by the first call; partition 1 (another) in two.
    whole = [T0 + m * minute for m in range(0, 180, 10)]
    first_part = [T0 + m * minute for m in range(0, 29)]
    rest = [T0 + m * minute for m in range(29, 97)]
    # Polls of at most 10 records: the scripted ones are full, so a call keeps reading until
    # a poll comes back empty (as a catch-up call does).
    config = KafkaReadConfig(
        "localhost:1", "trades", "g-watermark", event_time=TradeEventTime(),
        commit_offsets="never", max_poll_records=10,
    )  # fmt: skip
    consumer = _ScriptedConsumer(
        ends={0: len(whole), 1: len(first_part) + len(rest)},
        polls=[
            {0: _trades_at(0, 0, whole), 1: _trades_at(1, 0, first_part)},
            {},  # the first call ends (its poll budget spent)
            {1: _trades_at(1, len(first_part), rest)},
        ],
    )
    reader = _Reader(consumer, "trades")
    restriction = TopicRestriction(start={0: 0, 1: 0}, max_ts={})
    estimator_state = None
    published = []
    for _ in range(3):  # each call as the runner makes it: on the previous residual
        tracker = ThreadsafeRestrictionTracker(TopicTracker(restriction))
        watermark = ManualWatermarkEstimator(estimator_state)
        batches = list(
            ReadTopicFn()._read(
                config, reader, _Finalizer(), RestrictionTrackerView(tracker), watermark
            )
        )
        published.append((watermark.current_watermark(), [b.timestamp for b in batches]))
        restriction = tracker.deferred_status()[0]
        estimator_state = watermark.get_estimator_state()

    for call, (mark, stamps) in enumerate(published):
        behind = [s for s in stamps if s < mark]
        assert not behind, f"call {call}: watermark {mark} passed its own batches {behind}"
    # The watermark trails by one call only: a call with nothing new publishes the rest.
    assert published[1][0].micros == rest[0] * 1000
    assert published[2] == (Timestamp(micros=min(whole[-1], rest[-1]) * 1000), [])


def test_a_call_that_reads_less_than_a_full_poll_ends_and_publishes_its_watermark():
    """Reading a live topic, records keep arriving, so the partitions are rarely caught up
    when a poll returns: being within one poll (max_poll_records) of the end ends the call,
    so that the watermark goes out now rather than after the poll budget."""
    from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
    from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker

    times = [T0 + i * 100 for i in range(40)]
    config = KafkaReadConfig(
        "localhost:1", "trades", "g-live", event_time=TradeEventTime(), commit_offsets="never",
        max_poll_records=50, poll_budget_s=60.0,
    )  # fmt: skip
    # The high watermark is ahead of every poll (records arrived meanwhile), by less than a
    # poll: never caught up, always near.
    consumer = _ScriptedConsumer(
        ends={0: 60},
        polls=[{0: _trades_at(0, 0, times[:20])}, {0: _trades_at(0, 20, times[20:])}],
    )
    reader = _Reader(consumer, "trades")
    restriction = TopicRestriction(start={0: 0}, max_ts={})
    estimator_state = None
    calls = []
    for _ in range(2):
        tracker = ThreadsafeRestrictionTracker(TopicTracker(restriction))
        watermark = ManualWatermarkEstimator(estimator_state)
        started = time.monotonic()
        batches = list(
            ReadTopicFn()._read(
                config, reader, _Finalizer(), RestrictionTrackerView(tracker), watermark
            )
        )
        calls.append((len(batches), time.monotonic() - started, watermark.current_watermark()))
        restriction = tracker.deferred_status()[0]
        estimator_state = watermark.get_estimator_state()
    assert [n for n, _, _ in calls] == [1, 1]  # one poll per call
    assert all(seconds < 5 for _, seconds, _ in calls)  # not the 60 s budget
    # Each call's watermark: the data's, held at the earliest batch that call emitted.
    assert calls[1][2] == Timestamp(micros=times[20] * 1000)


def test_a_call_far_behind_keeps_reading_through_short_polls():
    """Catching up, a poll may return less than max_poll_records (the fetched data ran out
    before the next fetch came back): the call goes on while a partition is more than one
    poll from its end, so that catching up is not one runner round trip per poll."""
    times = [T0 + i * 100 for i in range(40)]
    config = KafkaReadConfig(
        "localhost:1", "trades", "g-behind", event_time=TradeEventTime(),
        commit_offsets="never", max_poll_records=50, poll_budget_s=60.0,
    )  # fmt: skip
    consumer = _ScriptedConsumer(
        ends={0: 1000},
        polls=[{0: _trades_at(0, 0, times[:20])}, {0: _trades_at(0, 20, times[20:])}, {}],
    )
    reader = _Reader(consumer, "trades")
    from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
    from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker

    tracker = ThreadsafeRestrictionTracker(TopicTracker(TopicRestriction(start={0: 0}, max_ts={})))
    batches = list(
        ReadTopicFn()._read(
            config, reader, _Finalizer(), RestrictionTrackerView(tracker),
            ManualWatermarkEstimator(None),
        )
    )  # fmt: skip
    assert len(batches) == 2  # both short polls in one call


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


class _Finalizer:
    def __init__(self) -> None:
        self.callbacks = []

    def register(self, callback) -> None:
        self.callbacks.append(callback)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("start", "deleted", "why"),
    [(40, 0, "beyond its end 5"), (0, 2, "2 records were deleted before they were read")],
    ids=["beyond_end", "before_beginning"],
)
def test_a_position_outside_the_partition_reads_it_from_the_beginning_and_warns(
    kafka_broker, caplog, start, deleted, why
):
    import uuid

    from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
    from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker

    from tests.support.kafka import create_topics, produce
    from tradestream.transforms.kafka_source import _new_consumer

    topic = f"trades-range-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [topic], partitions=1)
    values = [trade(time_ms=T0 + i).SerializeToString() for i in range(5)]
    produce(kafka_broker.bootstrap, topic, [(b"BTC-USD", v) for v in values])
    if deleted:  # retention deleted the oldest records before they were read
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap})
        for future in admin.delete_records([TopicPartition(topic, 0, deleted)]).values():
            future.result(timeout=30)
        values = values[deleted:]
    config = KafkaReadConfig(kafka_broker.bootstrap, topic, "g-range", commit_offsets="never")
    # A restored restriction of an earlier incarnation of the topic (or of deleted records).
    restriction = TopicRestriction(start={0: start}, max_ts={})
    reader = _new_consumer(config)
    read = []
    try:
        for _ in range(40):  # each call as the runner makes it: on the previous residual
            tracker = ThreadsafeRestrictionTracker(TopicTracker(restriction))
            batches = ReadTopicFn()._read(
                config,
                reader,
                _Finalizer(),
                RestrictionTrackerView(tracker),
                ManualWatermarkEstimator(None),
            )
            read += [v for batch in batches for v in batch.value]
            restriction = tracker.deferred_status()[0]
            if len(read) >= len(values):
                break
    finally:
        reader.close()
    assert read == values, "every record of the partition is read, none skipped"
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        f"offset {start} is" in m and why in m and f"reading from offset {deleted}" in m
        for m in warned
    ), warned


def _committed(bootstrap: str, topic: str, group: str) -> int | None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (tp,) = consumer.committed([TopicPartition(topic, 0)], timeout=30)
        return tp.offset if tp.offset >= 0 else None
    finally:
        consumer.close()


@pytest.mark.integration
def test_a_call_cut_short_by_a_checkpoint_still_commits_what_it_claimed(kafka_broker):
    import uuid

    from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
    from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker

    from tests.support.kafka import create_topics, produce
    from tradestream.transforms.kafka_source import _new_consumer

    topic = f"trades-cut-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [topic], partitions=1)
    values = [trade(time_ms=T0 + i).SerializeToString() for i in range(6)]
    produce(kafka_broker.bootstrap, topic, [(b"BTC-USD", v) for v in values])
    config = KafkaReadConfig(kafka_broker.bootstrap, topic, "g-cut", max_poll_records=2)
    reader = _new_consumer(config)
    tracker = ThreadsafeRestrictionTracker(TopicTracker(TopicRestriction(start={0: 0}, max_ts={})))
    finalizer = _Finalizer()
    try:
        batches = ReadTopicFn()._read(
            config,
            reader,
            finalizer,
            RestrictionTrackerView(tracker),
            ManualWatermarkEstimator(None),
        )
        first = next(batches)
        tracker.try_split(0)  # the runner checkpoints while the call still reads
        assert list(batches) == [], "nothing is claimed after the split"
    finally:
        reader.close()
    assert first.value == values[:2]
    assert len(finalizer.callbacks) == 1, "the claimed records' offsets await the checkpoint"
    finalizer.callbacks[0]()
    assert _committed(kafka_broker.bootstrap, topic, "g-cut") == 2


def _one_partition_topic(kafka_broker, name: str, records: int, group: str) -> KafkaReadConfig:
    """A new one-partition topic of `records` records, read for `group`."""
    import uuid

    from tests.support.kafka import create_topics, produce

    topic = f"trades-{name}-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [topic], partitions=1)
    produce(kafka_broker.bootstrap, topic, [(b"BTC-USD", b"x")] * records)
    return KafkaReadConfig(kafka_broker.bootstrap, topic, group)


@pytest.mark.integration
def test_finalizers_run_out_of_order_never_move_the_group_offsets_back(kafka_broker):
    config = _one_partition_topic(kafka_broker, "order", 9, "g-order")
    reader = ReadTopicFn()
    # Beam runs finalizers on threads of its own: a later bundle's may run first.
    reader._commit(config, {0: 9})
    reader._commit(config, {0: 4})
    assert _committed(kafka_broker.bootstrap, config.topic, "g-order") == 9


@pytest.mark.integration
def test_a_finalizer_commits_without_taking_or_making_a_reader(kafka_broker):
    from tradestream.transforms.kafka_source import _POOL

    config = _one_partition_topic(kafka_broker, "commit", 5, "g-commit")
    ReadTopicFn()._commit(config, {0: 5})  # as a bundle finalizer does
    assert _committed(kafka_broker.bootstrap, config.topic, "g-commit") == 5
    # A reader made or lent for the commit would be the next read call's: a cold one.
    assert not _POOL._idle.get(config)
