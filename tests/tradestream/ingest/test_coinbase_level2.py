"""The level-2 parser against frames written from Coinbase's documentation, and bad events.

The fixtures (`tests/fixtures/coinbase/level2_*.json`, see its README) were written by hand
from the documented `level2` channel; expectations are computed with the standard library.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.tradestream.ingest.test_coinbase_frames import documented, frame
from tradestream.exchanges.coinbase import MalformedMessage
from tradestream.exchanges.coinbase_level2 import (
    parse_level2_message,
    subscribe_message,
    unsubscribe_message,
)
from tradestream.v1 import book_pb2

BID, ASK = book_pb2.BOOK_SIDE_BID, book_pb2.BOOK_SIDE_ASK


def epoch_ms(rfc3339: str) -> int:
    head, _, fraction = rfc3339.rstrip("Z").partition(".")
    return int(datetime.fromisoformat(head + "+00:00").timestamp()) * 1000 + int(
        (fraction + "000")[:3]
    )


def test_level2_documented_snapshot_every_level_side_price_and_size():
    doc = documented("level2_snapshot")
    message = parse_level2_message(frame("level2_snapshot"))
    assert message.channel == "l2_data"
    assert message.sequence_num == doc["sequence_num"] == 0
    assert message.rejects == []
    [event] = message.events
    assert event.symbol == "BTC-USD" and event.is_snapshot
    sides = {"bid": BID, "offer": ASK}
    assert event.levels == tuple(
        (sides[u["side"]], float(u["price_level"]), float(u["new_quantity"]))
        for u in doc["events"][0]["updates"]
    )
    assert event.levels[0] == (BID, 21921.73, 0.06317902)  # the documented example's first
    # Snapshot levels carry 1970-01-01: the event time is the message's timestamp.
    assert event.time_ms == epoch_ms(doc["timestamp"]) == 1_675_974_770_714


def test_level2_documented_update_zero_quantity_and_latest_event_time():
    doc = documented("level2_update")
    message = parse_level2_message(frame("level2_update"))
    [event] = message.events
    assert not event.is_snapshot
    assert event.levels[0] == (BID, 21921.73, 0.0)  # "0": the level is removed
    assert [side for side, _, _ in event.levels] == [BID, ASK, ASK]
    latest = max(epoch_ms(u["event_time"]) for u in doc["events"][0]["updates"])
    assert event.time_ms == latest == 1_675_974_770_911  # truncated, not rounded


def test_level2_subscriptions_and_heartbeats_decode_on_a_level2_connection():
    subs = parse_level2_message(frame("level2_subscriptions"))
    assert subs.channel == "subscriptions"
    assert subs.subscriptions == {"level2": ["BTC-USD"], "heartbeats": ["heartbeats"]}
    beat = parse_level2_message(frame("heartbeats"))
    assert beat.channel == "heartbeats" and beat.heartbeat_counter == 3049
    error = parse_level2_message(frame("error_with_reason"))
    assert error.channel == "error" and error.error


def test_level2_subscribe_and_unsubscribe_requests():
    assert json.loads(subscribe_message(["BTC-USD", "ETH-USD"])) == {
        "type": "subscribe",
        "channel": "level2",
        "product_ids": ["BTC-USD", "ETH-USD"],
    }
    assert json.loads(unsubscribe_message(["BTC-USD"])) == {
        "type": "unsubscribe",
        "channel": "level2",
        "product_ids": ["BTC-USD"],
    }


def with_update(**fields) -> str:
    doc = documented("level2_update")
    doc["events"][0]["updates"][1].update(fields)
    return json.dumps(doc)


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"new_quantity": "-0.5"}, "invalid_size"),
        ({"new_quantity": "NaN"}, "invalid_size"),
        ({"new_quantity": "inf"}, "invalid_size"),
        ({"price_level": "0"}, "invalid_price"),
        ({"price_level": "-3"}, "invalid_price"),
        ({"price_level": "nan"}, "invalid_price"),
        ({"price_level": "abc"}, "malformed"),
        ({"new_quantity": True}, "malformed"),
        ({"side": "buy"}, "invalid_side"),
        ({"event_time": "yesterday"}, "malformed"),
    ],
)
def test_level2_bad_level_rejects_the_whole_event_with_its_reason(fields, reason):
    message = parse_level2_message(with_update(**fields))
    assert message.events == []
    [reject] = message.rejects
    assert (reject.symbol, reject.is_snapshot, reject.reason) == ("BTC-USD", False, reason)
    assert reject.raw["updates"][1] == {
        **documented("level2_update")["events"][0]["updates"][1],
        **fields,
    }


def test_level2_ask_is_read_as_offer():
    [event] = parse_level2_message(with_update(side="ask")).events
    assert event.levels[1][0] == ASK


@pytest.mark.parametrize(
    "event, reason",
    [
        ({"type": "snapshot", "updates": []}, "malformed"),  # no product
        ({"type": "delta", "product_id": "BTC-USD", "updates": []}, "unexpected"),
        ({"type": "update", "product_id": "BTC-USD"}, "malformed"),  # no updates
        ({"type": "update", "product_id": "BTC-USD", "updates": [{"side": "bid"}]}, "malformed"),
        ("not an event", "malformed"),
    ],
)
def test_level2_unreadable_event_is_rejected_and_the_others_kept(event, reason):
    doc = documented("level2_update")
    doc["events"].insert(0, event)
    message = parse_level2_message(json.dumps(doc))
    assert [r.reason for r in message.rejects] == [reason]
    assert [e.symbol for e in message.events] == ["BTC-USD"]
    assert [type(item).__name__ for item in message.order] == ["EventReject", "BookEvent"]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{oops", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"channel": "l2_data", "events": {}}', "malformed"),
        ('{"channel": "market_trades", "events": []}', "unexpected"),
        ('{"channel": "ticker", "events": []}', "unexpected"),
    ],
)
def test_level2_unreadable_message_raises_malformed_with_reason(text, reason):
    with pytest.raises(MalformedMessage) as info:
        parse_level2_message(text)
    assert info.value.reason == reason
