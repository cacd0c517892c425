"""Fuzzing the Coinbase message parser: a frame is a FeedMessage or a MalformedMessage.

For `market_trades`, every trade object of the frame is accounted for: it is either a valid
Trade or a TradeReject with a reason (count in == trades + rejects), never dropped.
"""

from __future__ import annotations

import contextlib
import json
import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradestream.exchanges import coinbase
from tradestream.market.trade_validation import MAX_TIME_MS, MIN_TIME_MS
from tradestream.v1 import trade_pb2

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE_QUOTE = re.compile(r"[A-Z0-9]{1,20}-[A-Z0-9]{1,20}")

GOOD_TRADE = {
    "trade_id": "123",
    "product_id": "BTC-USD",
    "price": "42000.50",
    "size": "0.01",
    "side": "BUY",
    "time": "2024-01-02T03:04:05.123456Z",
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        ["nan", "inf", "-1", "0", "1e400", "", "٣", "²", "2024-13-01T00:00:00Z", "10" * 40]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def trade_objects(draw) -> object:
    """A Coinbase trade with fields dropped, replaced by junk, or the whole object junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    obj = dict(GOOD_TRADE)
    for key in draw(st.lists(st.sampled_from(sorted(GOOD_TRADE)), max_size=3)):
        if draw(st.booleans()):
            obj.pop(key, None)
        else:
            obj[key] = draw(json_values)
    return obj


@st.composite
def frames(draw) -> dict:
    channel = draw(st.sampled_from(["market_trades", "heartbeats", "subscriptions", "x"]))
    if channel == "market_trades":
        events = [
            {
                "type": draw(st.sampled_from(["snapshot", "update", "update", "other"])),
                "trades": draw(st.lists(trade_objects(), max_size=4)),
            }
            for _ in range(draw(st.integers(0, 2)))
        ]
    elif channel == "heartbeats":
        events = [{"heartbeat_counter": draw(json_values)}]
    elif channel == "subscriptions":
        events = [{"subscriptions": draw(st.dictionaries(st.text(max_size=8), json_values))}]
    else:
        events = draw(json_values)
    frame = {"channel": channel, "sequence_num": draw(json_values), "events": events}
    if draw(st.integers(0, 9)) == 0:
        frame["events"] = draw(json_values)
    return frame


def _parse(text: str | bytes, allowed=None) -> coinbase.FeedMessage | None:
    try:
        return coinbase.parse_message(text, allowed)
    except coinbase.MalformedMessage as exc:
        assert exc.reason in ("malformed", "unexpected") and exc.detail
        return None


def _check_trades(frame: dict, message: coinbase.FeedMessage, allowed=None) -> None:
    count_in = sum(len(e["trades"]) for e in frame["events"])
    assert len(message.trades) + len(message.rejects) == count_in
    for reject in message.rejects:
        assert reject.reason and reject.detail and isinstance(reject.raw, str)
    for t in message.trades:
        assert BASE_QUOTE.fullmatch(t.symbol) and t.trade_id
        assert allowed is None or t.symbol in allowed
        assert math.isfinite(t.price) and t.price > 0
        assert math.isfinite(t.size) and t.size > 0
        assert t.side in (trade_pb2.SIDE_UNSPECIFIED, trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL)
        assert MIN_TIME_MS <= t.time_ms <= MAX_TIME_MS


@FUZZ
@given(frames(), st.sampled_from([None, {"BTC-USD"}]))
def test_fuzz_coinbase_message_parses_or_raises_malformed_and_accounts_for_every_trade(
    frame, allowed
):
    message = _parse(json.dumps(frame), allowed)
    if message is None or message.channel != coinbase.MARKET_TRADES:
        return
    _check_trades(frame, message, allowed)
    assert message.sequence_num is None or isinstance(message.sequence_num, int)


@FUZZ
@given(st.one_of(st.text(max_size=80), st.binary(max_size=80), json_values.map(json.dumps)))
def test_fuzz_coinbase_raw_frames_parse_or_raise_malformed(text):
    _parse(text)


@FUZZ
@given(st.text(max_size=40))
def test_fuzz_coinbase_parse_time_ms_returns_int_or_raises_value_error(text):
    with contextlib.suppress(ValueError):
        assert isinstance(coinbase.parse_time_ms(text), int)


def _market_trades(*trades: object) -> str:
    event = {"type": "update", "trades": list(trades)}
    return json.dumps({"channel": "market_trades", "events": [event]})


def test_fuzz_coinbase_huge_integer_price_is_rejected_not_raised():
    message = coinbase.parse_message(_market_trades({**GOOD_TRADE, "price": 10**400}))
    assert not message.trades and message.rejects[0].reason == "malformed"


def test_fuzz_coinbase_boolean_price_is_rejected_as_malformed():
    message = coinbase.parse_message(_market_trades({**GOOD_TRADE, "size": True}))
    assert not message.trades and message.rejects[0].reason == "malformed"


def test_fuzz_coinbase_non_ascii_digit_trade_id_keeps_the_batch():
    odd = {**GOOD_TRADE, "trade_id": "²"}
    message = coinbase.parse_message(_market_trades(GOOD_TRADE, odd))
    assert len(message.trades) == 2


def test_fuzz_coinbase_deeply_nested_frame_is_malformed():
    message = _parse("[" * 100_000 + "]" * 100_000)
    assert message is None


def test_fuzz_coinbase_infinite_heartbeat_counter_is_malformed():
    frame = '{"channel": "heartbeats", "events": [{"heartbeat_counter": 1e400}]}'
    assert _parse(frame) is None


def test_fuzz_coinbase_subscriptions_with_a_non_list_is_read():
    frame = {"channel": "subscriptions", "events": [{"subscriptions": {"market_trades": 5}}]}
    message = coinbase.parse_message(json.dumps(frame))
    assert message.subscriptions == {"market_trades": ["5"]}
