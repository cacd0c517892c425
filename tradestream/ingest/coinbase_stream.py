"""The Coinbase trade stream: products split across self-healing connections, into Kafka.

    stream = CoinbaseTradeStream(CoinbaseStreamConfig(products=("BTC-USD", "ETH-USD")), producer)
    asyncio.run(stream.run_until(stop_event))

Each group of `products_per_connection` products gets its own `FeedConnection` subscribed to
`market_trades` and `heartbeats`. Every frame goes through `handle()`, synchronously on the event
loop (one thread, so the de-duplication state needs no lock):

- trades: parsed and validated (`coinbase.parse_message`), de-duplicated by (symbol, trade_id)
  across reconnects (`dedup.RecentTradeIds`), produced keyed by symbol (`TradeProducer`);
- bad JSON, unknown channels, invalid trades and exchange errors: logged (rate-limited),
  counted by reason and dead-lettered with the raw text; never fatal;
- heartbeats and `sequence_num`: gaps counted (informational: the snapshot after a reconnect
  is the only replay the feed offers);
- every `log_every_s` a summary line (trades/s per product, reconnects and failed connects,
  duplicates, malformed).

A symbol lives on exactly one connection, so its trades reach Kafka in the order received.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tradestream.exchanges import coinbase
from tradestream.ingest.dedup import DEFAULT_WINDOW, RecentTradeIds
from tradestream.ingest.metrics import IngestMetrics, RateTracker, summary_line
from tradestream.ingest.producer import TradeProducer
from tradestream.ingest.ws_client import (
    BackoffPolicy,
    ConnectionSettings,
    CountingListener,
    FeedConnection,
)

log = logging.getLogger("tradestream.ingest")

DEAD_LETTER_SOURCE = "coinbase"
_LOGGED_PER_INTERVAL = 10  # malformed messages logged in full per reporting interval


@dataclass(frozen=True)
class CoinbaseStreamConfig:
    """What to subscribe to and how hard to hold on.

    Attributes:
        products: Coinbase product ids (`BTC-USD`), at least one.
        ws_url: the market-data endpoint (a sandbox or a local fake in tests).
        products_per_connection: products sharing one WebSocket (> 0).
        silence_timeout_s: reconnect when nothing arrives for this long.
        open_timeout_s: limit on one connect + handshake.
        backoff: reconnect waits.
        dedup_window: trade ids remembered per product.
        log_every_s: seconds between summary lines (0: never).
    """

    products: tuple[str, ...]
    ws_url: str = coinbase.DEFAULT_WS_URL
    products_per_connection: int = 10
    silence_timeout_s: float = 10.0
    open_timeout_s: float = 10.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    dedup_window: int = DEFAULT_WINDOW
    log_every_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.products:
            raise ValueError("no products to subscribe to")
        if len(set(self.products)) != len(self.products):
            raise ValueError(f"a product is listed twice: {', '.join(self.products)}")
        if self.products_per_connection <= 0:
            raise ValueError("products_per_connection must be > 0")
        if self.silence_timeout_s <= 0 or self.open_timeout_s <= 0:
            raise ValueError("timeouts must be > 0")

    def connection_settings(self) -> ConnectionSettings:
        """How each of the feed's connections behaves."""
        return ConnectionSettings(
            url=self.ws_url,
            silence_timeout_s=self.silence_timeout_s,
            open_timeout_s=self.open_timeout_s,
            backoff=self.backoff,
        )

    def product_groups(self) -> list[tuple[str, ...]]:
        """The products of each connection, in the order given."""
        n = self.products_per_connection
        return [self.products[i : i + n] for i in range(0, len(self.products), n)]


@dataclass
class _ConnectionState:
    sequence_num: int | None = None
    heartbeat_counter: int | None = None


