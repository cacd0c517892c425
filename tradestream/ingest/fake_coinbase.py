"""A local WebSocket server that speaks the Coinbase Advanced Trade format, for tests and benches.

It listens on 127.0.0.1 (a free port by default), on its own thread and event loop, waits for a
connection's subscribe requests, acknowledges them with a `subscriptions` message, and then plays
that connection's *script*: a list of steps. `scripts` is either a list (connection n, 0-based,
plays `scripts[n]`) or a mapping from the products a connection subscribes to (a tuple, in
request order) to that group's scripts, one per successive connection, for clients that spread
products over parallel connections. A connection without a script only gets heartbeats.

Steps: `Send(message)` (a dict gets `sequence_num`/`timestamp` filled in; a str goes out as is,
e.g. broken JSON), `Pause(seconds)`, `Drop()` (once what was sent is delivered, abort the TCP
connection: no close frame), `Silence()` (stay connected, send nothing more), `Close()` (a clean close). A script
that ends otherwise is followed by a heartbeat every `heartbeat_every_s`, like the real feed.

    server = FakeCoinbaseServer([[Send(trades_message("snapshot", [trade("BTC-USD", 1)])), Drop()]])
    with server:
        ... connect a client to server.url ...

**Level 2.** A connection that subscribes to `level2` (instead of `market_trades`) gets the
order books of `books` (a `BookTruth`: the exchange's real books, shared by all connections):
a snapshot per product right after the acknowledgement, then its script, where
`BookChange(product, levels)` changes the true book and sends the change as an `l2_data`
update, and faults are induced on the way out:

- `Lose(change)`: the book changes, the message is numbered but never sent (a sequence gap);
- `Duplicate()`: the last message goes out again, same `sequence_num`;
- `Reorder(first, second)`: both change the book in that order; `second` is sent first;
- `Send(message)`: anything else as is, e.g. a crossed or negative update, which does *not*
  change the true book (bad input);
- `Resynced()`: wait until the client has re-subscribed (for a fresh snapshot) and serve it.

Requests the client sends later are served between steps (and between heartbeats):
`unsubscribe` stops a product's updates, `subscribe` sends a fresh snapshot of the true book,
both acknowledged with a `subscriptions` message, as Coinbase does. `books.log` is every true
change in order, for tests that rebuild the books on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tradestream.exchanges.coinbase import HEARTBEATS, MARKET_TRADES, SUBSCRIPTIONS
from tradestream.exchanges.coinbase_level2 import L2_DATA, LEVEL2


@dataclass(frozen=True)
class Send:
    message: dict | str


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Drop:
    pass


@dataclass(frozen=True)
class Silence:
    pass


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class BookChange:
    """The exchange's book of `product` changes: each level is (side, price, new size) as
    Coinbase writes them (`bid`/`offer`, decimal strings; size "0" removes the level)."""

    product: str
    levels: tuple[tuple[str, str, str], ...]
    time_ms: int = 1_700_000_000_000


@dataclass(frozen=True)
class Lose:
    change: BookChange


@dataclass(frozen=True)
class Duplicate:
    pass


@dataclass(frozen=True)
class Reorder:
    first: BookChange
    second: BookChange


@dataclass(frozen=True)
class Resynced:
    """Wait (up to `timeout_s`) for the client's next `level2` subscribe request and serve it:
    makes a script's outcome independent of how fast the client re-subscribes."""

    timeout_s: float = 10.0


Step = Send | Pause | Drop | Silence | Close | BookChange | Lose | Duplicate | Reorder | Resynced
SNAPSHOT_EVENT_TIME = "1970-01-01T00:00:00Z"  # what Coinbase's documented snapshots carry


def iso_time(ms: int, extra_ns: int = 0) -> str:
    """`2024-01-02T03:04:05.123456789Z` for epoch ms (plus nanoseconds below the ms)."""
    dt = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}{extra_ns:06d}Z"


def trade(
    product: str,
    trade_id: int | str,
    price: float | str = 100.0,
    size: float | str = 0.5,
    side: str = "BUY",
    time_ms: int = 1_700_000_000_000,
) -> dict:
    """One `market_trades` trade object as Coinbase writes it (decimal strings, ns time)."""
    return {
        "trade_id": str(trade_id),
        "product_id": product,
        "price": str(price),
        "size": str(size),
        "side": side,
        "time": iso_time(time_ms, extra_ns=123456),
    }


