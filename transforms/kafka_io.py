"""Kafka at the edges of the realtime pipeline: ReadTrades, WriteSignals, WriteDeadLetters.

    batches = p | ReadTrades(bootstrap, "trades", group_id="tradestream-realtime")
    signals | WriteSignals(bootstrap, "signals")
    dead_letters | WriteDeadLetters(bootstrap, "trades-dlq")

Reading uses `tradestream.transforms.kafka_source` (a Python splittable DoFn; see its docstring for
watermarks, idleness and offset commits). Event time is the Trade's own `time_ms`, read
from the payload, so a malformed record never moves the watermark. Writing uses an idempotent
confluent-kafka (librdkafka) producer per worker, flushed at the end of every bundle, so a bundle
only completes once Kafka has acknowledged its records (at-least-once). WriteSignals is also idempotent by `signal_id`:
at start-up each writer reads the ids of the most recent signals on the topic and does not
send those again, so a pipeline restarted from a checkpoint does not duplicate the signals
it had already written after that checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from confluent_kafka import Consumer, KafkaError, Message, Producer
from google.protobuf.message import DecodeError

from tradestream.kafka_clients.properties import PRODUCER_PROPERTIES, consumer_config
from tradestream.kafka_clients.tail import read_range
from tradestream.market.trade_validation import MAX_TIME_MS, MIN_TIME_MS
from tradestream.transforms.kafka_source import (
    PLAINTEXT,
    ClientConfig,
    KafkaReadConfig,
    ReadFromKafkaTopic,
    partition_edges,
    topic_partitions,
)
from tradestream.v1 import book_pb2, signal_pb2, trade_pb2

log = logging.getLogger(__name__)


def trade_time_ms(
    key: bytes | None, value: bytes | None, max_future_ms: int | None = None
) -> int | None:
    """Event time of a trades-topic record: the Trade's time_ms, None if unusable.

    With `max_future_ms`, a time further than that ahead of this clock is unusable too:
    ParseTrades dead-letters such a trade, so it must not move the watermark either.
    """
    return _event_time_ms(trade_pb2.Trade, value, max_future_ms)


def book_time_ms(
    key: bytes | None, value: bytes | None, max_future_ms: int | None = None
) -> int | None:
    """Event time of a book-topic record: the BookUpdate's time_ms, None if unusable (as
    `trade_time_ms` for trades)."""
    return _event_time_ms(book_pb2.BookUpdate, value, max_future_ms)


def _event_time_ms(message, value: bytes | None, max_future_ms: int | None) -> int | None:
    try:
        time_ms = message.FromString(value or b"").time_ms
    except DecodeError:
        return None
    if not MIN_TIME_MS <= time_ms <= MAX_TIME_MS:
        return None
    if max_future_ms is not None and time_ms > time.time() * 1000 + max_future_ms:
        return None
    return time_ms


@dataclass(frozen=True)
class TradeEventTime:
    """`trade_time_ms` with a clock-skew bound, as a picklable, hashable callable."""

    max_future_ms: int | None = None

    def __call__(self, key: bytes | None, value: bytes | None) -> int | None:
        return trade_time_ms(key, value, self.max_future_ms)


@dataclass(frozen=True)
class BookEventTime:
    """`book_time_ms` with a clock-skew bound, as a picklable, hashable callable."""

    max_future_ms: int | None = None

    def __call__(self, key: bytes | None, value: bytes | None) -> int | None:
        return book_time_ms(key, value, self.max_future_ms)


class ReadTrades(beam.PTransform):
    """PBegin -> PCollection[list[bytes]]: the trades topic's records, a batch per poll.

    Unbounded; each batch is stamped with the earliest trade time in it. Parse them with
    `RecordsToSignals` (or flatten them into ParseTrades).

    Args:
        bootstrap_servers: Kafka bootstrap servers.
        topic: the trades topic.
        group_id: consumer group whose committed offsets mark where to resume.
        start_from: `earliest` or `latest`, for partitions without a committed offset.
        watermark_delay_ms: how far the watermark trails the newest trade time.
        idle_after_s: a caught-up partition without records this long stops holding the
            watermark back.
        max_clock_skew_ms: trades stamped further than this ahead of the reader's clock
            do not move the watermark (None: no bound).
        commit_offsets: "finalized" (after each checkpoint that covers the records),
            "read" (as read: for jobs without checkpoints) or "never".
        client_config: builds the consumer's connection and security options on the
            worker (see `tradestream.transforms.kafka_source.PlaintextClient`, the default).
        watermark_in_band: also emit the source's watermark as `SourceWatermark` elements
            after the batches (RecordsToSignals closes candles on them at once).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        start_from: str = "earliest",
        watermark_delay_ms: int = 0,
        idle_after_s: float = 2.0,
        max_clock_skew_ms: int | None = None,
        commit_offsets: str = "finalized",
        client_config: ClientConfig = PLAINTEXT,
        watermark_in_band: bool = False,
    ) -> None:
        super().__init__()
        self._config = KafkaReadConfig(
            bootstrap_servers=bootstrap_servers,
            topic=topic,
            group_id=group_id,
            start_from=start_from,
            watermark_delay_ms=watermark_delay_ms,
            idle_after_s=idle_after_s,
            event_time=TradeEventTime(max_clock_skew_ms),
            commit_offsets=commit_offsets,
            client_config=client_config,
            watermark_in_band=watermark_in_band,
        )

    def expand(self, pbegin):
        return pbegin | "ReadFromKafka" >> ReadFromKafkaTopic(self._config)


