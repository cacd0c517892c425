"""Test doubles of the ingest: a producer that records instead of writing to Kafka.

The fake exchange itself is `tradestream/ingest/fake_coinbase.py` (trades and level-2
books); the scripted sessions are `scenario.py` (trades) and `book_scenario.py` (books).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradestream.ingest.producer import ProducerStats
from tradestream.v1 import trade_pb2


@dataclass
class RecordingProducer:
    """Same interface as TradeProducer and BookProducer; keeps what it is given (Trades,
    or BookUpdates: `updates` names the same list)."""

    trades: list[trade_pb2.Trade] = field(default_factory=list)
    dead_letters: list[tuple[bytes, str, str, str, str]] = field(default_factory=list)
    stats: ProducerStats = field(default_factory=ProducerStats)
    flushed: int = 0
    closed: bool = False

    def send(self, trade: trade_pb2.Trade) -> None:
        self.trades.append(trade)
        self.stats.sent += 1

    def send_dead_letter(
        self, payload: bytes, reason: str, detail: str, symbol: str = "", source: str = "ingest"
    ) -> None:
        self.dead_letters.append((payload, reason, detail, symbol, source))
        self.stats.dead_lettered += 1

    def flush(self, timeout_s: float = 60.0) -> None:
        self.flushed += 1

    def close(self) -> None:
        self.closed = True

    @property
    def updates(self) -> list:
        return self.trades

    def ids(self, symbol: str) -> list[str]:
        return [t.trade_id for t in self.trades if t.symbol == symbol]