def trades_message(kind: str, trades: Sequence[dict]) -> dict:
    """A `market_trades` message with one event (`snapshot` or `update`)."""
    return {
        "channel": MARKET_TRADES,
        "client_id": "",
        "events": [{"type": kind, "trades": list(trades)}],
    }


def heartbeat_message(counter: int) -> dict:
    now = datetime.now(UTC)
    return {
        "channel": HEARTBEATS,
        "client_id": "",
        "events": [
            {"current_time": f"{now:%Y-%m-%d %H:%M:%S.%f} +0000 UTC", "heartbeat_counter": counter}
        ],
    }


def l2_message(
    kind: str, product: str, levels: Sequence[tuple[str, str, str]], time_ms: int
) -> dict:
    """An `l2_data` message with one event (`snapshot` or `update`) of one product."""
    when = SNAPSHOT_EVENT_TIME if kind == "snapshot" else iso_time(time_ms, extra_ns=123456)
    return {
        "channel": L2_DATA,
        "client_id": "",
        "events": [
            {
                "type": kind,
                "product_id": product,
                "updates": [
                    {"side": side, "event_time": when, "price_level": price, "new_quantity": size}
                    for side, price, size in levels
                ],
            }
        ],
    }


class BookTruth:
    """The exchange's real level-2 books: what a correct client's books must equal.

    Args:
        initial: product -> {"bid": {price: size}, "offer": {price: size}}.
    """

    def __init__(self, initial: Mapping[str, Mapping[str, Mapping[float, float]]]) -> None:
        self.initial = {
            p: {side: dict(levels) for side, levels in b.items()} for p, b in initial.items()
        }
        self.books = {
            p: {"bid": dict(b.get("bid", {})), "offer": dict(b.get("offer", {}))}
            for p, b in self.initial.items()
        }
        self.log: list[tuple[str, str, float, float]] = []  # (product, side, price, size)

    def apply(self, change: BookChange) -> None:
        book = self.books.setdefault(change.product, {"bid": {}, "offer": {}})
        for side, price_text, size_text in change.levels:
            price, size = float(price_text), float(size_text)
            self.log.append((change.product, side, price, size))
            if size > 0:
                book[side][price] = size
            else:
                book[side].pop(price, None)

    def snapshot(self, product: str) -> dict:
        book = self.books.get(product, {"bid": {}, "offer": {}})
        levels = [
            (side, repr(price), repr(size))
            for side, reverse in (("bid", True), ("offer", False))
            for price, size in sorted(book[side].items(), reverse=reverse)
        ]
        return l2_message("snapshot", product, levels, 0)


def random_book(mid_cents: int, depth: int, rng: random.Random) -> dict[str, dict[float, float]]:
    """A book of `depth` levels a side around `mid_cents`, bids below it, offers above."""
    bids = rng.sample(range(mid_cents - 5 * depth, mid_cents), depth)
    offers = rng.sample(range(mid_cents + 1, mid_cents + 5 * depth + 1), depth)
    return {
        "bid": {c / 100: round(rng.uniform(0.001, 5), 8) for c in bids},
        "offer": {c / 100: round(rng.uniform(0.001, 5), 8) for c in offers},
    }


def random_changes(
    product: str, mid_cents: int, n: int, rng: random.Random, start_ms: int, span: int = 50
) -> list[BookChange]:
    """`n` changes of 1-3 levels within `span` cents of `mid_cents` (bids below, offers
    above, so the book never crosses); about one level in four is removed (size "0")."""
    changes = []
    for i in range(n):
        levels = []
        for _ in range(rng.randint(1, 3)):
            side = rng.choice(("bid", "offer"))
            cents = (
                mid_cents - rng.randint(1, span)
                if side == "bid"
                else mid_cents + rng.randint(1, span)
            )
            size = "0" if rng.random() < 0.25 else f"{rng.uniform(0.001, 5):.8f}"
            levels.append((side, f"{cents / 100:.2f}", size))
        changes.append(BookChange(product, tuple(levels), start_ms + 10 * i))
    return changes