class CoinbaseTradeStream(CountingListener):
    """Coinbase `market_trades` into the trades topic.

    Args:
        config: products, endpoint, timeouts.
        producer: where trades and dead letters go.
        metrics: counters to update (a new set by default).
    """

    def __init__(
        self,
        config: CoinbaseStreamConfig,
        producer: TradeProducer,
        metrics: IngestMetrics | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.producer = producer
        self.metrics = metrics or IngestMetrics()
        self.metrics.kafka_errors = lambda: producer.stats.errors
        self.allowed = frozenset(config.products)
        self.dedup = RecentTradeIds(config.dedup_window)
        self._state: dict[str, _ConnectionState] = {}
        self._logged = self._unlogged = 0  # bad messages logged / only counted, this interval
        settings = config.connection_settings()
        self.connections = [
            FeedConnection(
                name=f"coinbase-{i}",
                settings=settings,
                subscribe=[
                    coinbase.subscribe_message(coinbase.MARKET_TRADES, group),
                    coinbase.subscribe_message(coinbase.HEARTBEATS, group),
                ],
                on_message=self.handle,
                listener=self,
            )
            for i, group in enumerate(config.product_groups())
        ]
        self.metrics.connections_wanted = len(self.connections)

    # -- connection events --------------------------------------------------------------------

    def _on_connect(self, name: str) -> None:
        self._state[name] = _ConnectionState()  # counters start over on a new connection

    # -- messages -----------------------------------------------------------------------------

    def _handle(self, name: str, frame: str | bytes) -> None:
        try:
            message = coinbase.parse_message(frame, self.allowed)
        except coinbase.MalformedMessage as exc:
            self._dead_letter(name, frame, exc.reason, exc.detail)
            return
        state = self._state.setdefault(name, _ConnectionState())
        if message.sequence_num is not None:
            last = state.sequence_num
            if last is not None and message.sequence_num > last + 1:
                self.metrics.sequence_gaps += 1
            state.sequence_num = message.sequence_num
        channel = message.channel
        if channel == coinbase.MARKET_TRADES:
            for reject in message.rejects:
                self._dead_letter(name, reject.raw, reject.reason, reject.detail, reject.symbol)
            seen = self.dedup.seen
            send = self.producer.send
            metrics = self.metrics
            for trade in message.trades:
                if seen(trade.symbol, trade.trade_id):
                    metrics.duplicate(trade.symbol)
                    continue
                send(trade)
                metrics.trade(trade.symbol)
        elif channel == coinbase.HEARTBEATS:
            self.metrics.heartbeats += 1
            counter, last = message.heartbeat_counter, state.heartbeat_counter
            if counter is not None and last is not None and counter > last + 1:
                self.metrics.heartbeat_gaps += 1
            state.heartbeat_counter = counter
        elif channel == coinbase.SUBSCRIPTIONS:
            log.info("%s: subscribed to %s", name, message.subscriptions)
        elif channel == coinbase.ERROR:
            self.metrics.exchange_errors += 1
            self._dead_letter(name, frame, "exchange_error", message.error or "")

    def _dead_letter(
        self, name: str, raw: str | bytes, reason: str, detail: str, symbol: str = ""
    ) -> None:
        self.metrics.bad_message(reason)
        self.metrics.dead_letters += 1
        payload = raw if isinstance(raw, bytes) else raw.encode("utf-8", "replace")
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
        tasks = [asyncio.create_task(c.run(), name=c.name) for c in self.connections]
        if self.config.log_every_s > 0:
            tasks.append(asyncio.create_task(self._report(), name="ingest-report"))
        log.info(
            "streaming %d product(s) from %s over %d connection(s)",
            len(self.config.products),
            self.config.ws_url,
            len(self.connections),
        )
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and task.exception() is not None:
                    raise task.exception()  # e.g. an invalid URL: not something to retry
        finally:
            for task in [stopper, *tasks]:
                task.cancel()
            await asyncio.gather(stopper, *tasks, return_exceptions=True)

    async def _report(self) -> None:
        rates = RateTracker(self.metrics)
        while True:
            await asyncio.sleep(self.config.log_every_s)
            log.info("%s", summary_line(self.metrics, rates.tick()))
            if self._unlogged:
                log.warning("(%d more bad messages were counted but not logged)", self._unlogged)
            self._logged = self._unlogged = 0


def parse_products(text: str | Sequence[str]) -> tuple[str, ...]:
    """`BTC-USD,eth-usd` -> ("BTC-USD", "ETH-USD"); duplicates dropped, order kept."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        product = item.strip().upper()
        if product and product not in out:
            out.append(product)
    return tuple(out)


class Stream(Protocol):
    """What `run_until_signalled` runs: the trade stream, or the level-2 book stream."""

    async def run_until(self, stop: asyncio.Event) -> None: ...


def run_until_signalled(
    stream: Stream,
    signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
) -> int | None:
    """Runs the stream on a new event loop until one of `signals` arrives (main thread only).

    Returns:
        The signal that stopped it (None if the stream ended by itself).
    """

    async def main() -> int | None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        received: list[int] = []

        def on_signal(number: int) -> None:
            received.append(number)
            stop.set()

        for number in signals:
            loop.add_signal_handler(number, on_signal, number)
        try:
            await stream.run_until(stop)
        finally:
            for number in signals:
                loop.remove_signal_handler(number)
        return received[0] if received else None

    return asyncio.run(main())
