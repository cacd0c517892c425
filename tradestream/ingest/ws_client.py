"""One WebSocket feed connection that stays up: connect, subscribe, receive, and start over.

`FeedConnection.run()` loops until cancelled:

1. connect (with an open timeout) and send the subscribe requests;
2. hand every frame to `on_message`; if nothing at all arrives for `silence_timeout_s` (the
   exchange heartbeats every second, so silence means a dead or stuck connection that TCP may
   not notice for minutes), drop the connection;
3. on any failure (refused, reset, closed by the server, silent, handshake error) wait and go
   back to 1.

The wait is exponential backoff with jitter: attempt k waits a random time in
[d/2, d] with d = min(max_s, initial_s * 2**k). The jitter spreads the reconnects of many
connections (and many pods) after an exchange-wide outage; the lower bound keeps every attempt
backing off. The attempt count resets once a connection has stayed up for `stable_after_s`, so
one drop after a long healthy run reconnects quickly, while a server that accepts and then drops
at once is retried ever more slowly.

Protocol-agnostic: the subscribe requests and the message handler come from the caller
(`coinbase_stream.py` for Coinbase). Connections stop by task cancellation.

`send_soon(requests)` sends more requests on the open connection (e.g. `book_stream.py`
re-subscribing a book for a fresh snapshot), in order, without blocking the message handler
that asks for it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

log = logging.getLogger("tradestream.ingest")


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with jitter between reconnect attempts.

    Attributes:
        initial_s: the first wait's upper bound (seconds, > 0).
        max_s: no wait is longer (seconds, >= initial_s).
        stable_after_s: a connection up this long resets the attempt count.
    """

    initial_s: float = 0.5
    max_s: float = 30.0
    stable_after_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(
                f"backoff needs 0 < initial ({self.initial_s}) <= max ({self.max_s}) seconds"
            )

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before reconnect attempt `attempt` (0-based)."""
        ceiling = min(self.max_s, self.initial_s * 2 ** min(attempt, 62))
        return (rng or random).uniform(ceiling / 2, ceiling)


class ConnectionListener:
    """What a connection reports besides messages (metrics and logs hook in here)."""

    def connected(self, name: str) -> None: ...

    def disconnected(self, name: str, reason: str, silent: bool) -> None: ...

    def connect_failed(self, name: str, reason: str) -> None:
        """An attempt to (re)connect and subscribe that failed before the subscription."""


class CountingListener(ConnectionListener):
    """A feed's listener that counts its connections in `self.metrics` (`connections`,
    `reconnects`, `silent_connections`, `failed_connects`, `handler_errors`) and hands each
    frame to `_handle`, whose errors are counted and logged, never raised: a bug or a Kafka
    failure must not end the stream. Subclasses set `metrics` and implement `_handle`;
    `_on_connect` is their hook for a new connection."""

    metrics: Any

    def __init__(self) -> None:
        self._ever_connected: set[str] = set()

    def connected(self, name: str) -> None:
        self._on_connect(name)
        self.metrics.connections += 1
        if name in self._ever_connected:
            self.metrics.reconnects += 1
        self._ever_connected.add(name)

    def disconnected(self, name: str, reason: str, silent: bool) -> None:
        self.metrics.connections -= 1
        if silent:
            self.metrics.silent_connections += 1

    def connect_failed(self, name: str, reason: str) -> None:
        self.metrics.failed_connects += 1

    def handle(self, name: str, frame: str | bytes) -> None:
        """Handles one frame of connection `name`; never raises."""
        try:
            self._handle(name, frame)
        except Exception:  # a bug or a Kafka failure must not end the stream
            self.metrics.handler_errors += 1
            log.exception("%s: error while handling a message", name)

    def _on_connect(self, name: str) -> None:
        """A connection `name` is (again) subscribed."""

    def _handle(self, name: str, frame: str | bytes) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class ConnectionSettings:
    """How one feed connection behaves.

    Attributes:
        url: ws:// or wss:// endpoint.
        silence_timeout_s: drop the connection when no frame arrives for this long.
        open_timeout_s: limit on TCP + TLS + WebSocket handshake.
        backoff: reconnect waits.
        max_message_bytes: larger frames are a protocol error (the connection is dropped).
    """

    url: str
    silence_timeout_s: float = 10.0
    open_timeout_s: float = 10.0
    backoff: BackoffPolicy = BackoffPolicy()
    max_message_bytes: int = 16 * 1024 * 1024


class FeedConnection:
    """A self-healing subscription on one WebSocket.

    Args:
        name: label for logs and metrics (e.g. `coinbase-0`).
        settings: endpoint, timeouts, backoff.
        subscribe: the requests sent after every (re)connect.
        on_message: called with (name, frame) for every frame, in order; exceptions are the
            caller's to handle (they propagate and end the connection's task).
        listener: connection events.
        rng: randomness of the jitter (tests pass a seeded one).
    """

    def __init__(
        self,
        name: str,
        settings: ConnectionSettings,
        subscribe: Sequence[str],
        on_message: Callable[[str, str | bytes], None],
        listener: ConnectionListener | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.subscribe = list(subscribe)
        self.on_message = on_message
        self.listener = listener or ConnectionListener()
        self.rng = rng or random.Random()
        self.attempts = 0  # consecutive failed or short-lived connections
        self.connects = 0  # successful connects so far
        self._ws = None  # the open, subscribed connection
        self._send_lock: asyncio.Lock | None = None
        self._sending: set[asyncio.Task] = set()

    def send_soon(self, requests: Sequence[str]) -> bool:
        """Sends `requests` on the open connection, in order, after any sent before.

        Call it from the connection's event loop (e.g. from `on_message`); it returns at once.
        A connection that closes meanwhile drops them: the next one subscribes afresh.

        Returns:
            False when no connection is open (nothing is sent).
        """
        ws = self._ws
        if ws is None:
            return False
        if self._send_lock is None:
            self._send_lock = asyncio.Lock()
        task = asyncio.get_running_loop().create_task(self._send_all(ws, list(requests)))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        return True

    async def _send_all(self, ws, requests: list[str]) -> None:
        # asyncio.Lock wakes waiters first come, first served: batches go out in call order.
        async with self._send_lock:
            try:
                for request in requests:
                    await ws.send(request)
            except ConnectionClosed:
                pass

    async def run(self) -> None:
        """Connects and reconnects until cancelled."""
        loop = asyncio.get_running_loop()
        policy = self.settings.backoff
        while True:
            started = loop.time()
            reason, silent, up = await self._session()
            if up and loop.time() - started >= policy.stable_after_s:
                self.attempts = 0
            wait = policy.delay(self.attempts, self.rng)
            self.attempts += 1
            log.warning("%s: %s; reconnecting in %.2fs", self.name, reason, wait)
            await asyncio.sleep(wait)

    async def _session(self) -> tuple[str, bool, bool]:
        """One connection's life; returns (why it ended, was it silent, had it subscribed)."""
        s = self.settings
        up = False
        try:
            async with connect(
                s.url,
                open_timeout=s.open_timeout_s,
                close_timeout=1.0,
                max_size=s.max_message_bytes,
                # The app-level silence check is what matters; keep protocol pings as a backstop.
                ping_interval=20.0,
                ping_timeout=20.0,
                compression=None,
            ) as ws:
                for request in self.subscribe:
                    await ws.send(request)
                up = True
                self.connects += 1
                self._ws = ws
                self.listener.connected(self.name)
                log.info("%s: connected to %s", self.name, s.url)
                try:
                    while True:
                        async with asyncio.timeout(s.silence_timeout_s):
                            frame = await ws.recv()
                        self.on_message(self.name, frame)
                except TimeoutError:
                    reason = f"no message for {s.silence_timeout_s:g}s (silent connection)"
                    self.listener.disconnected(self.name, reason, silent=True)
                    return reason, True, up
                finally:
                    self._ws = None
        except ConnectionClosed as exc:
            reason = f"connection closed ({exc})"
        except TimeoutError:
            reason = f"connect timed out after {s.open_timeout_s:g}s"
        except InvalidURI:
            raise
        except (OSError, InvalidHandshake) as exc:
            reason = f"connect failed: {exc}"
        if up:
            self.listener.disconnected(self.name, reason, silent=False)
        else:
            self.listener.connect_failed(self.name, reason)
        return reason, False, up