class ReadBook(ReadTrades):
    """PBegin -> PCollection[list[bytes]]: the book topic's records (level-2 BookUpdates), a
    batch per poll, stamped and watermarked by the updates' event times. The arguments of
    ReadTrades, for the book topic."""

    def __init__(self, *args, max_clock_skew_ms: int | None = None, **kwargs) -> None:
        super().__init__(*args, max_clock_skew_ms=max_clock_skew_ms, **kwargs)
        self._config = dataclasses.replace(
            self._config, event_time=BookEventTime(max_clock_skew_ms)
        )


# How long a record may wait for its acknowledgement, retries included, before it counts as
# failed (librdkafka's default is 5 minutes): a bundle whose records the brokers do not take
# within it fails, and the runner retries it.
DELIVERY_TIMEOUT_MS = 120_000


class WriteToKafkaFn(beam.DoFn):
    """Sends (key bytes, value bytes) to a topic; flushes before a bundle completes."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        dedup_id: Callable[[bytes], str] | None = None,
        dedup_window: int = 100_000,
        client_config: ClientConfig = PLAINTEXT,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._client_config = client_config
        self._dedup_id = dedup_id
        self._window = dedup_window
        self._sent = Metrics.counter("WriteToKafka", f"{topic}_records")
        self._skipped = Metrics.counter("WriteToKafka", f"{topic}_duplicates_skipped")

    def setup(self) -> None:
        # Connection and security from the client factory (on a worker: from its own
        # environment), then the project's idempotent, acks=all producer.
        client = self._client_config(self._bootstrap)
        self._producer = Producer(
            {**client, **PRODUCER_PROPERTIES, "message.timeout.ms": DELIVERY_TIMEOUT_MS}
        )
        self._recent: OrderedDict[str, None] = OrderedDict()
        if self._dedup_id is not None:
            for value in _tail_values(client, self._topic, self._window):
                try:
                    self._remember(self._dedup_id(value))
                except Exception:  # noqa: BLE001 - a foreign record on the topic
                    continue

    def _remember(self, ident: str) -> None:
        self._recent[ident] = None
        if len(self._recent) > self._window:
            self._recent.popitem(last=False)

    def start_bundle(self) -> None:
        self._failures: list[tuple[KafkaError, Message]] = []

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        """Delivery report of one record (librdkafka calls it from poll() or flush())."""
        if error is not None:
            self._failures.append((error, message))

    def process(self, element):
        key, value = element
        if self._dedup_id is not None:
            ident = self._dedup_id(value)
            if ident in self._recent:
                self._skipped.inc()
                return ()
            self._remember(ident)
        while True:
            try:
                self._producer.produce(
                    self._topic, value=value, key=key, on_delivery=self._delivered
                )
                break
            except BufferError:  # librdkafka's local queue is full: let deliveries drain it
                self._producer.poll(0.1)
        self._producer.poll(0)  # delivery reports of earlier records, without waiting
        self._sent.inc()
        return ()  # a sink: nothing flows on

    def finish_bundle(self) -> None:
        # flush() returns once every record is acknowledged *or failed* (e.g. the brokers were
        # away longer than DELIVERY_TIMEOUT_MS); a failure must fail the bundle, so that the
        # runner retries it instead of losing its records.
        unsent = self._producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 30)
        failures, self._failures = self._failures, []
        if failures:
            if self._dedup_id is not None:
                for _, message in failures:  # not written: a retry must send it again
                    self._recent.pop(self._dedup_id(message.value()), None)
            raise RuntimeError(
                f"{len(failures)} record(s) could not be written to Kafka topic "
                f"{self._topic}: {failures[0][0]!r}"
            )
        if unsent:
            raise RuntimeError(
                f"{unsent} record(s) could not be written to Kafka topic {self._topic}: "
                "no acknowledgement"
            )

    def teardown(self) -> None:
        producer = getattr(self, "_producer", None)
        if producer is not None:
            producer.flush(10)  # a Producer has nothing to close: its records get 10 s
            self._producer = None


def _tail_values(client: dict[str, Any], topic: str, limit: int) -> list[bytes]:
    """The values of up to `limit` most recent records of a topic (all partitions)."""
    consumer = Consumer(consumer_config(client))
    try:
        partitions = topic_partitions(consumer, topic)
        if not partitions:
            return []
        per_partition = max(1, limit // len(partitions))
        starts, stops = {}, {}
        for partition, (beginning, end) in partition_edges(consumer, topic, partitions).items():
            starts[topic, partition] = max(beginning, end - per_partition)
            stops[topic, partition] = end
        # best effort: a slow broker leaves fewer ids to de-duplicate against, not an error
        records = read_range(consumer, starts, stops, timeout_s=10.0, partial_ok=True)
        return [record.value() for record in records]
    finally:
        consumer.close()


def signal_id_of(value: bytes) -> str:
    return signal_pb2.Signal.FromString(value).signal_id


class _WriteToTopic(beam.PTransform):
    """(key bytes, value bytes) records to one topic, by a WriteToKafkaFn per worker."""

    def __init__(
        self, bootstrap_servers: str, topic: str, client_config: ClientConfig = PLAINTEXT
    ) -> None:
        super().__init__()
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._client_config = client_config

    def _writer(self, dedup_id: Callable[[bytes], str] | None = None) -> beam.ParDo:
        return beam.ParDo(
            WriteToKafkaFn(
                self._bootstrap, self._topic, dedup_id=dedup_id, client_config=self._client_config
            )
        )


class WriteSignals(_WriteToTopic):
    """PCollection[(symbol, Signal)] -> the signals topic (key = symbol), once per signal_id."""

    def expand(self, signals):
        return (
            signals
            | "Serialize" >> beam.Map(lambda kv: (kv[0].encode(), kv[1].SerializeToString()))
            | "Write" >> self._writer(dedup_id=signal_id_of)
        )


class WriteDeadLetters(_WriteToTopic):
    """PCollection[DeadLetter] -> the dead-letter topic (key = symbol, or the reason)."""

    def expand(self, letters):
        return (
            letters
            | "Serialize"
            >> beam.Map(lambda d: ((d.symbol or d.reason).encode(), d.SerializeToString()))
            | "Write" >> self._writer()
        )
