"""An unbounded Kafka source for the Python SDK: a splittable DoFn over one topic.

Why not Beam's cross-language `ReadFromKafka`: its built-in timestamp policies advance an
idle (caught-up) partition's watermark to wall-clock time, so replaying recorded trades
(event times in the past) turns everything after the first pause into late data. This
source derives the watermark from the data alone, which works for live and replayed
trades alike (see README, "Reading Kafka").

Semantics:
- One restriction covers every partition of the topic: the start offset per partition
  and, per partition, the largest record timestamp seen so far (plain data, part of the
  runner's checkpoints).
- Start: the consumer group's committed offsets; partitions without one start at
  `start_from` (`earliest` or `latest`).
- Reading: a confluent-kafka (librdkafka) consumer, assigned the topic's partitions;
  librdkafka fetches and decodes records on its own threads, and a poll takes up to
  `max_poll_records` of them in one `consume` call.
- Element: a batch, the list of the values of one partition's records from one poll
  (keys are dropped), claimed together and stamped with the earliest event time among
  them (by default the Kafka record timestamp; TradeStream's producers set it to the
  trade time). Batches, not records: the SDK's cost per element is paid once per poll
  rather than at every record and at each step after it (measured: ~20% of the source's
  time).
- Watermark: the minimum over *active* partitions of (largest timestamp seen - delay).
  A partition is idle when it is caught up (position = high watermark) and has had no
  record for `idle_after_s`; idle partitions do not hold the watermark back (the usual
  idleness rule: a partition that wakes up is assumed to carry current data). When every
  partition is idle the watermark holds at the latest timestamp seen - delay: it never
  jumps to wall-clock time.
- The watermark a read call publishes never passes the earliest event time among the
  batches that same call emitted: it trails the data by one call. Why: it reaches the
  runner with the call's residual, and Flink may deliver it downstream before the call's
  own batches. When a checkpoint barrier arrives while the call's bundle is open, Beam's
  Flink DoFnOperator.snapshotState finishes the bundle with its output buffered (sent only
  when the next bundle starts), while the bundle-finished callback emits the new watermark
  at once. Measured: a catch-up call read one partition's trades from minute 28:41 to
  1:36:13 of the data and published 1:36:13 while the first checkpoint was taken; the
  next step closed minutes 28 and 29 before that call's trades of those minutes reached
  it, and dead-lettered them all as late. Batches at or after the watermark that overtook
  them are still on time. (Flink's `--finish_bundle_before_checkpointing` avoids the
  buffering too; this source does not depend on it.)
- In band (`watermark_in_band`): each read call also emits a `SourceWatermark`, after its
  batches, with the watermark the partitions allow *without* trailing the call. A step
  downstream that sees it after the batches it follows (one producing subtask, Flink's
  channels in order) may close event-time work up to it at once, instead of waiting for
  the runner's watermark: on Beam's Flink runner that arrives only between bundles of
  each stage, and a keyed stage fires its timers only after its open bundle ends, at
  least two bundle times later (measured at 2,000 trades/s, 1 s candles: the watermark
  left the source ~170 ms after a candle's end and its timers fired ~470 ms after).
- Offsets are committed to the group in the bundle finalizer, i.e. only after the runner
  has durably committed the bundle's output (after a Flink checkpoint), and only forwards
  (finalizers run in any order). A job without checkpoints commits them as it reads instead
  (`commit_offsets="read"`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from tradestream.kafka_clients.offsets import watermark_offsets
from tradestream.kafka_clients.properties import CONNECTION_PROPERTIES, consumer_config

log = logging.getLogger(__name__)


ClientConfig = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class PlaintextClient:
    """Client properties for brokers without TLS or SASL: the bootstrap servers.

    The default `ClientConfig` of the Kafka transforms. A pipeline that may meet a secured
    cluster passes its own factory instead: a picklable, hashable callable that builds the
    properties on the worker (bootstrap servers -> librdkafka properties, as
    `tradestream.kafka_clients.config.client_config` makes them), so that credentials are read
    there and never travel in the pipeline graph.
    """

    def __call__(self, bootstrap_servers: str) -> dict[str, Any]:
        return {"bootstrap.servers": bootstrap_servers, **CONNECTION_PROPERTIES}


PLAINTEXT = PlaintextClient()


class SourceWatermark(NamedTuple):
    """The source's watermark (epoch ms), in band: every batch the same reader emitted
    before it came first; records after it with earlier times are late (see the module
    docstring). Only with `KafkaReadConfig.watermark_in_band`."""

    ms: int


@dataclass(frozen=True)
class KafkaReadConfig:
    """What to read and how. Plain data: pickled with the DoFn."""

    bootstrap_servers: str
    topic: str
    group_id: str
    start_from: str = "earliest"  # for partitions without a committed offset
    watermark_delay_ms: int = 0
    idle_after_s: float = 2.0
    max_poll_records: int = 2000
    # Longest time spent reading per process() call while behind (a call ends at once when
    # every partition is within max_poll_records of its end). Every call boundary costs a
    # bundle and a residual round trip through the runner: at 0.25 s the job server alone
    # spent 41 us per trade catching up; at 1 s, 23 us, and the pipeline read 17.2k trades/s
    # instead of 11.8k (bench/realtime.py, 2026-12-07).
    poll_budget_s: float = 1.0
    # When the read offsets are committed to the group: "finalized" (after the runner has
    # durably checkpointed the bundle's output: needs checkpointing, without which a runner
    # never finalizes bundles and the SDK keeps every one of them), "read" (at the end of
    # each read call: for a job without checkpoints), or "never".
    commit_offsets: str = "finalized"
    # Event time of a record from its (key, value), in epoch ms, or None when the record
    # cannot say (malformed). Default: the Kafka record timestamp. Records without an event
    # time never move the watermark.
    event_time: Callable[[bytes | None, bytes | None], int | None] | None = None
    client_options: tuple[tuple[str, object], ...] = ()  # extra librdkafka properties
    # Builds the client's connection and security properties on the worker (see
    # PlaintextClient).
    client_config: ClientConfig = PLAINTEXT
    # Emit a SourceWatermark after each read call's batches (when it moved): for a
    # consumer that closes candles on it (RecordsToSignals).
    watermark_in_band: bool = False

    def __post_init__(self) -> None:
        if self.start_from not in ("earliest", "latest"):
            raise ValueError("start_from must be 'earliest' or 'latest'")
        if self.commit_offsets not in ("finalized", "read", "never"):
            raise ValueError("commit_offsets must be 'finalized', 'read' or 'never'")


@dataclass
class TopicRestriction:
    """Offsets still to read (start, inclusive) per partition; `stop` bounds a finished part."""

    start: dict[int, int]
    max_ts: dict[int, int]  # largest record timestamp (ms) seen per partition
    stop: dict[int, int] | None = None  # None: unbounded


class TopicTracker(RestrictionTracker):
    """Claims (partition, offset) positions; checkpoints split at the current positions."""

    def __init__(self, restriction: TopicRestriction) -> None:
        self._restriction = restriction
        self._next = dict(restriction.start)
        self._max_ts = dict(restriction.max_ts)
        self._done = False
        self._claimed = 0

    def current_restriction(self) -> TopicRestriction:
        return self._restriction

    def try_claim(self, position) -> bool:
        partition, offset, ts_ms = position
        if self._done:
            return False
        stop = self._restriction.stop
        if stop is not None and offset >= stop.get(partition, offset):
            return False
        self._next[partition] = offset + 1
        if ts_ms and ts_ms > self._max_ts.get(partition, -(2**62)):
            self._max_ts[partition] = ts_ms
        self._claimed += 1
        return True

    def try_split(self, fraction_of_remainder):
        if self._done or self._restriction.stop is not None:
            return None
        # Only checkpoints (split at "now") are supported: a topic is not divisible.
        primary = TopicRestriction(
            dict(self._restriction.start), dict(self._max_ts), stop=dict(self._next)
        )
        residual = TopicRestriction(dict(self._next), dict(self._max_ts), stop=None)
        self._restriction = primary
        self._done = True
        return primary, residual

    def check_done(self) -> None:
        if not self._done and self._restriction.stop is None:
            raise ValueError("an unbounded topic restriction ended without a checkpoint")

    def current_progress(self) -> RestrictionProgress:
        return RestrictionProgress(completed=float(self._claimed), remaining=1.0)

    def is_bounded(self) -> bool:
        return self._restriction.stop is not None


# A reader may be made while the brokers are away (Beam makes a DoFn instance per bundle
# processor, and a new processor whenever the previous ones still await their bundles'
# finalization): keep asking for the topic's partitions as long as a producer keeps a record
# (its delivery timeout) rather than fail the bundle, and reconnect within a second once the
# brokers are back (CONNECTION_PROPERTIES, whatever client factory the pipeline gave).
BROKER_WAIT_S = 120.0
# How long a request to the brokers (offsets, partitions) may take before it fails.
REQUEST_TIMEOUT_S = 30.0
# How long a poll waits for a first record when none is at hand (an empty poll ends a call).
POLL_WAIT_S = 0.05

# The Message accessors, unbound: map() and groupby() call them without a Python frame per
# record.
_ERROR = Message.error
_PARTITION = Message.partition
_KEY = Message.key
_VALUE = Message.value
_TIMESTAMP = Message.timestamp


def _consumer_properties(config: KafkaReadConfig) -> dict[str, Any]:
    """The group's consumer: commits only explicitly, never resets a position by itself."""
    base = {
        **CONNECTION_PROPERTIES,
        **config.client_config(config.bootstrap_servers),
        **dict(config.client_options),
    }
    return consumer_config(base, group_id=config.group_id)


