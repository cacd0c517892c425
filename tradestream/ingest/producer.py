"""TradeProducer: protobuf Trades to Kafka, keyed by symbol, stamped with trade time.

Every source (replay files, exchanges) writes through it, so keys, timestamps, idempotent
producer settings and dead letters are the same everywhere. `BookProducer` is the same for
level-2 BookUpdates (the `book` topic).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Producer

from tradestream.kafka_clients.config import producer_config, verify_connection
from tradestream.market.dead_letters import dead_letter
from tradestream.settings import Settings
from tradestream.v1 import book_pb2, trade_pb2

# How long a record may wait for its acknowledgement, retries included, before it counts
# as failed.
DELIVERY_TIMEOUT_MS = 120_000


@dataclass
class ProducerStats:
    sent: int = 0
    dead_lettered: int = 0
    errors: int = 0
    per_symbol: dict[str, int] = field(default_factory=dict)


class TradeProducer:
    """Sends Trades to `trades_topic` and rejects to `dlq_topic`.

    Args:
        settings: Kafka connection settings.
        trades_topic: topic of protobuf Trades (key = symbol).
        dlq_topic: topic of protobuf DeadLetters.
        bootstrap: overrides the settings' bootstrap servers.
    """

    def __init__(
        self, settings: Settings, trades_topic: str, dlq_topic: str, bootstrap: str | None = None
    ) -> None:
        verify_connection(settings, bootstrap)  # refused TLS/SASL: a clear error, at once
        # While a broker restarts, records wait in the local queue and are retried; one not
        # acknowledged within 120 s fails (librdkafka's default is 5 minutes).
        self._producer = Producer(
            {**producer_config(settings, bootstrap), "message.timeout.ms": DELIVERY_TIMEOUT_MS}
        )
        self.trades_topic = trades_topic
        self.dlq_topic = dlq_topic
        self.stats = ProducerStats()
        self._first_error: KafkaError | None = None

    def _delivered(self, error: KafkaError | None, _message) -> None:
        """Delivery report of one record (librdkafka calls it from `poll` or `flush`)."""
        if error is None:
            return
        self.stats.errors += 1
        if self._first_error is None:
            self._first_error = error

    def _produce(self, topic: str, key: bytes, value: bytes, timestamp_ms: int = 0) -> None:
        """Queues one record (timestamp 0: the producer's clock) and serves delivery reports."""
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=value,
                    key=key,
                    timestamp=timestamp_ms,
                    on_delivery=self._delivered,
                )
                break
            except BufferError:  # the local queue is full: wait for deliveries to drain it
                self._producer.poll(0.1)
        self._producer.poll(0)

    def send(self, trade: trade_pb2.Trade) -> None:
        self._produce(
            self.trades_topic, trade.symbol.encode(), trade.SerializeToString(), trade.time_ms
        )
        self.stats.sent += 1
        self.stats.per_symbol[trade.symbol] = self.stats.per_symbol.get(trade.symbol, 0) + 1

    def send_dead_letter(
        self, payload: bytes, reason: str, detail: str, symbol: str = "", source: str = "ingest"
    ) -> None:
        """Sends a DeadLetter; `source` names where the record came from (`coinbase`, ...)."""
        letter = dead_letter(payload, reason, detail, source_topic=source, symbol=symbol)
        self._produce(self.dlq_topic, (symbol or reason).encode(), letter.SerializeToString())
        self.stats.dead_lettered += 1

    def flush(self, timeout_s: float = 60.0) -> None:
        """Waits for every send to be acknowledged; raises if any failed or is still waiting."""
        unsent = self._producer.flush(timeout_s)
        if self._first_error is not None:
            raise RuntimeError(
                f"{self.stats.errors} record(s) could not be written to Kafka: "
                f"{self._first_error.str()}"
            )
        if unsent:
            raise RuntimeError(
                f"{unsent} record(s) not acknowledged by Kafka within {timeout_s:g}s"
            )

    def close(self) -> None:
        """Waits up to 30 s for the records still queued (a Producer has nothing to close)."""
        self._producer.flush(30)


class BookProducer(TradeProducer):
    """Sends BookUpdates to `book_topic` (key = symbol, Kafka timestamp = event time) and
    rejects to `dlq_topic`, with TradeProducer's settings, stats and flush."""

    def __init__(
        self, settings: Settings, book_topic: str, dlq_topic: str, bootstrap: str | None = None
    ) -> None:
        super().__init__(settings, book_topic, dlq_topic, bootstrap)
        self.book_topic = book_topic

    def send(self, update: book_pb2.BookUpdate) -> None:  # type: ignore[override]
        # No event time (0): the producer's clock stamps the record.
        self._produce(
            self.book_topic, update.symbol.encode(), update.SerializeToString(), update.time_ms
        )
        self.stats.sent += 1
        self.stats.per_symbol[update.symbol] = self.stats.per_symbol.get(update.symbol, 0) + 1
