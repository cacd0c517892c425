"""The Coinbase stream end to end against the fake server: in memory, then into real Kafka.

Runs end on conditions, not on time: a scenario is over once every connection has handled
its last scripted frame (a heartbeat after its script shows it), and the silence timeout is
long next to the fake's back-to-back frames, so a loaded machine cannot cut a script short.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from tests.support.kafka import consume_all, create_topics
from tests.tradestream.ingest import scenario
from tests.tradestream.ingest.fakes import RecordingProducer
from tradestream.ingest.coinbase_stream import (
    CoinbaseStreamConfig,
    CoinbaseTradeStream,
    parse_products,
)
from tradestream.ingest.fake_coinbase import (
    Drop,
    FakeCoinbaseServer,
    Send,
    heartbeat_message,
)
from tradestream.ingest.metrics import summary_line
from tradestream.ingest.producer import TradeProducer
from tradestream.ingest.ws_client import BackoffPolicy
from tradestream.v1 import trade_pb2


def fast_config(url: str, products=scenario.PRODUCTS, **overrides) -> CoinbaseStreamConfig:
    settings = dict(
        products=tuple(products),
        ws_url=url,
        products_per_connection=scenario.PER_CONNECTION,
        # The scripted silent connections take this long to end. A spurious timeout would cut
        # a script short, and needs the event loop starved this long while frames wait.
        silence_timeout_s=2.0,
        open_timeout_s=5.0,
        backoff=BackoffPolicy(initial_s=0.02, max_s=0.1, stable_after_s=60),
        log_every_s=0.2,
    )
    settings.update(overrides)
    return CoinbaseStreamConfig(**settings)


class WatchedStream(CoinbaseTradeStream):
    """The stream, also keeping how many frames each connection handled since it connected."""

    def __init__(self, config: CoinbaseStreamConfig, producer) -> None:
        self.since_connect: dict[str, list[str]] = {}  # name -> channels handled
        self.connects: dict[str, int] = {}
        super().__init__(config, producer)

    def connected(self, name: str) -> None:
        super().connected(name)
        self.connects[name] = self.connects.get(name, 0) + 1
        self.since_connect[name] = []

    def handle(self, name: str, frame: str | bytes) -> None:
        super().handle(name, frame)
        try:
            channel = json.loads(frame).get("channel", "")
        except (ValueError, AttributeError):
            channel = ""
        self.since_connect.setdefault(name, []).append(channel)

    def played(self, scripts) -> bool:
        """Every connection has handled its group's last script and a heartbeat after it.

        The fake sends a connection's frames in order and heartbeats only once its script
        is over, so a heartbeat beyond the script's frames means all of them were handled.
        """
        for i, group in enumerate(self.config.product_groups()):
            name, group_scripts = f"coinbase-{i}", scripts[group]
            if self.connects.get(name, 0) < len(group_scripts):
                return False
            sends = sum(isinstance(step, Send) for step in group_scripts[-1])
            after = self.since_connect[name][1 + sends :]  # past `subscriptions` and the script
            if "heartbeats" not in after:
                return False
        return True


def run_stream(stream: CoinbaseTradeStream, done, timeout_s: float = 120) -> None:
    """Runs until `done()` is true (checked every 10 ms), then stops the stream."""

    async def main() -> None:
        stop = asyncio.Event()

        async def watch() -> None:
            while not done():
                await asyncio.sleep(0.01)
            stop.set()

        watcher = asyncio.create_task(watch())
        try:
            await asyncio.wait_for(stream.run_until(stop), timeout_s)
        finally:
            watcher.cancel()

    asyncio.run(main())


def run_scenario(stream: WatchedStream, producer, scripts) -> None:
    """Runs the scenario until every script has played out and every unique trade is sent."""
    total = scenario.expected_total()
    run_stream(stream, lambda: producer.stats.sent >= total and stream.played(scripts))


def ids_by_symbol(trades: list[trade_pb2.Trade]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for trade in trades:
        out.setdefault(trade.symbol, []).append(trade.trade_id)
    return out


def test_stream_scenario_delivers_each_unique_trade_once_in_order():
    producer = RecordingProducer()
    scripts = scenario.scripts()
    with FakeCoinbaseServer(scripts, heartbeat_every_s=0.05) as server:
        stream = WatchedStream(fast_config(server.url), producer)
        run_scenario(stream, producer, scripts)
        subscribed = {c.products for c in server.connections}
    assert ids_by_symbol(producer.trades) == scenario.expected_ids()
    assert subscribed == {scenario.GROUP_A, scenario.GROUP_B}
    m = stream.metrics
    assert m.reconnects >= 3  # A: dropped, then silent; B: silent
    assert m.silent_connections >= 2
    assert m.total_duplicates == 3 + 2 + 2 + 1 + 2  # the overlap of each reconnect's snapshot
    assert m.trades == {s: len(ids) for s, ids in scenario.expected_ids().items()}
    assert m.heartbeats >= 2
    assert sorted(r for _, r, *_ in producer.dead_letters) == scenario.DEAD_LETTER_REASONS
    assert {source for *_, source in producer.dead_letters} == {"coinbase"}
    assert m.dead_letters == 3 and m.total_malformed == 3
    payloads = {reason: payload for payload, reason, *_ in producer.dead_letters}
    assert payloads["malformed"] == b"{oops, not json"
    assert json.loads(payloads["invalid_price"])["trade_id"] == "99"
    assert json.loads(payloads["unexpected"])["channel"] == "ticker"
    assert m.handler_errors == 0


def test_stream_side_and_time_reach_the_trade():
    producer = RecordingProducer()
    scripts = {("BTC-USD",): [[scenario.snapshot(*[scenario.t("BTC-USD", n) for n in (1, 2)])]]}
    with FakeCoinbaseServer(scripts) as server:
        # One scripted connection that never goes quiet: no reason to time anything out.
        config = fast_config(server.url, products=["BTC-USD"], silence_timeout_s=60.0)
        stream = WatchedStream(config, producer)
        run_stream(stream, lambda: stream.played(scripts))
    assert producer.ids("BTC-USD") == ["1", "2"]
    first = producer.trades[0]
    assert first.side == trade_pb2.SIDE_SELL  # Coinbase "BUY" = the maker bought
    assert first.time_ms == scenario.T0 + 1000
    assert first.price == 60_001.0 and first.exchange == "coinbase"


def test_stream_handler_survives_a_failing_producer():
    class Flaky(RecordingProducer):
        def send(self, trade):
            if trade.trade_id == "2":
                raise RuntimeError("buffer full")
            super().send(trade)

    producer = Flaky()
    stream = CoinbaseTradeStream(fast_config("ws://127.0.0.1:1", products=["BTC-USD"]), producer)
    batch = json.dumps(scenario.snapshot(*[scenario.t("BTC-USD", n) for n in (1, 2)]).message)
    stream.handle("coinbase-0", batch)
    stream.handle("coinbase-0", json.dumps(scenario.update(scenario.t("BTC-USD", 3)).message))
    assert producer.ids("BTC-USD") == ["1", "3"]
    assert stream.metrics.handler_errors == 1


def test_stream_counts_heartbeat_and_sequence_gaps_per_connection():
    stream = CoinbaseTradeStream(
        fast_config("ws://127.0.0.1:1", products=["BTC-USD"]), RecordingProducer()
    )

    def beat(name: str, counter: int, sequence: int) -> None:
        stream.handle(name, json.dumps({**heartbeat_message(counter), "sequence_num": sequence}))

    beat("a", 1, 0)
    beat("a", 2, 1)
    beat("a", 5, 5)  # three heartbeats and three messages missed
    beat("b", 9, 0)  # another connection has its own counters
    stream.connected("a")  # a new connection starts its counters over
    beat("a", 1, 0)
    assert stream.metrics.heartbeats == 5
    assert stream.metrics.heartbeat_gaps == 1
    assert stream.metrics.sequence_gaps == 1


def test_stream_exchange_error_is_counted_and_dead_lettered():
    producer = RecordingProducer()
    stream = CoinbaseTradeStream(fast_config("ws://127.0.0.1:1", products=["BTC-USD"]), producer)
    stream.handle("coinbase-0", '{"type":"error","message":"rate limit exceeded"}')
    assert stream.metrics.exchange_errors == 1
    assert producer.dead_letters[0][1:3] == ("exchange_error", "rate limit exceeded")


def test_config_splits_products_across_connections():
    config = fast_config("ws://x", products=["A-USD", "B-USD", "C-USD", "D-USD", "E-USD"])
    assert config.product_groups() == [("A-USD", "B-USD"), ("C-USD", "D-USD"), ("E-USD",)]
    stream = CoinbaseTradeStream(config, RecordingProducer())
    assert [c.name for c in stream.connections] == ["coinbase-0", "coinbase-1", "coinbase-2"]
    assert stream.metrics.connections_wanted == 3


@pytest.mark.parametrize(
    "overrides",
    [
        {"products": ()},
        {"products": ("A-USD", "A-USD")},
        {"products_per_connection": 0},
        {"silence_timeout_s": 0},
    ],
)
def test_config_rejects_nonsense(overrides):
    with pytest.raises(ValueError):
        fast_config("ws://x", **overrides)


def test_parse_products_normalises_and_drops_repeats():
    assert parse_products(" btc-usd,ETH-USD,,BTC-USD ") == ("BTC-USD", "ETH-USD")


@pytest.mark.integration
def test_stream_scenario_into_kafka_is_exactly_the_unique_trades_in_order(kafka_broker):
    topic, dlq = "ingest-coinbase-trades", "ingest-coinbase-dlq"
    create_topics(kafka_broker, [topic, dlq])
    producer = TradeProducer(kafka_broker, topic, dlq)
    try:
        scripts = scenario.scripts()
        with FakeCoinbaseServer(scripts, heartbeat_every_s=0.05) as server:
            stream = WatchedStream(fast_config(server.url), producer)
            run_scenario(stream, producer, scripts)
        producer.flush(timeout_s=30)
    finally:
        producer.close()
    total = scenario.expected_total()
    records = consume_all(kafka_broker.bootstrap, topic, expected=total, timeout_s=30)
    assert end_offset_total(kafka_broker.bootstrap, topic) == total  # nothing more
    trades = [trade_pb2.Trade.FromString(value) for _, value in records]
    assert all(key == t.symbol.encode() for (key, _), t in zip(records, trades, strict=True))
    # One symbol lives on one partition, so its order in Kafka is the order produced.
    assert ids_by_symbol(trades) == scenario.expected_ids()
    letters = consume_all(kafka_broker.bootstrap, dlq, expected=3, timeout_s=30)
    reasons = sorted(trade_pb2.DeadLetter.FromString(v).reason for _, v in letters)
    assert reasons == scenario.DEAD_LETTER_REASONS


def end_offset_total(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    from tradestream.kafka_clients.config import consumer_config

    consumer = Consumer(consumer_config({"bootstrap.servers": bootstrap}))
    try:
        deadline = time.monotonic() + 10
        while not (partitions := consumer.list_topics(topic, timeout=10).topics[topic].partitions):
            assert time.monotonic() < deadline, f"no metadata for {topic}"
            time.sleep(0.1)
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        )
    finally:
        consumer.close()


def test_stream_logs_at_most_ten_bad_messages_per_interval(caplog):
    producer = RecordingProducer()
    stream = CoinbaseTradeStream(fast_config("ws://127.0.0.1:1", products=["BTC-USD"]), producer)
    with caplog.at_level("WARNING", logger="tradestream.ingest"):
        for n in range(15):
            stream.handle("coinbase-0", f"garbage {n}")
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 10
    assert stream.metrics.malformed == {"malformed": 15}
    assert len(producer.dead_letters) == 15  # every one is kept, logged or not


def test_stream_counts_failed_reconnects_and_shows_them_in_the_summary_line(caplog):
    # One good connection (a trade, then dropped), then the exchange goes away: every attempt
    # to reconnect is refused, and each one is counted.
    producer = RecordingProducer()
    server = FakeCoinbaseServer([[scenario.update(scenario.t("BTC-USD", 1)), Drop()]]).start()
    stream = CoinbaseTradeStream(fast_config(server.url, products=["BTC-USD"]), producer)
    stopping: list[threading.Thread] = []

    def exchange_gone_and_refused_three_times() -> bool:
        if producer.stats.sent >= 1 and not stopping:
            # server.stop() joins the server's thread: not on the stream's event loop.
            stopping.append(threading.Thread(target=server.stop))
            stopping[0].start()
        return bool(stopping) and stream.metrics.failed_connects >= 3

    try:
        with caplog.at_level("WARNING", logger="tradestream.ingest"):
            run_stream(stream, exchange_gone_and_refused_three_times, timeout_s=60)
    finally:
        if stopping:
            stopping[0].join(10)
        else:  # the stream failed before the exchange went away
            server.stop()
    m = stream.metrics
    refused = [r for r in caplog.records if "connect failed" in r.getMessage()]
    assert m.failed_connects == len(refused) >= 3  # each refused attempt once, nothing else
    assert m.connections == 0
    assert producer.stats.sent == 1
    line = summary_line(m, {})
    assert f"reconnects {m.reconnects} (silent 0) | failed connects {m.failed_connects} |" in line