# librdkafka's codes for brokers that do not answer (for now: they come back).
_BROKERS_AWAY = (KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN)


def topic_partitions(consumer: Consumer, topic: str) -> list[int]:
    """The topic's partitions (none if it does not exist); a broker restart is waited out."""
    deadline = time.monotonic() + BROKER_WAIT_S
    while True:
        try:
            metadata = consumer.list_topics(topic, timeout=5.0).topics[topic]
        except KafkaException as exc:
            if exc.args[0].code() not in _BROKERS_AWAY or time.monotonic() > deadline:
                raise
            log.warning("waiting for the Kafka brokers (%s)", exc.args[0].str())
            time.sleep(1.0)
            continue
        error = metadata.error
        if metadata.partitions or error is None or error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return sorted(metadata.partitions)
        raise KafkaException(error)


def partition_edges(
    consumer: Consumer, topic: str, partitions: list[int]
) -> dict[int, tuple[int, int]]:
    """partition -> (its first offset, the offset after its last record), asked of the leaders.

    A partition whose leader is not settled yet (a topic just created, a broker restarting)
    is asked again until REQUEST_TIMEOUT_S.
    """
    return {
        p: watermark_offsets(consumer, TopicPartition(topic, p), REQUEST_TIMEOUT_S)
        for p in partitions
    }


