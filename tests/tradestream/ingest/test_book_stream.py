"""The level-2 stream end to end against the fake exchange: in memory, then into real Kafka.

The fake plays `book_scenario` (gaps, a duplicate, out-of-order delivery, a dropped
connection, bad input) over a true book it keeps; the books rebuilt from what the stream
produced must equal the true books rebuilt from the fake's log. Runs end on conditions:
every connection has played its last script, the stream has handled a heartbeat sent after
it, and every book is live.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.kafka import consume_all, create_topics
from tests.tradestream.ingest import book_scenario as scenario
from tests.tradestream.ingest.fakes import RecordingProducer
from tests.tradestream.ingest.test_coinbase_stream import run_stream
from tradestream.exchanges.order_book import BookState
from tradestream.ingest.book_metrics import book_summary_line
from tradestream.ingest.book_stream import CoinbaseBookStream
from tradestream.ingest.coinbase_stream import CoinbaseStreamConfig
from tradestream.ingest.fake_coinbase import FakeCoinbaseServer
from tradestream.ingest.producer import BookProducer
from tradestream.ingest.ws_client import BackoffPolicy
from tradestream.v1 import book_pb2, trade_pb2


def fast_config(url: str, products=scenario.PRODUCTS, **overrides) -> CoinbaseStreamConfig:
    settings = dict(
        products=tuple(products),
        ws_url=url,
        products_per_connection=scenario.PER_CONNECTION,
        silence_timeout_s=5.0,
        open_timeout_s=5.0,
        backoff=BackoffPolicy(initial_s=0.02, max_s=0.1, stable_after_s=60),
        log_every_s=0.5,
    )
    settings.update(overrides)
    return CoinbaseStreamConfig(**settings)


def played(stream: CoinbaseBookStream, server: FakeCoinbaseServer, scripts) -> bool:
    """Every group's last script has played, a heartbeat after it was handled, books live."""
    for name, group in stream.groups.items():
        logs = [c for c in server.connections if c.products == group]
        if len(logs) < len(scripts[group]):
            return False
        done = logs[-1].script_done_sequence
        last = stream.builder.last_sequence(name)
        if done is None or last is None or last < done:
            return False
    return stream.builder.all_live()


def run_scenario(producer) -> tuple[CoinbaseBookStream, FakeCoinbaseServer]:
    scripts = scenario.scripts()
    server = FakeCoinbaseServer(scripts, heartbeat_every_s=0.05, books=scenario.truth())
    with server:
        stream = CoinbaseBookStream(fast_config(server.url), producer)
        run_stream(stream, lambda: played(stream, server, scripts), timeout_s=120)
    return stream, server


def test_book_stream_scenario_books_equal_the_exchange_rebuilt_independently():
    producer = RecordingProducer()
    stream, server = run_scenario(producer)
    updates = producer.updates
    assert all(isinstance(u, book_pb2.BookUpdate) for u in updates)
    expected = scenario.rebuild_from_truth(server.books)
    assert expected == server.books.books  # the fake's own state agrees with its log
    assert scenario.rebuild_from_updates(updates) == expected
    # ...and so do the stream's own books
    assert {s: stream.builder.book(s).as_dict() for s in scenario.PRODUCTS} == expected
    m = stream.metrics
    reasons = sorted(r for _, r, *_ in producer.dead_letters)
    assert reasons == scenario.DEAD_LETTER_REASONS
    assert {source for *_, source in producer.dead_letters} == {"coinbase-level2"}
    assert {k: m.skipped.get(k, 0) for k in scenario.SKIPPED} == scenario.SKIPPED
    assert m.sequence_gaps == 4 and m.missed_messages == 5  # 1 + 1 + 2 + 1
    assert m.reconnects == 1
    assert m.unaccounted == 0
    assert m.handler_errors == 0
    # Every fault that needed a fresh snapshot re-subscribed: unsubscribe, then subscribe.
    requests = [
        (r["type"], tuple(r["product_ids"]))
        for c in server.connections
        if c.products == scenario.GROUP_A
        for r in c.requests
    ]
    assert requests[:2] == [("unsubscribe", scenario.GROUP_A), ("subscribe", scenario.GROUP_A)]
    assert ("subscribe", ("BTC-USD",)) in requests and ("subscribe", ("ETH-USD",)) in requests
    assert m.resubscribes == len(requests) // 2 + 1  # + group B's one
    # A snapshot per product and subscription: 3 at the start; group A's re-subscriptions
    # (2 + 2 + 1 + 1 + 1 on the first connection, 2 on the second), its reconnect (2), and
    # group B's one.
    snapshots = sum(u.is_snapshot for u in updates)
    assert sum(m.snapshots.values()) == snapshots == 3 + 7 + 2 + 2 + 1
    assert "dead-lettered 8" in book_summary_line(m)
    text = m.render_prometheus()
    assert (
        f'tradestream_ingest_book_updates_total{{symbol="SOL-USD"}} {m.updates["SOL-USD"]}' in text
    )
    assert 'tradestream_ingest_book_dead_lettered_total{reason="sequence_gap"} 4' in text


