"""The Coinbase parser against frames written from Coinbase's documentation.

The fake exchange (`fake_coinbase.py`) takes its channel names from the code under test and
builds its messages with the project's own helpers, so a test against it cannot show that
both are wrong the same way. These frames (`tests/fixtures/coinbase/`, see its README) were
written by hand from the documented messages; expectations here are computed with the
standard library, not with the parser's helpers.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.tradestream.ingest.fakes import RecordingProducer
from tradestream.exchanges.coinbase import parse_message
from tradestream.ingest.coinbase_stream import CoinbaseStreamConfig, CoinbaseTradeStream
from tradestream.ingest.fake_coinbase import heartbeat_message, trade, trades_message
from tradestream.v1 import trade_pb2

FRAMES = Path(__file__).resolve().parents[2] / "fixtures" / "coinbase"


def frame(name: str) -> str:
    return (FRAMES / f"{name}.json").read_text()


def documented(name: str) -> dict:
    return json.loads(frame(name))


def epoch_ms(rfc3339: str) -> int:
    """Milliseconds since the epoch, digits past the millisecond dropped (not rounded)."""
    head, _, fraction = rfc3339.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(head + "+00:00").timestamp()
    return int(seconds) * 1000 + int((fraction + "000")[:3])


def stream_for(*products: str) -> tuple[CoinbaseTradeStream, RecordingProducer]:
    producer = RecordingProducer()
    config = CoinbaseStreamConfig(products=products, ws_url="ws://127.0.0.1:1")
    return CoinbaseTradeStream(config, producer), producer


def test_frames_snapshot_every_documented_field_lands_in_the_trade():
    doc = documented("market_trades_snapshot")
    raw = doc["events"][0]["trades"][0]
    message = parse_message(frame("market_trades_snapshot"), allowed_symbols={"ETH-USD"})
    assert message.channel == "market_trades"
    assert message.sequence_num == doc["sequence_num"] == 0
    assert message.event_types == ("snapshot",)
    assert message.rejects == []
    assert message.trades == [
        trade_pb2.Trade(
            exchange="coinbase",
            symbol=raw["product_id"],  # ETH-USD: already BASE-QUOTE
            trade_id=raw["trade_id"],  # "000000000": an id, kept as the string it is
            price=1260.01,
            size=0.3,
            # Coinbase reports the maker's side; Trade.side is the taker's: a BUY maker was
            # hit by a seller.
            side=trade_pb2.SIDE_SELL,
            time_ms=epoch_ms(raw["time"]),
        )
    ]
    assert message.trades[0].time_ms == 1_565_815_347_265  # 2019-08-14T20:42:27.265Z


def test_frames_update_batch_keeps_every_trade_in_time_then_id_order():
    doc = documented("market_trades_update")
    message = parse_message(frame("market_trades_update"), allowed_symbols={"BTC-USD"})
    assert message.event_types == ("update",)
    assert message.sequence_num == 5
    by_id = {t["trade_id"]: t for t in doc["events"][0]["trades"]}
    # Same nanosecond time: ordered by numeric trade id, the older trade first.
    assert [t.trade_id for t in message.trades] == ["523884171", "523884172"]
    for got in message.trades:
        raw = by_id[got.trade_id]
        assert (got.symbol, got.price, got.size) == (
            raw["product_id"],
            float(raw["price"]),
            float(raw["size"]),
        )
        assert got.time_ms == epoch_ms(raw["time"]) == 1_675_973_975_806  # ns truncated
    sides = {t.trade_id: t.side for t in message.trades}
    assert sides == {"523884171": trade_pb2.SIDE_SELL, "523884172": trade_pb2.SIDE_BUY}


@pytest.mark.parametrize(
    ("name", "counter"), [("heartbeats", 3049), ("heartbeats_integer_counter", 3050)]
)
def test_frames_heartbeat_counter_read_as_string_or_integer_and_no_trades(name, counter):
    message = parse_message(frame(name))
    assert message.channel == "heartbeats"
    assert message.heartbeat_counter == counter
    assert message.trades == [] and message.rejects == []


def test_frames_subscriptions_list_each_channel_with_its_products():
    message = parse_message(frame("subscriptions"))
    assert message.channel == "subscriptions"
    assert message.subscriptions == {
        "market_trades": ["BTC-USD", "ETH-USD"],
        "heartbeats": ["heartbeats"],
    }
    assert message.trades == []


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("error", ["failure to subscribe"]),
        ("error_with_reason", ["Failed to subscribe", "NOT-A-PRODUCT is not a valid product"]),
    ],
)
def test_frames_error_names_what_coinbase_said(name, words):
    message = parse_message(frame(name))
    assert message.channel == "error"
    assert message.trades == []
    assert message.error is not None
    for word in words:
        assert word in message.error


def test_frames_stream_counts_only_market_trades_as_trades():
    stream, producer = stream_for("BTC-USD", "ETH-USD")
    for name in (
        "subscriptions",
        "heartbeats",
        "market_trades_snapshot",
        "heartbeats_integer_counter",
    ):
        stream.handle("coinbase-0", frame(name))
    stream.handle("coinbase-0", frame("market_trades_update"))
    assert [t.trade_id for t in producer.trades] == ["000000000", "523884171", "523884172"]
    m = stream.metrics
    assert m.trades == {"ETH-USD": 1, "BTC-USD": 2}
    assert m.heartbeats == 2
    assert m.total_malformed == 0 and m.dead_letters == 0 and m.exchange_errors == 0
    assert producer.dead_letters == []


def test_frames_stream_error_frame_is_counted_and_dead_lettered_with_the_reason():
    stream, producer = stream_for("BTC-USD")
    stream.handle("coinbase-0", frame("error_with_reason"))
    assert stream.metrics.exchange_errors == 1
    assert producer.trades == []
    [(payload, reason, detail, _symbol, source)] = producer.dead_letters
    assert (reason, source) == ("exchange_error", "coinbase")
    assert "NOT-A-PRODUCT is not a valid product" in detail
    assert json.loads(payload) == documented("error_with_reason")


def test_frames_fake_exchange_speaks_the_documented_shapes():
    """The fake the stream tests run against sends what Coinbase documents, key for key."""
    snapshot = documented("market_trades_snapshot")
    fake = trades_message("snapshot", [trade("ETH-USD", 1)])
    # The fake adds timestamp and sequence_num when it sends a message.
    assert set(fake) | {"timestamp", "sequence_num"} == set(snapshot)
    assert set(fake["events"][0]) == set(snapshot["events"][0])
    assert set(fake["events"][0]["trades"][0]) == set(snapshot["events"][0]["trades"][0])
    beat = documented("heartbeats")
    fake_beat = heartbeat_message(1)
    assert set(fake_beat) | {"timestamp", "sequence_num"} == set(beat)
    assert set(fake_beat["events"][0]) == set(beat["events"][0])