class _Reader:
    """A consumer of a topic's partitions, and the offset of the next record it hands out.

    The partitions are assigned by the first read call, at its offsets (nothing is fetched
    from anywhere else first); later calls move a partition only where the call's offsets
    differ from where the consumer is (a split ended the previous call before the records
    it had polled, or another process read meanwhile).
    """

    def __init__(self, consumer: Consumer, topic: str) -> None:
        self.consumer = consumer
        self.topic = topic
        # partition -> offset of its next record; None: not assigned yet. A partition is
        # missing while stopped at an out-of-range error.
        self.next_offset: dict[int, int] | None = None
        self._tps: dict[int, TopicPartition] = {}

    def read_from(self, positions: dict[int, int]) -> None:
        """Makes the next records of each partition in `positions` those from its offset."""
        if self.next_offset is None:
            self.consumer.assign([TopicPartition(self.topic, p, o) for p, o in positions.items()])
            self.next_offset = dict(positions)
            return
        for partition, offset in positions.items():
            if partition not in self.next_offset:
                # librdkafka stops fetching a partition at an out-of-range error and refuses
                # to seek it ("Erroneous state"): it is assigned afresh.
                tp = TopicPartition(self.topic, partition)
                self.consumer.incremental_unassign([tp])
                self.consumer.incremental_assign([TopicPartition(self.topic, partition, offset)])
            elif self.next_offset[partition] != offset:
                self.consumer.seek(TopicPartition(self.topic, partition, offset))
            self.next_offset[partition] = offset

    def poll(self, max_records: int) -> tuple[dict[int, list[Message]], dict[int, int]]:
        """Up to `max_records` records, by partition (each in offset order), and errors.

        Takes what librdkafka has fetched already, or waits up to POLL_WAIT_S for a first
        record. (`consume` with a timeout would wait all of it whenever fewer than
        `max_records` are at hand, as they are on a live topic: latency for nothing.)

        Returns:
            partition -> its records, and partition -> the offset that was out of its
            range (librdkafka's `_AUTO_OFFSET_RESET` error; the partition stops there).
        """
        messages = self.consumer.consume(max_records, 0)
        if not messages:
            first = self.consumer.poll(POLL_WAIT_S)
            if first is None:
                return {}, {}
            messages = [first]
            if max_records > 1:
                messages += self.consumer.consume(max_records - 1, 0)
        out_of_range: dict[int, int] = {}
        if any(map(_ERROR, messages)):  # rare: the slow path only then
            messages, out_of_range = _errors_apart(messages)
        batches: dict[int, list[Message]] = {}
        # librdkafka hands a partition's records out in runs, a fetched batch at a time.
        for partition, run in groupby(messages, _PARTITION):
            batch = batches.get(partition)
            if batch is None:
                batches[partition] = list(run)
            else:
                batch.extend(run)
        for partition, batch in batches.items():
            self.next_offset[partition] = batch[-1].offset() + 1
        for partition in out_of_range:
            # Records polled along with the error were fetched before the log changed under
            # them (the topic recreated or truncated): the partition is read again anyway.
            batches.pop(partition, None)
            self.next_offset.pop(partition, None)  # stopped: read_from assigns it again
        return batches, out_of_range

    def highwater(self, partition: int) -> int | None:
        """The partition's end as of the latest fetch (no request); None before any."""
        tp = self._tps.get(partition)
        if tp is None:
            tp = self._tps[partition] = TopicPartition(self.topic, partition)
        high = self.consumer.get_watermark_offsets(tp, cached=True)[1]
        return high if high >= 0 else None

    def close(self) -> None:
        self.consumer.close()


