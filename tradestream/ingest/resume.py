"""Resuming ingest: what the trades topic already holds, so a restart sends nothing twice.

A restarted `tradestream ingest` first looks at the tail of the trades topic (as of start-up):

- **Replay sources** (trade files, the bundled sample, OHLC files) are time-ordered, so what an
  earlier run wrote is, per symbol, a prefix of the file: records are keyed by symbol, a symbol
  lives in one partition, and the idempotent producer keeps each partition's records in order,
  even across a crash. `skip_already_sent` drops that prefix: a symbol's trades are skipped
  while they sort at or before the symbol's last trade on the topic (by time, then trade id);
  its first trade past that point, or the last trade itself, ends the skipping for the symbol.
  (So a late trade further on in the file is still sent; the result is exact whenever the last
  trade on the topic is in the file, and for any time-ordered file.) A bad row is skipped too
  when the next trade after it in the file is: the earlier run got past the row and
  dead-lettered it. Any other bad row is dead-lettered, e.g. one after the last trade already
  sent, which the earlier run may or may not have reached: at worst a second copy on the
  dead-letter topic, never a row lost without a word. Every skipped record is counted in
  `ResumeStats`, trades per symbol and bad rows per reason.
- **Coinbase**: the `market_trades` snapshot of every new subscription repeats recent trades,
  which a fresh process would take for new ones. `seed_recent_ids` fills the stream's
  de-duplication window with the trade ids already on the topic.

`TopicTail` reads only what it needs: the last records of every partition at start-up (for the
report), and further back, lazily, in the partition of a symbol whose last trade is not in that
tail yet (a symbol never written costs one read of its partition, once).

    with TopicTail.open(settings, bootstrap, "trades") as tail:
        for trade in skip_already_sent(read_trades(path), tail.last_trade, stats):
            producer.send(trade)

`tradestream ingest --no_resume` sends everything again (e.g. a deliberate second replay).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import Consumer, TopicPartition
from google.protobuf.message import DecodeError

from tradestream.ingest.dedup import RecentTradeIds
from tradestream.kafka_clients.config import client_config, consumer_config
from tradestream.kafka_clients.offsets import watermark_offsets
from tradestream.kafka_clients.tail import read_range
from tradestream.market.trade_files import BadRow
from tradestream.settings import Settings
from tradestream.v1 import trade_pb2

CHUNK = 5_000  # records read per step when scanning a partition backward
SEED_IDS = 1_000  # Coinbase: trade ids per product remembered from the topic (snapshots ~100)
READ_TIMEOUT_S = 30.0  # longest wait for one chunk of a partition
METADATA_TIMEOUT_S = 10.0  # longest wait for the topic's partitions or offsets
# A topic without partitions is asked for again before it is called missing: a broker learns
# of a topic created a moment ago (`local up`, `ensure_topics`) from the controller a little
# later, and meanwhile answers that it does not know it.
METADATA_ATTEMPTS = 4
METADATA_PAUSE_S = 0.25
# The answers of a broker about a partition whose leadership it has not taken up yet.
# The Java client's partitioner, which TradeProducer uses (librdkafka's murmur2_random): the
# key's murmur2 hash with this seed, made positive, modulo the partition count.
MURMUR2_SEED = 0x9747B28C
_MURMUR2_M = 0x5BD1E995
_U32 = 0xFFFFFFFF


def trade_order(trade: trade_pb2.Trade) -> tuple[int, int, int, str]:
    """The replay order of a symbol's trades: time, then trade id.

    Numeric ids compare as numbers (without `int()`, so any length works) and sort before
    other ids, which compare as text.
    """
    trade_id = trade.trade_id
    if trade_id.isascii() and trade_id.isdigit():
        digits = trade_id.lstrip("0")
        return (trade.time_ms, 0, len(digits), digits)
    return (trade.time_ms, 1, 0, trade_id)


def _same_trade(a: trade_pb2.Trade, b: trade_pb2.Trade) -> bool:
    return a.trade_id == b.trade_id and a.time_ms == b.time_ms


@dataclass
class ResumeStats:
    """What a resumed replay left out, because an earlier run already sent it."""

    skipped: dict[str, int] = field(default_factory=dict)  # trades per symbol
    skipped_bad_rows: dict[str, int] = field(default_factory=dict)  # bad rows per reason

    @property
    def skipped_trades(self) -> int:
        return sum(self.skipped.values())

    @property
    def skipped_dead_letters(self) -> int:
        return sum(self.skipped_bad_rows.values())

    @property
    def total_skipped(self) -> int:
        """Records skipped: trades and bad rows."""
        return self.skipped_trades + self.skipped_dead_letters


def skip_already_sent(
    records: Iterable[trade_pb2.Trade | BadRow],
    last_trade: Callable[[str], trade_pb2.Trade | None],
    stats: ResumeStats | None = None,
) -> Iterator[trade_pb2.Trade | BadRow]:
    """The records of a time-ordered replay minus what the topic already holds.

    Args:
        records: trades (and bad rows) in file order.
        last_trade: the last trade of a symbol already on the topic, or None.
        stats: counts of what was skipped (updated as the stream is consumed).

    Yields:
        Every trade after its symbol's last trade on the topic (see the module docstring), and
        every bad row whose next trade is not skipped, in file order. A bad row is held until
        that trade decides it (or the input ends), so each record read is either yielded or
        counted in `stats`.
    """
    stats = stats if stats is not None else ResumeStats()
    resumed: set[str] = set()  # symbols whose already-sent prefix is over
    held: list[BadRow] = []  # bad rows since the last trade, until a trade decides them
    for record in records:
        if not isinstance(record, trade_pb2.Trade):
            held.append(record)
            continue
        symbol = record.symbol
        if symbol not in resumed:
            last = last_trade(symbol)
            if last is not None and trade_order(record) <= trade_order(last):
                if _same_trade(record, last):
                    resumed.add(symbol)  # the next one is new, whatever its time
                stats.skipped[symbol] = stats.skipped.get(symbol, 0) + 1
                # The earlier run wrote this trade, so it got past the bad rows before it.
                for bad in held:
                    stats.skipped_bad_rows[bad.reason] = (
                        stats.skipped_bad_rows.get(bad.reason, 0) + 1
                    )
                held.clear()
                continue
            resumed.add(symbol)
        yield from held
        held.clear()
        yield record
    yield from held


def seed_recent_ids(
    dedup: RecentTradeIds,
    symbols: Iterable[str],
    recent: Callable[[str], list[trade_pb2.Trade]],
) -> dict[str, int]:
    """Remembers the trade ids already on the topic, oldest first, in `dedup`.

    Args:
        dedup: the stream's de-duplication window.
        symbols: the products subscribed to.
        recent: a symbol's most recent trades on the topic, newest first.

    Returns:
        The number of ids remembered per symbol (symbols without any left out).
    """
    seeded = {}
    for symbol in symbols:
        trades = recent(symbol)
        for trade in reversed(trades):
            dedup.seen(symbol, trade.trade_id)
        if trades:
            seeded[symbol] = len(trades)
    return seeded


class TopicTail:
    """The most recent trades of each symbol on a topic, as of when it was opened.

    Records are keyed by symbol; a record whose value is not a Trade is passed over.

    Args:
        consumer: a confluent-kafka Consumer that commits nothing (this object closes it).
        topic: the trades topic.
        keep: trades remembered per symbol (1 for replays; the ids to seed for Coinbase).
        chunk: records read per step when scanning a partition backward.

    Raises:
        ValueError: the topic does not exist.
        KafkaException: the brokers did not say within METADATA_TIMEOUT_S.
    """

    def __init__(self, consumer, topic: str, keep: int = 1, chunk: int = CHUNK) -> None:
        if keep <= 0 or chunk <= 0:
            raise ValueError("keep and chunk must be > 0")
        self._consumer = consumer
        self.topic = topic
        self.keep = keep
        self.chunk = chunk
        self._begin: dict[int, int] = {}
        self._end: dict[int, int] = {}
        try:
            self.partitions = _partitions_of(consumer, topic)
            if not self.partitions:
                raise ValueError(
                    f"topic {topic!r} does not exist (create it, or check --trades_topic)"
                )
            for p in self.partitions:
                self._begin[p], self._end[p] = watermark_offsets(
                    consumer, TopicPartition(topic, p), METADATA_TIMEOUT_S
                )
        except BaseException:  # a missing topic, or no answer (KafkaException)
            consumer.close()
            raise
        self._scanned_from = dict(self._end)  # offsets >= this are read (per partition)
        self._recent: dict[str, list[trade_pb2.Trade]] = {}  # newest first, up to `keep`

    @classmethod
    def open(
        cls, settings: Settings, bootstrap: str | None, topic: str, keep: int = 1
    ) -> TopicTail:
        """A tail of `topic` on the brokers of `settings` (or `bootstrap`), last chunk read."""
        consumer = Consumer(consumer_config(client_config(settings, bootstrap)))
        tail = cls(consumer, topic, keep=keep)
        try:
            tail.read_last_chunk()
        except BaseException:
            tail.close()
            raise
        return tail

    @property
    def records(self) -> int:
        """Records on the topic when the tail was opened."""
        return sum(self._end[p] - self._begin[p] for p in self.partitions)

    def symbols(self) -> dict[str, trade_pb2.Trade]:
        """Symbol -> its last trade, for the symbols found so far."""
        return {s: trades[0] for s, trades in self._recent.items() if trades}

    def read_last_chunk(self) -> None:
        """Reads the newest `chunk` records of every partition."""
        for partition in self.partitions:
            self._scan_step(partition)

    def recent(self, symbol: str) -> list[trade_pb2.Trade]:
        """Up to `keep` most recent trades of `symbol` on the topic, newest first."""
        partition = self.partition_of(symbol)
        while (
            len(self._recent.get(symbol, ())) < self.keep
            and self._scanned_from[partition] > self._begin[partition]
        ):
            self._scan_step(partition)
        return list(self._recent.get(symbol, ()))

    def last_trade(self, symbol: str) -> trade_pb2.Trade | None:
        """The last trade of `symbol` on the topic, or None."""
        found = self._recent.get(symbol)
        if found:
            return found[0]
        trades = self.recent(symbol)
        return trades[0] if trades else None

    def partition_of(self, symbol: str) -> int:
        """The partition of `symbol`'s records: the Kafka default partitioner (murmur2)."""
        return self.partitions[(murmur2(symbol.encode()) & 0x7FFFFFFF) % len(self.partitions)]

    def _scan_step(self, partition: int) -> None:
        stop = self._scanned_from[partition]
        start = max(self._begin[partition], stop - self.chunk)
        if start >= stop:
            return
        for record in reversed(self._read(partition, start, stop)):
            key = record.key()
            if not key:
                continue
            symbol = key.decode("utf-8", "replace")
            found = self._recent.setdefault(symbol, [])
            if len(found) >= self.keep:
                continue
            try:
                trade = trade_pb2.Trade.FromString(record.value() or b"")
            except DecodeError:
                continue
            if trade.symbol == symbol:
                found.append(trade)
        self._scanned_from[partition] = start

    def _read(self, partition: int, start: int, stop: int) -> list:
        tp = (self.topic, partition)
        return read_range(
            self._consumer, {tp: start}, {tp: stop}, READ_TIMEOUT_S, max_records=self.chunk
        )

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> TopicTail:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _partitions_of(consumer, topic: str) -> list[int]:
    """The topic's partitions, or [] when it has none after METADATA_ATTEMPTS answers."""
    for attempt in range(METADATA_ATTEMPTS):
        found = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
        if found is not None and found.error is None and found.partitions:
            return sorted(found.partitions)
        if attempt + 1 < METADATA_ATTEMPTS:
            time.sleep(METADATA_PAUSE_S)
    return []


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of a key, as an unsigned 32-bit number (Java's `Utils.murmur2`)."""
    h = (MURMUR2_SEED ^ len(data)) & _U32
    whole = len(data) - len(data) % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _MURMUR2_M) & _U32
        k ^= k >> 24
        k = (k * _MURMUR2_M) & _U32
        h = ((h * _MURMUR2_M) & _U32) ^ k
    tail = data[whole:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * _MURMUR2_M) & _U32
    h ^= h >> 13
    h = (h * _MURMUR2_M) & _U32
    h ^= h >> 15
    return h


def describe(last_trades: dict[str, trade_pb2.Trade]) -> str:
    """`2 symbol(s) already on the topic up to 2024-01-02T01:00:00Z (BTC-USD ..., ...)`."""
    if not last_trades:
        return "nothing on the topic yet"
    latest = max(t.time_ms for t in last_trades.values())
    per_symbol = ", ".join(
        f"{s} {_iso(t.time_ms)}" for s, t in sorted(last_trades.items())[:10]
    ) + (", ..." if len(last_trades) > 10 else "")
    return f"{len(last_trades)} symbol(s) already on the topic up to {_iso(latest)} ({per_symbol})"


def _iso(time_ms: int) -> str:
    try:
        moment = datetime.fromtimestamp(time_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return f"{time_ms} ms"
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


__all__ = [
    "ResumeStats",
    "TopicTail",
    "describe",
    "murmur2",
    "seed_recent_ids",
    "skip_already_sent",
    "trade_order",
]