def test_book_stream_bad_input_never_crashes_and_is_dead_lettered_with_its_reason():
    producer = RecordingProducer()
    stream = CoinbaseBookStream(fast_config("ws://127.0.0.1:1", products=["BTC-USD"]), producer)
    stream.connected("coinbase-l2-0")
    envelope = {"channel": "l2_data", "client_id": "", "timestamp": "2024-01-02T03:04:05Z"}

    def l2(seq: int, kind: str, product: str, *levels) -> str:
        updates = [
            {"side": s, "event_time": "2024-01-02T03:04:05Z", "price_level": p, "new_quantity": q}
            for s, p, q in levels
        ]
        event = {"type": kind, "product_id": product, "updates": updates}
        return json.dumps({**envelope, "sequence_num": seq, "events": [event]})

    frames = [
        l2(0, "update", "BTC-USD", ("bid", "100", "1")),  # before any snapshot
        l2(1, "snapshot", "BTC-EUR", ("bid", "100", "1")),  # unknown symbol
        l2(2, "snapshot", "BTC-USD", ("bid", "101", "1"), ("offer", "100", "1")),  # crossed
        "{not json",
        '{"type": "error", "message": "rate limit exceeded"}',
        l2(3, "snapshot", "BTC-USD", ("bid", "99", "1"), ("offer", "100", "1")),
        l2(4, "update", "BTC-USD", ("bid", "99", "-1")),  # negative size
    ]
    for frame in frames:
        stream.handle("coinbase-l2-0", frame)
    reasons = [r for _, r, *_ in producer.dead_letters]
    assert reasons == [
        "update_before_snapshot",
        "unknown_symbol",
        "crossed_book",
        "malformed",
        "exchange_error",
        "invalid_size",
    ]
    assert stream.metrics.handler_errors == 0
    assert [u.is_snapshot for u in producer.updates] == [True]
    assert stream.builder.states["BTC-USD"] is BookState.RESYNCING
    assert stream.metrics.resubscribes == 0  # asked for, but no connection is open to ask on
    # The dead letter of one event is still a Coinbase message, with that event only.
    crossed = json.loads(producer.dead_letters[2][0])
    assert crossed["channel"] == "l2_data" and crossed["sequence_num"] == 2
    assert [e["product_id"] for e in crossed["events"]] == ["BTC-USD"]


@pytest.mark.integration
def test_book_stream_into_kafka_rebuilds_the_exchange_books(kafka_broker):
    topic, dlq = "ingest-book", "ingest-book-dlq"
    create_topics(kafka_broker, [topic, dlq])
    producer = BookProducer(kafka_broker, topic, dlq)
    try:
        stream, server = run_scenario(producer)
        producer.flush(timeout_s=30)
    finally:
        producer.close()
    sent = stream.metrics.total_updates
    records = consume_all(kafka_broker.bootstrap, topic, expected=sent, timeout_s=30)
    assert len(records) == sent
    updates = [book_pb2.BookUpdate.FromString(v) for _, v in records]
    assert all(key == u.symbol.encode() for (key, _), u in zip(records, updates, strict=True))
    # One symbol lives on one partition: its updates come back in the order produced.
    assert scenario.rebuild_from_updates(updates) == scenario.rebuild_from_truth(server.books)
    letters = consume_all(
        kafka_broker.bootstrap, dlq, expected=len(scenario.DEAD_LETTER_REASONS), timeout_s=30
    )
    decoded = [trade_pb2.DeadLetter.FromString(v) for _, v in letters]
    assert sorted(d.reason for d in decoded) == scenario.DEAD_LETTER_REASONS
    assert all(d.source_topic == "coinbase-level2" and d.detail for d in decoded)
    assert time.time() * 1000 - min(d.time_ms for d in decoded) < 600_000
