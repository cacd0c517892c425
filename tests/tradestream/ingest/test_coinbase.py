"""The Coinbase protocol: subscribe requests, message decoding, side and time mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestream.exchanges import coinbase
from tradestream.exchanges.coinbase import MalformedMessage, parse_message, parse_time_ms
from tradestream.ingest.fake_coinbase import heartbeat_message, trade, trades_message
from tradestream.v1 import trade_pb2

T0 = 1_700_000_000_000


def envelope(message: dict, sequence: int = 7) -> str:
    return json.dumps(
        {**message, "timestamp": "2023-11-14T22:13:20.1234Z", "sequence_num": sequence}
    )


def test_subscribe_message_names_one_channel_and_the_products():
    request = json.loads(coinbase.subscribe_message("market_trades", ["BTC-USD", "ETH-USD"]))
    assert request == {
        "type": "subscribe",
        "channel": "market_trades",
        "product_ids": ["BTC-USD", "ETH-USD"],
    }
    assert "jwt" not in request
    assert json.loads(coinbase.subscribe_message("heartbeats", ["BTC-USD"], jwt="t"))["jwt"] == "t"


def test_parse_snapshot_maps_every_field():
    raw = trade("BTC-USD", 42, price="64000.12", size="0.0015", side="BUY", time_ms=T0 + 789)
    message = parse_message(envelope(trades_message("snapshot", [raw])))
    assert message.channel == "market_trades"
    assert message.event_types == ("snapshot",)
    assert message.sequence_num == 7
    assert message.rejects == []
    assert message.trades == [
        trade_pb2.Trade(
            exchange="coinbase",
            symbol="BTC-USD",
            trade_id="42",
            price=64000.12,
            size=0.0015,
            side=trade_pb2.SIDE_SELL,  # a resting bid was hit: the taker sold
            time_ms=T0 + 789,
        )
    ]


@pytest.mark.parametrize(
    ("coinbase_side", "taker"),
    [
        ("BUY", trade_pb2.SIDE_SELL),
        ("SELL", trade_pb2.SIDE_BUY),
        ("sell", trade_pb2.SIDE_BUY),
        ("", trade_pb2.SIDE_UNSPECIFIED),
        ("UNKNOWN_ORDER_SIDE", trade_pb2.SIDE_UNSPECIFIED),
    ],
)
def test_side_is_the_takers_opposite_of_coinbase_maker_side(coinbase_side, taker):
    assert coinbase.taker_side(coinbase_side) == taker


def test_update_with_several_events_keeps_event_order_and_sorts_within_each():
    # Newest-first inside a batch comes out in time order.
    update = {
        "channel": "market_trades",
        "events": [
            {
                "type": "update",
                "trades": [
                    trade("ETH-USD", 3, time_ms=T0 + 30),
                    trade("ETH-USD", 2, time_ms=T0 + 20),
                ],
            },
            {
                "type": "update",
                "trades": [
                    trade("ETH-USD", 5, time_ms=T0 + 50),
                    trade("ETH-USD", 4, time_ms=T0 + 50),
                ],
            },
        ],
    }
    message = parse_message(envelope(update))
    assert [t.trade_id for t in message.trades] == ["2", "3", "4", "5"]
    assert message.event_types == ("update", "update")


def test_bad_trade_is_rejected_alone_with_its_reason():
    batch = [
        trade("BTC-USD", 1),
        {**trade("BTC-USD", 2), "price": "abc"},
        {**trade("BTC-USD", 3), "size": "0"},
        trade("DOGE-USD", 4),
        {k: v for k, v in trade("BTC-USD", 5).items() if k != "time"},
        trade("BTC-USD", 6),
    ]
    message = parse_message(envelope(trades_message("update", batch)), allowed_symbols={"BTC-USD"})
    assert [t.trade_id for t in message.trades] == ["1", "6"]
    assert [(r.reason, r.symbol) for r in message.rejects] == [
        ("malformed", "BTC-USD"),
        ("invalid_size", "BTC-USD"),
        ("unknown_symbol", "DOGE-USD"),
        ("malformed", "BTC-USD"),
    ]
    assert json.loads(message.rejects[0].raw)["price"] == "abc"
    assert "time" in message.rejects[3].detail


@pytest.mark.parametrize("counter", [3049, "3049"])
def test_heartbeat_counter_as_integer_or_string(counter):
    raw = heartbeat_message(1)
    raw["events"][0]["heartbeat_counter"] = counter
    assert parse_message(envelope(raw)).heartbeat_counter == 3049


def test_subscriptions_message_lists_channels():
    raw = {
        "channel": "subscriptions",
        "events": [{"subscriptions": {"market_trades": ["BTC-USD"], "heartbeats": ["BTC-USD"]}}],
    }
    assert parse_message(envelope(raw)).subscriptions == {
        "market_trades": ["BTC-USD"],
        "heartbeats": ["BTC-USD"],
    }


def test_error_message_is_reported_not_raised():
    message = parse_message('{"type":"error","message":"failure to subscribe"}')
    assert message.channel == "error"
    assert message.error == "failure to subscribe"


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{oops", "malformed"),
        ("[1, 2]", "malformed"),
        ('"text"', "malformed"),
        (b"\xff\xfe", "malformed"),
        ('{"events": []}', "malformed"),
        ('{"channel": "market_trades"}', "malformed"),
        ('{"channel": "market_trades", "events": [{"type": "snapshot"}]}', "malformed"),
        ('{"channel": "market_trades", "events": [{"type": "bogus", "trades": []}]}', "unexpected"),
        ('{"channel": "ticker", "events": []}', "unexpected"),
        ('{"channel": "heartbeats", "events": [{"heartbeat_counter": "x"}]}', "malformed"),
    ],
)
def test_unreadable_messages_raise_malformed_with_reason(frame, reason):
    with pytest.raises(MalformedMessage) as info:
        parse_message(frame)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-08-14T20:42:27.265Z", datetime(2019, 8, 14, 20, 42, 27, 265000, tzinfo=UTC)),
        ("2023-02-09T20:19:35.39625135Z", datetime(2023, 2, 9, 20, 19, 35, 396000, tzinfo=UTC)),
        ("2023-02-09T20:19:35.999999999Z", datetime(2023, 2, 9, 20, 19, 35, 999000, tzinfo=UTC)),
        ("2023-02-09T20:19:35Z", datetime(2023, 2, 9, 20, 19, 35, tzinfo=UTC)),
        ("2023-02-09T20:19:35.5", datetime(2023, 2, 9, 20, 19, 35, 500000, tzinfo=UTC)),
        ("2023-02-09T21:19:35.1+01:00", datetime(2023, 2, 9, 20, 19, 35, 100000, tzinfo=UTC)),
        ("2023-02-09 15:19:35.1-0500", datetime(2023, 2, 9, 20, 19, 35, 100000, tzinfo=UTC)),
    ],
)
def test_parse_time_ms_truncates_to_milliseconds(text, expected):
    assert parse_time_ms(text) == int(expected.timestamp() * 1000)


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "2023-13-01T00:00:00Z", "2023-02-30T00:00:00Z", "2023-02-09T24:00:00Z"],
)
def test_parse_time_ms_rejects_non_times(text):
    with pytest.raises(ValueError):
        parse_time_ms(text)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2199, 12, 31)),
    st.integers(0, 999),
    st.integers(-14 * 60, 14 * 60),
)
def test_parse_time_ms_agrees_with_datetime(moment, nanos, offset_min):
    zone = timezone(timedelta(minutes=offset_min))
    aware = moment.replace(tzinfo=zone)
    sign = "-" if offset_min < 0 else "+"
    zone_text = f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    text = f"{aware:%Y-%m-%dT%H:%M:%S}.{aware.microsecond:06d}{nanos:03d}{zone_text}"
    expected = int(aware.replace(microsecond=0).timestamp()) * 1000 + aware.microsecond // 1000
    assert parse_time_ms(text) == expected
