"""The Coinbase level-2 stream: order books over self-healing connections, into Kafka.

    stream = CoinbaseBookStream(CoinbaseStreamConfig(products=("BTC-USD",)), producer)
    asyncio.run(stream.run_until(stop_event))

Like the trade stream (`coinbase_stream.py`): each group of `products_per_connection`
products gets its own `FeedConnection`, subscribed to `level2` and `heartbeats` (the
heartbeats keep a quiet book's connection open and let silence be noticed). Every frame goes
through `handle()` on the event loop, into the `BookBuilder`
(`tradestream/exchanges/order_book.py`), which keeps the books and says what becomes of each
record:

- BookUpdates (snapshots and the updates that applied cleanly) are produced to the book
  topic, keyed by symbol;
- bad input (unreadable, crossed books, negative sizes, updates before a snapshot, unknown
  symbols, the message after a sequence gap, exchange errors) is dead-lettered with its
  reason (source `coinbase-level2`), logged at most 10 times per log interval;
- books that no longer match the exchange's (a gap, an update we could not apply) are
  re-subscribed on their connection (`unsubscribe` + `subscribe` of `level2`), which makes
  Coinbase send a fresh snapshot; their updates in flight meanwhile are skipped and counted;
- a reconnect subscribes again, and its snapshots start every book of it over.

Each record is counted in `BookMetrics` (sent / dead-lettered / skipped / control), and every
`log_every_s` a summary line says so.
"""

from __future__ import annotations

import asyncio
import logging

from tradestream.exchanges import coinbase, coinbase_level2
from tradestream.exchanges.order_book import BookBuilder
from tradestream.ingest.book_metrics import BookMetrics, book_summary_line
from tradestream.ingest.coinbase_stream import CoinbaseStreamConfig
from tradestream.ingest.producer import BookProducer
from tradestream.ingest.ws_client import CountingListener, FeedConnection

log = logging.getLogger("tradestream.ingest")

DEAD_LETTER_SOURCE = "coinbase-level2"
_LOGGED_PER_INTERVAL = 10


class CoinbaseBookStream(CountingListener):
    """Coinbase `level2` into the book topic.

    Args:
        config: products, endpoint, timeouts (its `dedup_window` is not used: books are
            de-duplicated by sequence number).
        producer: where BookUpdates and dead letters go (a BookProducer, or a test double).
        metrics: counters to update (a new set by default).
    """

    def __init__(
        self,
        config: CoinbaseStreamConfig,
        producer: BookProducer,
        metrics: BookMetrics | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.producer = producer
        self.metrics = metrics or BookMetrics()
        self.metrics.kafka_errors = lambda: producer.stats.errors
        self.builder = BookBuilder(config.products)
        self._logged = self._unlogged = 0
        settings = config.connection_settings()
        self.groups = {f"coinbase-l2-{i}": g for i, g in enumerate(config.product_groups())}
        self.connections = {
            name: FeedConnection(
                name=name,
                settings=settings,
                subscribe=[
                    coinbase_level2.subscribe_message(group),
                    coinbase.subscribe_message(coinbase.HEARTBEATS, group),
                ],
                on_message=self.handle,
                listener=self,
            )
            for name, group in self.groups.items()
        }
        self.metrics.connections_wanted = len(self.connections)

    # -- connection events --------------------------------------------------------------------

    def _on_connect(self, name: str) -> None:
        self.builder.connected(name, self.groups.get(name, self.config.products))

    # -- messages -----------------------------------------------------------------------------

    def _handle(self, name: str, frame: str | bytes) -> None:
        out = self.builder.handle_frame(name, frame)
        m = self.metrics
        m.count(out)
        if out.missed:
            log.warning("%s: %d message(s) lost (sequence gap)", name, out.missed)
        for update in out.updates:
            self.producer.send(update)
            m.sent(update.symbol, update.is_snapshot)
        for dead in out.dead_letters:
            if dead.reason == "exchange_error":
                m.exchange_errors += 1
            self._dead_letter(name, dead.payload, dead.reason, dead.detail, dead.symbol)
        if out.subscriptions is not None:
            log.info("%s: subscribed to %s", name, out.subscriptions)
        if out.resubscribe:
            self.resubscribe(name, out.resubscribe)

    def resubscribe(self, name: str, products: list[str]) -> None:
        """Asks connection `name` for fresh snapshots of `products`."""
        connection = self.connections.get(name)
        requests = [
            coinbase_level2.unsubscribe_message(products),
            coinbase_level2.subscribe_message(products),
        ]
        if connection is not None and connection.send_soon(requests):
            self.metrics.resubscribes += 1
            log.info("%s: re-subscribing %s for a fresh snapshot", name, ", ".join(products))

    def _dead_letter(
        self, name: str, payload: bytes, reason: str, detail: str, symbol: str
    ) -> None:
        self.metrics.dead_letter(reason)
        if self._logged < _LOGGED_PER_INTERVAL:
            self._logged += 1
            log.warning("%s: %s: %s (raw: %.200r)", name, reason, detail, payload)
        else:
            self._unlogged += 1
        self.producer.send_dead_letter(
            payload, reason, detail, symbol=symbol, source=DEAD_LETTER_SOURCE
        )

    # -- running ------------------------------------------------------------------------------

    async def run_until(self, stop: asyncio.Event) -> None:
        """Runs every connection (and the summary log) until `stop` is set."""
        tasks = [asyncio.create_task(c.run(), name=n) for n, c in self.connections.items()]
        if self.config.log_every_s > 0:
            tasks.append(asyncio.create_task(self._report(), name="ingest-book-report"))
        log.info(
            "streaming the level-2 books of %d product(s) from %s over %d connection(s)",
            len(self.config.products),
            self.config.ws_url,
            len(self.connections),
        )
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and task.exception() is not None:
                    raise task.exception()
        finally:
            for task in [stopper, *tasks]:
                task.cancel()
            await asyncio.gather(stopper, *tasks, return_exceptions=True)

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.config.log_every_s)
            log.info("%s", book_summary_line(self.metrics))
            if self._unlogged:
                log.warning("(%d more bad messages were counted but not logged)", self._unlogged)
            self._logged = self._unlogged = 0
