"""The Coinbase Advanced Trade `level2` channel: subscribe requests in, book events out.

Pure functions, no I/O and no book state (`order_book.py` keeps the books). Documented by
Coinbase in "Advanced Trade WebSocket Channels", section "Level2 Channel", and in the
Advanced Trade AsyncAPI description (channel `level2`): subscribe with channel `level2`;
the messages arrive on channel **`l2_data`**, in the envelope every channel shares:

    {"channel": "l2_data", "client_id": "", "timestamp": "2023-02-09T20:32:50.714964855Z",
     "sequence_num": 0,
     "events": [{"type": "snapshot", "product_id": "BTC-USD",
                 "updates": [{"side": "bid", "event_time": "1970-01-01T00:00:00Z",
                              "price_level": "21921.73", "new_quantity": "0.06317902"}]}]}

- `events[].type`: `snapshot` (the whole book, sent once after each subscription) or
  `update` (the levels that changed);
- `updates[]`: `side` (`bid` or `offer`), `price_level` and `new_quantity` (decimal
  strings), `event_time` (RFC 3339; the time in the trading engine, 1970-01-01 in snapshots);
- `new_quantity` is the new total size at that price, not a delta; `"0"` removes the level;
- `sequence_num` numbers every message of a connection, all channels together (heartbeats
  included), from 0: a jump means messages were lost.

Mapping to `tradestream.v1.BookUpdate` (one per event, i.e. per product and message):
`symbol` = `product_id`; `side` `bid` -> BOOK_SIDE_BID, `offer` -> BOOK_SIDE_ASK (`ask`,
which some client libraries write, is read as `offer` too); `time_ms` = the latest
`event_time` of the event's levels truncated to the ms, or the envelope's `timestamp` when
the levels carry none (snapshots); `sequence_num` = the envelope's.

An event that cannot be read whole (a field missing, a number that is not one, a negative
or non-finite size, a price <= 0) is rejected as a whole, never applied in part: applying
the rest would leave our book different from the exchange's without our knowing.
Heartbeats, subscriptions and errors are decoded by `coinbase.parse_message`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from tradestream.exchanges import coinbase
from tradestream.market.dead_letters import INVALID_SIDE
from tradestream.market.trade_validation import MIN_TIME_MS
from tradestream.v1 import book_pb2

LEVEL2 = "level2"  # the channel subscribed to
L2_DATA = "l2_data"  # the channel its messages arrive on
EVENT_TYPES = ("snapshot", "update")
SIDES = {"bid": book_pb2.BOOK_SIDE_BID, "offer": book_pb2.BOOK_SIDE_ASK}
SIDE_ALIASES = {"ask": book_pb2.BOOK_SIDE_ASK}
SIDE_NAMES = {book_pb2.BOOK_SIDE_BID: "bid", book_pb2.BOOK_SIDE_ASK: "offer"}


@dataclass(frozen=True)
class BookEvent:
    """One product's snapshot or update from one message, read but not yet checked against
    the book.

    Attributes:
        symbol: the product (`BTC-USD`).
        is_snapshot: the levels are the whole book.
        levels: (side, price, size) in the order sent; sizes >= 0, prices > 0.
        time_ms: event time (see the module docstring).
        raw: the event object as received (for dead letters).
    """

    symbol: str
    is_snapshot: bool
    levels: tuple[tuple[int, float, float], ...]
    time_ms: int
    raw: dict


@dataclass(frozen=True)
class EventReject:
    """An event that could not be read; `symbol` is its product when it names one."""

    symbol: str
    is_snapshot: bool
    reason: str
    detail: str
    raw: object


@dataclass
class Level2Message:
    """One server message of a level-2 connection, decoded.

    `events` and `rejects` hold the `l2_data` events in the order sent (`order` says which
    list each came from); the other fields are filled for the other channels, as in
    `coinbase.FeedMessage`.
    """

    channel: str
    sequence_num: int | None = None
    envelope: dict = field(default_factory=dict)  # the message without its events
    events: list[BookEvent] = field(default_factory=list)
    rejects: list[EventReject] = field(default_factory=list)
    order: list[BookEvent | EventReject] = field(default_factory=list)
    heartbeat_counter: int | None = None
    subscriptions: dict[str, list[str]] | None = None
    error: str | None = None


def subscribe_message(product_ids: Iterable[str], jwt: str | None = None) -> str:
    """The `level2` subscribe request for some products."""
    return coinbase.subscribe_message(LEVEL2, product_ids, jwt)


def unsubscribe_message(product_ids: Iterable[str]) -> str:
    """The `level2` unsubscribe request (same shape as a subscribe, `type` `unsubscribe`)."""
    request = {"type": "unsubscribe", "channel": LEVEL2, "product_ids": list(product_ids)}
    return json.dumps(request, separators=(",", ":"))


def parse_level2_message(text: str | bytes) -> Level2Message:
    """Decodes one server message of a connection subscribed to `level2` and `heartbeats`.

    Returns:
        The message; for `l2_data`, readable events in `events`, unreadable ones in
        `rejects` with their reason (one bad event never costs the others of the message).

    Raises:
        coinbase.MalformedMessage: not JSON, not an envelope, or a channel we did not ask for.
    """
    data = _json_object(text)
    if data.get("channel") != L2_DATA:
        feed = coinbase.parse_message(text)  # heartbeats, subscriptions, errors; raises others
        if feed.channel == coinbase.MARKET_TRADES:
            raise coinbase.MalformedMessage(
                "unexpected", "channel 'market_trades' was not subscribed to"
            )
        return Level2Message(
            channel=feed.channel,
            sequence_num=feed.sequence_num,
            envelope={k: v for k, v in data.items() if k != "events"},
            heartbeat_counter=feed.heartbeat_counter,
            subscriptions=feed.subscriptions,
            error=feed.error,
        )
    sequence = data.get("sequence_num")
    envelope = {k: v for k, v in data.items() if k != "events"}
    message = Level2Message(
        channel=L2_DATA,
        sequence_num=sequence
        if isinstance(sequence, int) and not isinstance(sequence, bool)
        else None,
        envelope=envelope,
    )
    events = data.get("events")
    if not isinstance(events, list):
        raise coinbase.MalformedMessage("malformed", "l2_data message without an events list")
    stamp = data.get("timestamp")
    try:
        fallback_ms = coinbase.parse_time_ms(stamp) if isinstance(stamp, str) else 0
    except ValueError:
        fallback_ms = 0
    for event in events:
        try:
            parsed: BookEvent | EventReject = parse_event(event, fallback_ms)
        except EventRejected as exc:
            parsed = exc.reject
        (message.events if isinstance(parsed, BookEvent) else message.rejects).append(parsed)
        message.order.append(parsed)
    return message


def with_events(envelope: dict, *events: object) -> bytes:
    """A message with `envelope`'s fields and only `events`: the dead letter of one event
    is still a whole Coinbase message, readable by the same parser."""
    return json.dumps({**envelope, "events": list(events)}, separators=(",", ":")).encode()


class EventRejected(Exception):
    def __init__(self, reject: EventReject) -> None:
        super().__init__(reject.detail)
        self.reject = reject


def parse_event(event: object, fallback_ms: int = 0) -> BookEvent:
    """One `l2_data` event as a BookEvent.

    Args:
        event: the event object.
        fallback_ms: the time to use when no level carries a real one (the envelope's).

    Raises:
        EventRejected: with the EventReject saying why.
    """
    if not isinstance(event, dict):
        raise EventRejected(
            EventReject("", False, "malformed", f"event is not an object: {event!r:.80}", event)
        )
    kind = event.get("type")
    product = event.get("product_id")
    symbol = product.strip().upper() if isinstance(product, str) else ""
    snapshot = kind == "snapshot"

    def reject(reason: str, detail: str) -> EventRejected:
        return EventRejected(EventReject(symbol, snapshot, reason, detail, event))

    if kind not in EVENT_TYPES:
        raise reject("unexpected", f"l2_data event type {kind!r}")
    if not symbol:
        raise reject("malformed", "l2_data event without a product_id")
    updates = event.get("updates")
    if not isinstance(updates, list):
        raise reject("malformed", f"{symbol} {kind} without an updates list")
    levels: list[tuple[int, float, float]] = []
    latest = 0
    for n, update in enumerate(updates):
        if not isinstance(update, dict):
            raise reject("malformed", f"{symbol} update {n} is not an object")
        try:
            side_text, price_text, size_text = (
                update["side"],
                update["price_level"],
                update["new_quantity"],
            )
        except KeyError as exc:
            raise reject("malformed", f"{symbol} update {n} without {exc.args[0]!r}") from None
        side = SIDES.get(str(side_text).lower()) or SIDE_ALIASES.get(str(side_text).lower())
        if side is None:
            raise reject(
                INVALID_SIDE, f"{symbol} update {n}: side {side_text!r} is not bid or offer"
            )
        try:
            price = _decimal(price_text, "price_level")
            size = _decimal(size_text, "new_quantity")
        except (TypeError, ValueError, OverflowError) as exc:
            raise reject("malformed", f"{symbol} update {n}: {exc}") from None
        if not math.isfinite(price) or price <= 0:
            raise reject(
                "invalid_price",
                f"{symbol} update {n}: price_level {price_text!r} is not a finite number > 0",
            )
        if not math.isfinite(size) or size < 0:
            raise reject(
                "invalid_size",
                f"{symbol} update {n}: new_quantity {size_text!r} is not a finite number >= 0",
            )
        when = update.get("event_time")
        if isinstance(when, str):
            try:
                latest = max(latest, coinbase.parse_time_ms(when))
            except ValueError:
                raise reject("malformed", f"{symbol} update {n}: event_time {when!r}") from None
        levels.append((side, price, size))
    time_ms = latest if latest >= MIN_TIME_MS else fallback_ms
    return BookEvent(symbol, snapshot, tuple(levels), time_ms, event)


def _decimal(value: object, name: str) -> float:
    """A decimal string (or JSON number) as a float; booleans and other types are errors."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"{name} must be a decimal string, got {type(value).__name__}")
    return float(value)


def _json_object(text: str | bytes) -> dict:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise coinbase.MalformedMessage("malformed", f"not JSON: {exc}") from None
    except RecursionError:
        raise coinbase.MalformedMessage("malformed", "not JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise coinbase.MalformedMessage("malformed", f"not a JSON object: {type(data).__name__}")
    return data