def _errors_apart(messages: list[Message]) -> tuple[list[Message], dict[int, int]]:
    """The records among `messages`, and partition -> offset of each out-of-range error.

    Other errors are logged: librdkafka recovers from consumer errors by itself (a broker
    away, a leader moved) and keeps fetching. A fatal one raises.
    """
    records, out_of_range = [], {}
    for message in messages:
        error = message.error()
        if error is None:
            records.append(message)
        elif error.code() == KafkaError._AUTO_OFFSET_RESET:
            out_of_range[message.partition()] = message.offset()
        elif error.fatal():
            raise KafkaException(error)
        else:
            log.warning("reading %s: %s", message.topic() or "Kafka", error.str())
    return records, out_of_range


def _restart_out_of_range(reader: _Reader, offsets: dict[int, int]) -> dict[int, int]:
    """Reads a partition from its beginning when the position is outside its records.

    A position beyond the end means the topic was recreated or truncated under a running or
    restored job (its records since then are the new ones, all of which are read); one
    before the beginning means records were deleted by retention before they were read.
    Either way the job goes on from the partition's first record, and says so: the
    `realtime` launcher refuses such positions at start, this covers those met later.

    Args:
        offsets: partition -> the offset that was out of range (from librdkafka's
            `_AUTO_OFFSET_RESET` error; consumers never reset a position themselves).

    Returns:
        partition -> the offset now read from.
    """
    moved = {}
    for partition, offset in offsets.items():
        beginning, end = partition_edges(reader.consumer, reader.topic, [partition])[partition]
        if offset is None or offset < 0:
            lost = "unknown"
        elif offset > end:
            lost = f"beyond its end {end}: the topic was recreated or truncated"
        else:
            lost = f"before its beginning {beginning}: {beginning - offset} records "
            lost += "were deleted before they were read"
        log.warning(
            "%s[%d]: offset %s is %s; reading from offset %d (records older than the "
            "watermark go to the dead letters as late)",
            reader.topic,
            partition,
            offset,
            lost,
            beginning,
        )
        reader.read_from({partition: beginning})
        moved[partition] = beginning
    return moved


