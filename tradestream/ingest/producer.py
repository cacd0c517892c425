"""TradeProducer: protobuf Trades to Kafka, keyed by symbol, stamped with trade time.

Every source (replay files, exchanges) writes through it, so keys, timestamps, idempotent
producer settings and dead letters are the same everywhere. `BookProducer` is the same for
level-2 BookUpdates (the `book` topic).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradestream.kafka_clients.config import producer_config, verify_connection
from tradestream.market.dead_letters import dead_letter
from tradestream.settings import Settings
from tradestream.v1 import book_pb2, trade_pb2


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
        from kafka import KafkaProducer

        verify_connection(settings, bootstrap)  # refused TLS/SASL: a clear error, at once
        # Reconnect within a second of a broker restart (kafka-python's backoff grows to 30 s);
        # records wait meanwhile (retries, delivery timeout 120 s).
        self._producer = KafkaProducer(
            **{**producer_config(settings, bootstrap), "reconnect_backoff_max_ms": 1000}
        )
        self.trades_topic = trades_topic
        self.dlq_topic = dlq_topic
        self.stats = ProducerStats()
        self._first_error: BaseException | None = None

    def _failed(self, exc: BaseException) -> None:
        self.stats.errors += 1
        if self._first_error is None:
            self._first_error = exc

    def send(self, trade: trade_pb2.Trade) -> None:
        future = self._producer.send(
            self.trades_topic,
            key=trade.symbol.encode(),
            value=trade.SerializeToString(),
            timestamp_ms=trade.time_ms,
        )
        future.add_errback(self._failed)
        self.stats.sent += 1
        self.stats.per_symbol[trade.symbol] = self.stats.per_symbol.get(trade.symbol, 0) + 1

    def send_dead_letter(
        self, payload: bytes, reason: str, detail: str, symbol: str = "", source: str = "ingest"
    ) -> None:
        """Sends a DeadLetter; `source` names where the record came from (`coinbase`, ...)."""
        letter = dead_letter(payload, reason, detail, source_topic=source, symbol=symbol)
        future = self._producer.send(
            self.dlq_topic, key=(symbol or reason).encode(), value=letter.SerializeToString()
        )
        future.add_errback(self._failed)
        self.stats.dead_lettered += 1

    def flush(self, timeout_s: float = 60.0) -> None:
        """Waits for every send to be acknowledged; raises if any failed."""
        self._producer.flush(timeout=timeout_s)
        if self._first_error is not None:
            raise RuntimeError(
                f"{self.stats.errors} record(s) could not be written to Kafka: {self._first_error}"
            )

    def close(self) -> None:
        self._producer.close(timeout=30)


class BookProducer(TradeProducer):
    """Sends BookUpdates to `book_topic` (key = symbol, Kafka timestamp = event time) and
    rejects to `dlq_topic`, with TradeProducer's settings, stats and flush."""

    def __init__(
        self, settings: Settings, book_topic: str, dlq_topic: str, bootstrap: str | None = None
    ) -> None:
        super().__init__(settings, book_topic, dlq_topic, bootstrap)
        self.book_topic = book_topic

    def send(self, update: book_pb2.BookUpdate) -> None:  # type: ignore[override]
        future = self._producer.send(
            self.book_topic,
            key=update.symbol.encode(),
            value=update.SerializeToString(),
            timestamp_ms=update.time_ms or None,  # no event time: the broker's
        )
        future.add_errback(self._failed)
        self.stats.sent += 1
        self.stats.per_symbol[update.symbol] = self.stats.per_symbol.get(update.symbol, 0) + 1
