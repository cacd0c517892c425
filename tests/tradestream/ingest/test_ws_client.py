"""FeedConnection against the local fake server: reconnects, resubscribes, silence, backoff.

No test races the clock: waits are on conditions (a frame, a connect, an attempt count), and
the silence timeout is checked by measuring when it fired relative to the last frame the
connection handled, so a loaded machine that delays the event loop cannot fail a test.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import InvalidURI

from tests.support.kafka import free_port
from tradestream.ingest.fake_coinbase import (
    Close,
    Drop,
    FakeCoinbaseServer,
    Send,
    Silence,
    trade,
    trades_message,
)
from tradestream.ingest.ws_client import (
    BackoffPolicy,
    ConnectionListener,
    ConnectionSettings,
    FeedConnection,
)

FAST = BackoffPolicy(initial_s=0.02, max_s=0.1, stable_after_s=60)
SUBSCRIBE = [
    json.dumps({"type": "subscribe", "channel": "market_trades", "product_ids": ["BTC-USD"]}),
    json.dumps({"type": "subscribe", "channel": "heartbeats", "product_ids": ["BTC-USD"]}),
]


class Recorder(ConnectionListener):
    """Frames and connection events, each with the monotonic time it was handled."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.events: list[tuple[str, bool]] = []
        self.frame_times: list[float] = []
        self.event_times: list[float] = []

    def on_message(self, name: str, frame: str | bytes) -> None:
        self.frames.append(json.loads(frame))
        self.frame_times.append(time.monotonic())

    def connected(self, name: str) -> None:
        self.events.append(("connected", False))
        self.event_times.append(time.monotonic())

    def disconnected(self, name: str, reason: str, silent: bool) -> None:
        self.events.append(("disconnected", silent))
        self.event_times.append(time.monotonic())

    def silent_gaps(self) -> list[float]:
        """For each silent disconnect: seconds since the last frame handled before it."""
        gaps = []
        for (kind, silent), at in zip(self.events, self.event_times, strict=True):
            if kind == "disconnected" and silent:
                before = [t for t in self.frame_times if t <= at]
                gaps.append(at - before[-1])
        return gaps

    def trade_ids(self) -> list[str]:
        return [
            t["trade_id"]
            for f in self.frames
            if f.get("channel") == "market_trades"
            for e in f["events"]
            for t in e["trades"]
        ]