def _new_consumer(config: KafkaReadConfig) -> _Reader:
    """A reader of the topic for the group (its partitions are assigned by the first read)."""
    consumer = Consumer(_consumer_properties(config))
    try:
        partitions = topic_partitions(consumer, config.topic)
    except BaseException:
        consumer.close()
        raise
    if not partitions:
        consumer.close()
        raise ValueError(f"topic {config.topic!r} does not exist (or has no partitions)")
    log.info(
        "new reader of %s (group %s), partitions %s", config.topic, config.group_id, partitions
    )
    return _Reader(consumer, config.topic)


class _ConsumerPool:
    """Readers and per-partition activity shared by every ReadTopicFn of the process.

    Beam makes a new DoFn instance for each new bundle processor, and keeps a processor
    until its bundle is finalized (after the next checkpoint): with short bundles that is
    hundreds of instances per checkpoint interval. Per-instance consumers would bootstrap
    again each time, and per-instance activity times would forget which partitions were
    recently active (the idleness rule). A reader is lent to one caller at a time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[KafkaReadConfig, list[_Reader]] = {}
        self._last_record_at: dict[KafkaReadConfig, dict[int, float]] = {}
        self._commit_locks: dict[KafkaReadConfig, threading.Lock] = {}
        self._committed: dict[KafkaReadConfig, dict[int, int]] = {}
        self._committers: dict[KafkaReadConfig, Consumer] = {}

    def acquire(self, config: KafkaReadConfig) -> _Reader:
        with self._lock:
            idle = self._idle.get(config)
            if idle:
                return idle.pop()
        return _new_consumer(config)

    def release(self, config: KafkaReadConfig, reader: _Reader) -> None:
        with self._lock:
            self._idle.setdefault(config, []).append(reader)

    @contextlib.contextmanager
    def commits(self, config: KafkaReadConfig):
        """One commit at a time per topic and group: yields (partition -> offset committed,
        a consumer of the group that only commits).

        Finalizers commit with a consumer of their own, not a reader: a reader lent to a
        finalizer was made anew whenever the read call held the only one, and the next read
        call could then take that cold reader (a fresh assignment and first fetch) while
        the warm one sat idle, fetching ahead for nobody.
        """
        with self._lock:
            lock = self._commit_locks.setdefault(config, threading.Lock())
            committed = self._committed.setdefault(config, {})
        with lock:
            committer = self._committers.get(config)
            if committer is None:
                committer = self._committers[config] = Consumer(_consumer_properties(config))
            yield committed, committer

    def last_record_at(self, config: KafkaReadConfig) -> dict[int, float]:
        """partition -> monotonic time of its latest record (shared, updated in place)."""
        with self._lock:
            return self._last_record_at.setdefault(config, {})


_POOL = _ConsumerPool()


class _TopicRestrictions(RestrictionProvider):
    """The element is the KafkaReadConfig; its restriction is the whole topic."""

    def initial_restriction(self, config: KafkaReadConfig) -> TopicRestriction:
        consumer = Consumer(_consumer_properties(config))
        try:
            partitions = topic_partitions(consumer, config.topic)
            if not partitions:
                raise ValueError(f"topic {config.topic!r} does not exist (or has no partitions)")
            committed = consumer.committed(
                [TopicPartition(config.topic, p) for p in partitions], timeout=REQUEST_TIMEOUT_S
            )
            failed = next((tp.error for tp in committed if tp.error is not None), None)
            if failed is not None:
                raise KafkaException(failed)
            # OFFSET_INVALID (negative): the group has committed nothing on that partition.
            start = {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
            fresh = [p for p in partitions if p not in start]
            edge = 0 if config.start_from == "earliest" else 1
            for partition, edges in partition_edges(consumer, config.topic, fresh).items():
                start[partition] = edges[edge]
            start = dict(sorted(start.items()))
        finally:
            consumer.close()
        log.info("reading %s from offsets %s (group %s)", config.topic, start, config.group_id)
        return TopicRestriction(start=start, max_ts={})

    def create_tracker(self, restriction: TopicRestriction) -> TopicTracker:
        return TopicTracker(restriction)

    def restriction_size(self, element, restriction) -> float:
        return 1.0

    def restriction_coder(self):
        return PickleCoder()

    def split(self, element, restriction):
        yield restriction


class _WatermarkProvider(WatermarkEstimatorProvider):
    def initial_estimator_state(self, element, restriction):
        return MIN_TIMESTAMP

    def create_watermark_estimator(self, estimator_state):
        return ManualWatermarkEstimator(estimator_state)

    def estimator_state_coder(self):
        return PickleCoder()


_RESTRICTIONS = _TopicRestrictions()
_WATERMARKS = _WatermarkProvider()


def _moved(allowed_ms: int | None, before: Timestamp | None) -> bool:
    return allowed_ms is not None and (before is None or allowed_ms * 1000 > before.micros)


def _caught_up(reader: _Reader, positions: dict[int, int], slack: int = 0) -> bool:
    """Every partition read up to the high watermark of its latest fetch (less `slack`)."""
    for partition, position in positions.items():
        highwater = reader.highwater(partition)
        if highwater is None or position < highwater - slack:
            return False
    return True


class ReadTopicFn(beam.DoFn):
    """Splittable DoFn: an impulse element -> the topic's records, as batches of values."""

    def __init__(self) -> None:
        self._records = Metrics.counter("ReadFromKafkaTopic", "records")

    def process(
        self,
        config: KafkaReadConfig,
        # The finalizer comes first: Beam passes it by position, the SDF params by name.
        finalizer=beam.DoFn.BundleFinalizerParam,
        tracker=beam.DoFn.RestrictionParam(_RESTRICTIONS),
        watermark=beam.DoFn.WatermarkEstimatorParam(_WATERMARKS),
    ):
        reader = _POOL.acquire(config)
        try:
            yield from self._read(config, reader, finalizer, tracker, watermark)
        finally:
            _POOL.release(config, reader)

    def _read(self, config: KafkaReadConfig, reader: _Reader, finalizer, tracker, watermark):
        last_record_at = _POOL.last_record_at(config)
        restriction = tracker.current_restriction()
        # The tracker is a thread-safe view: keep our own copy of the progress.
        positions = dict(restriction.start)
        max_ts = dict(restriction.max_ts)
        reader.read_from(positions)
        deadline = time.monotonic() + config.poll_budget_s
        claimed_any = False
        earliest_ms = None  # the earliest stamp of a batch emitted by this call
        try:
            while time.monotonic() < deadline:
                batches, out_of_range = reader.poll(config.max_poll_records)
                if out_of_range:
                    moved = _restart_out_of_range(reader, out_of_range)
                    # The move is claimed, so that the next checkpoint holds it (a restriction
                    # otherwise starts at the old offset again after every deferral).
                    for partition, offset in moved.items():
                        if not tracker.try_claim((partition, offset - 1, 0)):
                            return
                        positions[partition] = offset
                        claimed_any = True
                elif not batches:
                    # Nothing at hand: caught up, unless a partition has had no fetch answer
                    # yet (a reader just assigned, whose first records may be on their way).
                    if all(reader.highwater(p) is not None for p in positions):
                        break
                    continue
                now = time.monotonic()
                for partition, records in batches.items():
                    last_record_at[partition] = now
                    batch = self._batch(config, partition, records, tracker, positions, max_ts)
                    if batch is None:  # the claim failed: the runner split the restriction here
                        return
                    claimed_any = True
                    stamp_ms = batch.timestamp.micros // 1000
                    if earliest_ms is None or stamp_ms < earliest_ms:
                        earliest_ms = stamp_ms
                    yield batch
                # Caught up, or within one poll of it on every partition: end this call so
                # that the watermark is published now (latency; records keep arriving while
                # a live topic is read, so exactly caught up is rarely true then). Further
                # behind: keep reading until the budget is spent (throughput, fewer round
                # trips; a poll may return less than max_poll_records while behind).
                if _caught_up(reader, positions, slack=config.max_poll_records):
                    break
            before = watermark.current_watermark()
            allowed = self._advance_watermark(
                config, reader, positions, max_ts, watermark, last_record_at, earliest_ms
            )
            # In band when it moved past what the runner has (a quiet topic sends nothing).
            if config.watermark_in_band and _moved(allowed, before):
                yield TimestampedValue(SourceWatermark(allowed), watermark.current_watermark())
            tracker.defer_remainder(Duration(micros=0 if claimed_any else 100_000))
        finally:
            # Also when the call ends early on a failed claim: what it claimed before was
            # emitted, and a later call may have nothing new to claim and commit it with.
            if claimed_any:
                self._settle(config, reader, finalizer, positions)

    def _settle(self, config: KafkaReadConfig, reader: _Reader, finalizer, positions) -> None:
        """Commits the claimed `positions` as `config.commit_offsets` says."""
        if config.commit_offsets == "finalized":
            finalizer.register(lambda: self._commit(config, positions))
        elif config.commit_offsets == "read":
            self._commit(config, positions, reader)

    def _batch(self, config, partition, records, tracker, positions, max_ts):
        """The records' values as one list, claimed together, at their earliest event time.

        None when the claim fails (the restriction was split before these records).
        """
        values = list(map(_VALUE, records))
        if config.event_time is None:  # the Kafka record timestamps
            times = [ts for kind, ts in map(_TIMESTAMP, records) if kind != TIMESTAMP_NOT_AVAILABLE]
        else:
            times = [t for t in map(config.event_time, map(_KEY, records), values) if t is not None]
        newest = max(times, default=0)
        last_offset = records[-1].offset()
        if not tracker.try_claim((partition, last_offset, newest)):
            return None
        positions[partition] = last_offset + 1
        stamp = min(times) if times else max_ts.get(partition, records[0].timestamp()[1])
        if times and newest > max_ts.get(partition, -(2**62)):
            max_ts[partition] = newest
        self._records.inc(len(records))
        return TimestampedValue(values, Timestamp(micros=stamp * 1000))

    def _advance_watermark(
        self, config, reader, positions, max_ts, watermark, last_record_at, emitted_ms=None
    ) -> int | None:
        """Moves the watermark to what the partitions allow, but not past `emitted_ms`;
        returns what they allow (ms; None: nothing yet).

        Args:
            emitted_ms: the earliest stamp of the batches this call emitted (None: none).
                Those batches may reach the next step after this watermark (see the module
                docstring), so it must not pass them.
        """
        now = time.monotonic()
        active = []
        for partition, position in positions.items():
            highwater = reader.highwater(partition)
            caught_up = highwater is not None and position >= highwater
            seen = max_ts.get(partition)
            if not caught_up:
                if seen is None:
                    return None  # records wait in a partition not read yet: hold it
                active.append(seen)
                continue
            quiet = now - last_record_at.get(partition, 0.0) >= config.idle_after_s
            if seen is not None and not quiet:
                active.append(seen)
        candidates = active or list(max_ts.values())
        if not candidates:
            return None
        allowed = min(candidates) - config.watermark_delay_ms
        proposed = Timestamp(
            micros=(allowed if emitted_ms is None else min(allowed, emitted_ms)) * 1000
        )
        current = watermark.current_watermark()
        if current is None or proposed > current:
            watermark.set_watermark(proposed)
        return allowed

    def _commit(self, config: KafkaReadConfig, positions: dict[int, int], held=None) -> None:
        """Commits `positions` with the reader `held` by the caller, or the pool's committer.

        Beam runs bundle finalizers on threads of its own, in any order: a bundle's
        finalizer may run after that of a later bundle, and its older positions would then
        move the group's offsets back. Only positions ahead of what this process already
        committed are sent (a finalized bundle's records are in a completed checkpoint, so
        the group's offsets never need to go back while the job runs).
        """
        with _POOL.commits(config) as (committed, committer):
            ahead = {p: o for p, o in positions.items() if o > committed.get(p, -1)}
            if not ahead:
                return
            offsets = [TopicPartition(config.topic, p, o) for p, o in ahead.items()]
            consumer = committer if held is None else held.consumer
            try:
                done = consumer.commit(offsets=offsets, asynchronous=False)
                failed = next((tp.error for tp in done or [] if tp.error is not None), None)
                if failed is not None:
                    raise KafkaException(failed)
                committed.update(ahead)
            except Exception as exc:  # noqa: BLE001 - a failed commit only means re-reading
                log.warning("committing offsets %s failed: %s", ahead, exc)


class ReadFromKafkaTopic(beam.PTransform):
    """PBegin -> PCollection[list[value bytes]], unbounded, event-time stamped batches."""

    def __init__(self, config: KafkaReadConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, pbegin):
        config = self._config
        return (
            pbegin
            | "Impulse" >> beam.Impulse()
            | "Config" >> beam.Map(lambda _: config)
            | "Read" >> beam.ParDo(ReadTopicFn())
        )
