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
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tradestream.ingest.coinbase import HEARTBEATS, MARKET_TRADES, SUBSCRIPTIONS


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


Step = Send | Pause | Drop | Silence | Close


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


@dataclass
class ConnectionLog:
    """What one client connection did."""

    subscribes: list[dict] = field(default_factory=list)
    products: tuple[str, ...] = ()
    sent: int = 0


class FakeCoinbaseServer:
    """The scripted server; use as a context manager or call start()/stop().

    Args:
        scripts: one list of steps per connection, in connection order.
        heartbeat_every_s: heartbeat period once a connection's script has ended.
        port: 0 picks a free port.
    """

    def __init__(
        self,
        scripts: Sequence[Sequence[Step]] | Mapping[tuple[str, ...], Sequence[Sequence[Step]]] = (),
        heartbeat_every_s: float = 0.2,
        port: int = 0,
    ) -> None:
        self.scripts = scripts
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
            wanted = {MARKET_TRADES, HEARTBEATS}
            channels: dict[str, list[str]] = {}
            async with asyncio.timeout(5):
                while not wanted <= channels.keys():
                    request = json.loads(await ws.recv())
                    record.subscribes.append(request)
                    if request.get("type") == "subscribe":
                        channels[request["channel"]] = list(request.get("product_ids", []))
            await send(
                {"channel": SUBSCRIPTIONS, "client_id": "", "events": [{"subscriptions": channels}]}
            )
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


async def _delivered(ws: ServerConnection) -> None:
    """Waits until what was sent has left the socket and the client had a moment to read it."""
    async with asyncio.timeout(5):
        while ws.transport.get_write_buffer_size() > 0:
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.05)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