async def run_until(connection: FeedConnection, done, timeout_s: float = 10.0) -> None:
    task = asyncio.create_task(connection.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not done():
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def feed(url: str, recorder: Recorder, silence_s: float = 5.0, backoff=FAST) -> FeedConnection:
    return FeedConnection(
        "test-0",
        ConnectionSettings(url, silence_timeout_s=silence_s, open_timeout_s=2, backoff=backoff),
        SUBSCRIBE,
        recorder.on_message,
        recorder,
        rng=random.Random(1),
    )


@given(st.floats(0.001, 5), st.floats(1, 100), st.integers(0, 200), st.integers(0, 2**32))
def test_backoff_delay_is_jittered_within_half_and_full_capped_step(initial, factor, attempt, seed):
    policy = BackoffPolicy(initial_s=initial, max_s=initial * factor)
    ceiling = min(policy.max_s, initial * 2**attempt)
    delay = policy.delay(attempt, random.Random(seed))
    assert ceiling / 2 <= delay <= ceiling


def test_backoff_grows_then_caps():
    policy = BackoffPolicy(initial_s=1, max_s=8)
    rng = random.Random(3)
    ceilings = [max(policy.delay(k, rng) for _ in range(200)) for k in range(6)]
    assert ceilings[0] <= 1 < ceilings[1] <= 2 < ceilings[2] <= 4 < ceilings[3] <= 8
    assert all(4 <= c <= 8 for c in ceilings[3:])


def test_backoff_rejects_inverted_bounds():
    with pytest.raises(ValueError):
        BackoffPolicy(initial_s=5, max_s=1)


def test_connection_resubscribes_after_drop_and_close():
    scripts = [
        [Send(trades_message("snapshot", [trade("BTC-USD", 1)])), Drop()],
        [Send(trades_message("update", [trade("BTC-USD", 2)])), Close()],
        [Send(trades_message("update", [trade("BTC-USD", 3)]))],
    ]
    recorder = Recorder()
    with FakeCoinbaseServer(scripts) as server:
        connection = feed(server.url, recorder)
        asyncio.run(run_until(connection, lambda: len(recorder.trade_ids()) == 3))
        assert [c.subscribes for c in server.connections] == [
            [json.loads(s) for s in SUBSCRIBE]
        ] * len(server.connections)
    assert recorder.trade_ids() == ["1", "2", "3"]
    assert connection.connects == 3
    assert recorder.events[:5] == [
        ("connected", False),
        ("disconnected", False),
        ("connected", False),
        ("disconnected", False),
        ("connected", False),
    ]


def test_connection_silent_for_timeout_reconnects_no_sooner_than_the_timeout():
    silence_s = 0.5
    scripts = [[Send(trades_message("snapshot", [trade("BTC-USD", 1)])), Silence()]]
    recorder = Recorder()
    with FakeCoinbaseServer(scripts, heartbeat_every_s=0.05) as server:
        connection = feed(server.url, recorder, silence_s=silence_s)
        # The server acknowledges a connection's subscriptions once it has all of them.
        acks = lambda: sum(f.get("channel") == "subscriptions" for f in recorder.frames)  # noqa: E731
        asyncio.run(run_until(connection, lambda: acks() >= 2, timeout_s=30))
        assert server.connections[1].subscribes == [json.loads(s) for s in SUBSCRIBE]
    # The first connection only goes quiet, so its end is the silence timeout firing: never
    # before `silence_s` without a frame (how much later depends on the machine's load).
    assert recorder.events[:2] == [("connected", False), ("disconnected", True)]
    first_gap = recorder.silent_gaps()[0]
    assert silence_s <= first_gap < silence_s + 20, first_gap
    assert recorder.trade_ids() == ["1"]


def test_connection_heartbeats_keep_a_quiet_connection_up():
    silence_s = 0.5
    recorder = Recorder()
    with FakeCoinbaseServer([[]], heartbeat_every_s=0.05) as server:
        connection = feed(server.url, recorder, silence_s=silence_s)
        heartbeats = lambda: sum(f.get("channel") == "heartbeats" for f in recorder.frames)  # noqa: E731

        def up_three_timeouts() -> bool:
            return bool(recorder.event_times) and (
                time.monotonic() - recorder.event_times[0] > 3 * silence_s and heartbeats() >= 15
            )

        asyncio.run(run_until(connection, up_three_timeouts, timeout_s=30))
    # Only heartbeats arrive, one every 50 ms: the connection outlives three silence timeouts.
    # A silent disconnect may only follow a real gap of `silence_s` between handled frames (an
    # event loop starved for that long by a loaded machine), never a steady heartbeat.
    assert all(gap >= silence_s for gap in recorder.silent_gaps()), recorder.silent_gaps()
    assert ("disconnected", False) not in recorder.events
    if not recorder.silent_gaps():
        assert connection.connects == 1


def test_connection_refused_retries_until_server_appears():
    port = free_port()
    recorder = Recorder()
    server = FakeCoinbaseServer(
        [[Send(trades_message("snapshot", [trade("BTC-USD", 7)]))]], port=port
    )
    connection = feed(f"ws://127.0.0.1:{port}", recorder)

    async def scenario() -> None:
        task = asyncio.create_task(connection.run())
        try:
            async with asyncio.timeout(30):
                while connection.attempts < 2:  # refused twice, backing off
                    await asyncio.sleep(0.01)
                assert connection.connects == 0
                await asyncio.to_thread(server.start)
                while recorder.trade_ids() != ["7"]:
                    await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    assert connection.connects == 1


def test_connection_up_long_enough_resets_backoff():
    scripts = [[Drop()], [Drop()], [Drop()]]
    recorder = Recorder()
    with FakeCoinbaseServer(scripts) as server:
        short = feed(server.url, recorder, backoff=BackoffPolicy(0.01, 0.05, stable_after_s=60))
        asyncio.run(run_until(short, lambda: short.connects >= 3))
        assert short.attempts >= 2
    with FakeCoinbaseServer(scripts) as server:
        stable = feed(server.url, recorder, backoff=BackoffPolicy(0.01, 0.05, stable_after_s=0))
        asyncio.run(run_until(stable, lambda: stable.connects >= 3))
        assert stable.attempts == 1  # reset after each connection that stayed up


def test_connection_invalid_url_is_fatal():
    connection = feed("http://127.0.0.1:1", Recorder())
    with pytest.raises(InvalidURI):
        asyncio.run(asyncio.wait_for(connection.run(), 5))
