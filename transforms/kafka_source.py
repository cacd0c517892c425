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
from typing import Any

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from kafka.errors import OffsetOutOfRangeError

log = logging.getLogger(__name__)


ClientConfig = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class PlaintextClient:
    """Client options for brokers without TLS or SASL: only the bootstrap servers.

    The default `ClientConfig` of the Kafka transforms. A pipeline that may meet a secured
    cluster passes its own factory instead: a picklable, hashable callable that builds the
    options on the worker (bootstrap servers -> kafka-python keyword arguments), so that
    credentials are read there and never travel in the pipeline graph.
    """

    def __call__(self, bootstrap_servers: str) -> dict[str, Any]:
        return {"bootstrap_servers": bootstrap_servers}


PLAINTEXT = PlaintextClient()


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
    client_options: tuple[tuple[str, object], ...] = ()  # extra kafka-python options
    # Builds the client's connection and security options on the worker (see PlaintextClient).
    client_config: ClientConfig = PLAINTEXT

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
# finalization): keep bootstrapping as long as a producer keeps a record (its delivery
# timeout) rather than fail the bundle, and reconnect within a second once the brokers are
# back (kafka-python's reconnect backoff otherwise grows to 30 s).
_OUTAGE_OPTIONS = {"reconnect_backoff_max_ms": 1000, "bootstrap_timeout_ms": 120_000}


def _partitions_waiting_for_brokers(consumer, topic: str) -> set[int]:
    """The topic's partitions; a broker restart is waited out (metadata raises at once)."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    deadline = time.monotonic() + _OUTAGE_OPTIONS["bootstrap_timeout_ms"] / 1000
    while True:
        try:
            return consumer.partitions_for_topic(topic) or set()
        except (KafkaConnectionError, KafkaTimeoutError) as exc:
            if time.monotonic() > deadline:
                consumer.close()
                raise
            log.warning("waiting for the Kafka brokers (%s)", exc)
            time.sleep(1.0)


def _restart_out_of_range(consumer, offsets: dict) -> dict[int, int]:
    """Reads a partition from its beginning when the position is outside its records.

    A position beyond the end means the topic was recreated or truncated under a running or
    restored job (its records since then are the new ones, all of which are read); one
    before the beginning means records were deleted by retention before they were read.
    Either way the job goes on from the partition's first record, and says so: the
    `realtime` launcher refuses such positions at start, this covers those met later.

    Returns:
        partition -> the offset now read from.
    """
    tps = list(offsets) or list(consumer.assignment())
    beginning = consumer.beginning_offsets(tps)
    end = consumer.end_offsets(tps)
    for tp in tps:
        offset = offsets.get(tp)
        if offset is None:
            lost = "unknown"
        elif offset > end[tp]:
            lost = f"beyond its end {end[tp]}: the topic was recreated or truncated"
        else:
            lost = f"before its beginning {beginning[tp]}: {beginning[tp] - offset} records "
            lost += "were deleted before they were read"
        log.warning(
            "%s[%d]: offset %s is %s; reading from offset %d (records older than the "
            "watermark go to the dead letters as late)",
            tp.topic,
            tp.partition,
            offset,
            lost,
            beginning[tp],
        )
        consumer.seek(tp, beginning[tp])
    return {tp.partition: beginning[tp] for tp in tps}


def _new_consumer(config: KafkaReadConfig):
    """A KafkaConsumer of the group, assigned to every partition of the topic."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        **{
            **config.client_config(config.bootstrap_servers),
            **_OUTAGE_OPTIONS,
            **dict(config.client_options),
        },
        group_id=config.group_id,
        enable_auto_commit=False,
        # Never reset a position silently (kafka-python only logs INFO): an offset out of
        # the partition's range raises, and _restart_out_of_range says what it does.
        auto_offset_reset="none",
        max_poll_records=config.max_poll_records,
    )
    partitions = sorted(_partitions_waiting_for_brokers(consumer, config.topic))
    if not partitions:
        consumer.close()
        raise ValueError(f"topic {config.topic!r} does not exist (or has no partitions)")
    tps = [TopicPartition(config.topic, p) for p in partitions]
    consumer.assign(tps)
    log.info(
        "new reader of %s (group %s), partitions %s", config.topic, config.group_id, partitions
    )
    for tp in tps:
        # process() seeks to the restriction's offsets; a position set here keeps
        # position() from asking the group coordinator first (which fails at once
        # while the brokers are away).
        consumer.seek(tp, 0)
    return consumer