@dataclass
class ConnectionLog:
    """What one client connection did."""

    subscribes: list[dict] = field(default_factory=list)
    products: tuple[str, ...] = ()
    sent: int = 0
    requests: list[dict] = field(default_factory=list)  # level 2: those after subscribing
    # level 2: the sequence_num of the first heartbeat after the script (None until then)
    script_done_sequence: int | None = None


class FakeCoinbaseServer:
    """The scripted server; use as a context manager or call start()/stop().

    Args:
        scripts: one list of steps per connection, in connection order.
        heartbeat_every_s: heartbeat period once a connection's script has ended.
        port: 0 picks a free port.
        books: the true level-2 books (for connections that subscribe to `level2`).
    """

    def __init__(
        self,
        scripts: Sequence[Sequence[Step]] | Mapping[tuple[str, ...], Sequence[Sequence[Step]]] = (),
        heartbeat_every_s: float = 0.2,
        port: int = 0,
        books: BookTruth | None = None,
    ) -> None:
        self.scripts = scripts
        self.books = books if books is not None else BookTruth({})
        self.heartbeat_every_s = heartbeat_every_s
        self.host = "127.0.0.1"
        self.port = port
        self.connections: list[ConnectionLog] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="fake-coinbase", daemon=True)
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self) -> FakeCoinbaseServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Coinbase server did not start")
        if self._error is not None:
            raise RuntimeError(f"fake Coinbase server failed: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(10)

    def __enter__(self) -> FakeCoinbaseServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        async with serve(self._connection, self.host, self.port, compression=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stopped.wait()

    async def _connection(self, ws: ServerConnection) -> None:
        index = len(self.connections)
        record = ConnectionLog()
        self.connections.append(record)
        sequence = 0

        async def send(message: dict | str) -> None:
            nonlocal sequence
            if isinstance(message, dict):
                message = dict(message)
                message.setdefault("timestamp", iso_time(_now_ms()))
                message["sequence_num"] = sequence
                message = json.dumps(message, separators=(",", ":"))
                sequence += 1  # raw text (e.g. broken JSON) has no sequence number
            record.sent += 1
            await ws.send(message)

        try:
            # Like Coinbase: subscribe requests first (one per channel), then data.
            channels: dict[str, list[str]] = {}
            async with asyncio.timeout(5):
                while HEARTBEATS not in channels or not ({MARKET_TRADES, LEVEL2} & channels.keys()):
                    request = json.loads(await ws.recv())
                    record.subscribes.append(request)
                    if request.get("type") == "subscribe":
                        channels[request["channel"]] = list(request.get("product_ids", []))
            await send(
                {"channel": SUBSCRIPTIONS, "client_id": "", "events": [{"subscriptions": channels}]}
            )
            if LEVEL2 in channels:
                record.products = tuple(channels[LEVEL2])
                await _Level2Session(self, ws, record, channels).run(
                    self._script(index, record.products)
                )
                return
            record.products = tuple(channels[MARKET_TRADES])
            script = self._script(index, record.products)
            for step in script:
                if isinstance(step, Send):
                    await send(step.message)
                elif isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Drop):
                    await _delivered(ws)
                    ws.transport.abort()
                    return
                elif isinstance(step, Silence):
                    await ws.wait_closed()
                    return
                elif isinstance(step, Close):
                    await ws.close()
                    return
            counter = 0
            while True:
                counter += 1
                await send(heartbeat_message(counter))
                await asyncio.sleep(self.heartbeat_every_s)
        except (ConnectionClosed, TimeoutError):
            return

    def _script(self, index: int, products: tuple[str, ...]) -> Sequence[Step]:
        if isinstance(self.scripts, Mapping):
            nth = sum(1 for c in self.connections[:index] if c.products == products)
            group = self.scripts.get(products, ())
            return group[nth] if nth < len(group) else ()
        return self.scripts[index] if index < len(self.scripts) else ()


class _Level2Session:
    """One level-2 connection after its subscription: snapshots, the script, requests."""

    def __init__(
        self,
        server: FakeCoinbaseServer,
        ws: ServerConnection,
        record: ConnectionLog,
        channels: dict[str, list[str]],
    ) -> None:
        self.server = server
        self.ws = ws
        self.record = record
        self.channels = channels
        self.subscribed: list[str] = list(channels[LEVEL2])
        self.sequence = 1  # 0 was the acknowledgement
        self.last_frame: str | None = None
        self.requests: asyncio.Queue[dict] = asyncio.Queue()
        self.wake = asyncio.Event()

    def _frame(self, message: dict) -> str:
        message = dict(message)
        message.setdefault("timestamp", iso_time(_now_ms()))
        message["sequence_num"] = self.sequence
        self.sequence += 1
        return json.dumps(message, separators=(",", ":"))

    async def _emit(self, frame: str) -> None:
        self.record.sent += 1
        self.last_frame = frame
        await self.ws.send(frame)

    async def _send(self, message: dict | str) -> None:
        await self._emit(message if isinstance(message, str) else self._frame(message))

    def _update(self, change: BookChange) -> dict | None:
        """Applies a true change; its message when the product is subscribed here."""
        self.server.books.apply(change)
        if change.product not in self.subscribed:
            return None
        return l2_message("update", change.product, change.levels, change.time_ms)

    async def _read_requests(self) -> None:
        while True:
            request = json.loads(await self.ws.recv())
            self.record.requests.append(request)
            await self.requests.put(request)
            self.wake.set()

    async def _serve_requests(self, until_subscribe_s: float | None = None) -> None:
        """Serves the requests received; with `until_subscribe_s`, first waits that long at
        most for a level2 subscribe request, serving it and whatever came before it."""
        if until_subscribe_s is not None:
            async with asyncio.timeout(until_subscribe_s):
                while True:
                    request = await self.requests.get()
                    await self._serve(request)
                    if request.get("type") == "subscribe" and request.get("channel") == LEVEL2:
                        break
        while not self.requests.empty():
            await self._serve(self.requests.get_nowait())

    async def _serve(self, request: dict) -> None:
        products = [str(p) for p in request.get("product_ids", [])]
        if request.get("channel") != LEVEL2:
            return
        if request.get("type") == "unsubscribe":
            self.subscribed = [p for p in self.subscribed if p not in products]
        elif request.get("type") == "subscribe":
            self.subscribed += [p for p in products if p not in self.subscribed]
        self.channels[LEVEL2] = list(self.subscribed)
        await self._send(
            {
                "channel": SUBSCRIPTIONS,
                "client_id": "",
                "events": [{"subscriptions": self.channels}],
            }
        )
        if request.get("type") == "subscribe":
            for product in products:
                await self._send(self.server.books.snapshot(product))

    async def run(self, script: Sequence[Step]) -> None:
        reader = asyncio.create_task(self._read_requests())
        try:
            for product in self.subscribed:
                await self._send(self.server.books.snapshot(product))
            for step in script:
                await self._serve_requests()
                if isinstance(step, BookChange):
                    message = self._update(step)
                    if message is not None:
                        await self._send(message)
                elif isinstance(step, Lose):
                    if self._update(step.change) is not None:
                        self.sequence += 1  # numbered, never sent
                elif isinstance(step, Duplicate):
                    if self.last_frame is not None:
                        await self._emit(self.last_frame)
                elif isinstance(step, Reorder):
                    first, second = self._update(step.first), self._update(step.second)
                    frames = [self._frame(m) for m in (first, second) if m is not None]
                    for frame in reversed(frames):
                        await self._emit(frame)
                elif isinstance(step, Send):
                    await self._send(step.message)
                elif isinstance(step, Resynced):
                    await self._serve_requests(until_subscribe_s=step.timeout_s)
                elif isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Drop):
                    await _delivered(self.ws)
                    self.ws.transport.abort()
                    return
                elif isinstance(step, Silence):
                    await self.ws.wait_closed()
                    return
                elif isinstance(step, Close):
                    await self.ws.close()
                    return
            counter = 0
            while True:
                await self._serve_requests()
                counter += 1
                if self.record.script_done_sequence is None:
                    self.record.script_done_sequence = self.sequence
                await self._send(heartbeat_message(counter))
                with contextlib.suppress(TimeoutError):  # a request ends the wait early
                    async with asyncio.timeout(self.server.heartbeat_every_s):
                        await self.wake.wait()
                self.wake.clear()
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def _delivered(ws: ServerConnection) -> None:
    """Waits until what was sent has left the socket and the client had a moment to read it."""
    async with asyncio.timeout(5):
        while ws.transport.get_write_buffer_size() > 0:
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.05)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