class _ConsumerPool:
    """Consumers and per-partition activity shared by every ReadTopicFn of the process.

    Beam makes a new DoFn instance for each new bundle processor, and keeps a processor
    until its bundle is finalized (after the next checkpoint): with short bundles that is
    hundreds of instances per checkpoint interval. Per-instance consumers would bootstrap
    again each time, and per-instance activity times would forget which partitions were
    recently active (the idleness rule). A consumer is lent to one caller at a time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[KafkaReadConfig, list] = {}
        self._last_record_at: dict[KafkaReadConfig, dict[int, float]] = {}
        self._commit_locks: dict[KafkaReadConfig, threading.Lock] = {}
        self._committed: dict[KafkaReadConfig, dict[int, int]] = {}

    def acquire(self, config: KafkaReadConfig):
        with self._lock:
            idle = self._idle.get(config)
            if idle:
                return idle.pop()
        return _new_consumer(config)

    def release(self, config: KafkaReadConfig, consumer) -> None:
        with self._lock:
            self._idle.setdefault(config, []).append(consumer)

    @contextlib.contextmanager
    def commits(self, config: KafkaReadConfig):
        """One commit at a time per topic and group: yields partition -> offset committed."""
        with self._lock:
            lock = self._commit_locks.setdefault(config, threading.Lock())
            committed = self._committed.setdefault(config, {})
        with lock:
            yield committed

    def last_record_at(self, config: KafkaReadConfig) -> dict[int, float]:
        """partition -> monotonic time of its latest record (shared, updated in place)."""
        with self._lock:
            return self._last_record_at.setdefault(config, {})


_POOL = _ConsumerPool()


class _TopicRestrictions(RestrictionProvider):
    """The element is the KafkaReadConfig; its restriction is the whole topic."""

    def initial_restriction(self, config: KafkaReadConfig) -> TopicRestriction:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            **{**config.client_config(config.bootstrap_servers), **dict(config.client_options)},
            group_id=config.group_id,
            enable_auto_commit=False,
        )
        try:
            partitions = sorted(consumer.partitions_for_topic(config.topic) or [])
            if not partitions:
                raise ValueError(f"topic {config.topic!r} does not exist (or has no partitions)")
            tps = [TopicPartition(config.topic, p) for p in partitions]
            edge = (
                consumer.beginning_offsets(tps)
                if config.start_from == "earliest"
                else consumer.end_offsets(tps)
            )
            start = {}
            for tp in tps:
                committed = consumer.committed(tp)
                start[tp.partition] = committed if committed is not None else edge[tp]
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


def _caught_up(consumer, topic: str, positions: dict[int, int], slack: int = 0) -> bool:
    """Every partition read up to the high watermark of its latest fetch (less `slack`)."""
    from kafka import TopicPartition

    for partition, position in positions.items():
        highwater = consumer.highwater(TopicPartition(topic, partition))
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

        consumer = _POOL.acquire(config)
        try:
            yield from self._read(config, consumer, finalizer, tracker, watermark)
        finally:
            _POOL.release(config, consumer)

    def _read(self, config: KafkaReadConfig, consumer, finalizer, tracker, watermark):
        from kafka import TopicPartition

        last_record_at = _POOL.last_record_at(config)
        topic = config.topic
        restriction = tracker.current_restriction()
        # The tracker is a thread-safe view: keep our own copy of the progress.
        positions = dict(restriction.start)
        max_ts = dict(restriction.max_ts)
        for partition, offset in positions.items():
            tp = TopicPartition(topic, partition)
            if consumer.position(tp) != offset:
                consumer.seek(tp, offset)
        deadline = time.monotonic() + config.poll_budget_s
        claimed_any = False
        earliest_ms = None  # the earliest stamp of a batch emitted by this call
        try:
            while time.monotonic() < deadline:
                try:
                    batches = consumer.poll(timeout_ms=50, max_records=config.max_poll_records)
                except OffsetOutOfRangeError as exc:
                    moved = _restart_out_of_range(consumer, exc.args[0] if exc.args else {})
                    # The move is claimed, so that the next checkpoint holds it (a restriction
                    # otherwise starts at the old offset again after every deferral).
                    for partition, offset in moved.items():
                        if not tracker.try_claim((partition, offset - 1, 0)):
                            return
                        positions[partition] = offset
                        claimed_any = True
                    continue
                if not batches:
                    break
                now = time.monotonic()
                for tp, records in batches.items():
                    last_record_at[tp.partition] = now
                    batch = self._batch(config, tp.partition, records, tracker, positions, max_ts)
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
                if _caught_up(consumer, topic, positions, slack=config.max_poll_records):
                    break
            self._advance_watermark(
                config, consumer, positions, max_ts, watermark, last_record_at, earliest_ms
            )
            tracker.defer_remainder(Duration(micros=0 if claimed_any else 100_000))
        finally:
            # Also when the call ends early on a failed claim: what it claimed before was
            # emitted, and a later call may have nothing new to claim and commit it with.
            if claimed_any:
                self._settle(config, consumer, finalizer, positions)

    def _settle(self, config: KafkaReadConfig, consumer, finalizer, positions) -> None:
        """Commits the claimed `positions` as `config.commit_offsets` says."""
        if config.commit_offsets == "finalized":
            finalizer.register(lambda: self._commit(config, positions))
        elif config.commit_offsets == "read":
            self._commit(config, positions, consumer)

    def _event_time(self, config: KafkaReadConfig, record) -> int | None:
        if config.event_time is None:
            return record.timestamp
        return config.event_time(record.key, record.value)

    def _batch(self, config, partition, records, tracker, positions, max_ts):
        """The records' values as one list, claimed together, at their earliest event time.

        None when the claim fails (the restriction was split before these records).
        """
        times = [t for t in (self._event_time(config, r) for r in records) if t is not None]
        newest = max(times, default=0)
        if not tracker.try_claim((partition, records[-1].offset, newest)):
            return None
        positions[partition] = records[-1].offset + 1
        stamp = min(times) if times else max_ts.get(partition, records[0].timestamp)
        if times and newest > max_ts.get(partition, -(2**62)):
            max_ts[partition] = newest
        self._records.inc(len(records))
        return TimestampedValue([r.value for r in records], Timestamp(micros=stamp * 1000))

    def _advance_watermark(
        self, config, consumer, positions, max_ts, watermark, last_record_at, emitted_ms=None
    ) -> None:
        """Moves the watermark to what the partitions allow, but not past `emitted_ms`.

        Args:
            emitted_ms: the earliest stamp of the batches this call emitted (None: none).
                Those batches may reach the next step after this watermark (see the module
                docstring), so it must not pass them.
        """
        from kafka import TopicPartition

        now = time.monotonic()
        active = []
        for partition, position in positions.items():
            highwater = consumer.highwater(TopicPartition(config.topic, partition))
            caught_up = highwater is not None and position >= highwater
            seen = max_ts.get(partition)
            if not caught_up:
                if seen is None:
                    return  # records wait in a partition not read yet: hold the watermark
                active.append(seen)
                continue
            quiet = now - last_record_at.get(partition, 0.0) >= config.idle_after_s
            if seen is not None and not quiet:
                active.append(seen)
        candidates = active or list(max_ts.values())
        if not candidates:
            return
        wm_ms = min(candidates) - config.watermark_delay_ms
        if emitted_ms is not None:
            wm_ms = min(wm_ms, emitted_ms)
        proposed = Timestamp(micros=wm_ms * 1000)
        current = watermark.current_watermark()
        if current is None or proposed > current:
            watermark.set_watermark(proposed)

    def _commit(self, config: KafkaReadConfig, positions: dict[int, int], held=None) -> None:
        """Commits `positions` with the consumer `held` by the caller, or one from the pool.

        Beam runs bundle finalizers on threads of its own, in any order: a bundle's
        finalizer may run after that of a later bundle, and its older positions would then
        move the group's offsets back. Only positions ahead of what this process already
        committed are sent (a finalized bundle's records are in a completed checkpoint, so
        the group's offsets never need to go back while the job runs).
        """
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata

        with _POOL.commits(config) as committed:
            ahead = {p: o for p, o in positions.items() if o > committed.get(p, -1)}
            if not ahead:
                return
            offsets = {
                TopicPartition(config.topic, p): OffsetAndMetadata(o, "", -1)
                for p, o in ahead.items()
            }
            consumer = held
            try:
                consumer = consumer or _POOL.acquire(config)
                consumer.commit(offsets)
                committed.update(ahead)
            except Exception as exc:  # noqa: BLE001 - a failed commit only means re-reading
                log.warning("committing offsets %s failed: %s", ahead, exc)
            finally:
                if consumer is not None and held is None:
                    _POOL.release(config, consumer)


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
