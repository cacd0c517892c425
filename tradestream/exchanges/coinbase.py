"""The Coinbase Advanced Trade WebSocket protocol: subscribe requests in, Trades out.

Pure functions, no I/O: `tradestream/ingest/coinbase_stream.py` runs the connections and
`tradestream/ingest/ws_client.py` keeps them up. The public market-data feed
(`wss://advanced-trade-ws.coinbase.com`) needs one subscribe request per channel; we send two
per connection, `market_trades` and `heartbeats`:

    {"type": "subscribe", "channel": "market_trades", "product_ids": ["BTC-USD", "ETH-USD"]}

Every message the server sends has the same envelope: `channel`, `timestamp`, `sequence_num`
(a per-connection message counter) and a list of `events`:

- `market_trades`: each event has a `type` (`snapshot`: the recent trades, sent once after
  subscribing; `update`: the trades of the last ~250 ms) and a list of `trades`, each with
  `trade_id`, `product_id`, `price`, `size`, `side` and `time` (prices and sizes are decimal
  strings, times RFC 3339 with up to nanoseconds).
- `heartbeats`: one event a second with a `heartbeat_counter` (an integer, or a string of
  digits in older feeds) that lets us detect missed messages.
- `subscriptions`: the server's acknowledgement, listing what the connection receives.
- errors arrive as `{"type": "error", "message": ...}`, a refused subscription with a `reason`
  (`"message": "Failed to subscribe", "reason": "... is not a valid product"`): both are kept.

Mapping to `tradestream.v1.Trade`:

- `symbol` is `product_id` as is: Coinbase already writes `BASE-QUOTE`.
- `time_ms` is the trade time truncated (not rounded) to the millisecond, so a trade never
  moves into the next millisecond (and so never into the next candle).
- `side`: our `Trade.side` is the aggressor (taker). Coinbase's `side` on public trades is the
  side of the *maker* order, the one resting in the book (their Exchange API documents the field
  as "maker order side: buy means a down-tick, sell an up-tick", and Advanced Trade adapters such
  as NautilusTrader's invert it for the same reason). So `BUY` (a resting bid was hit) becomes
  SIDE_SELL and `SELL` becomes SIDE_BUY; anything else is SIDE_UNSPECIFIED. If Coinbase ever
  changes the meaning, flip `SIDE_IS_MAKER`.
- Within one event, trades are ordered by (time, numeric trade id): the feed batches ~250 ms of
  trades per event and does not promise an order inside the batch, while Kafka consumers expect
  each symbol's trades in time order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date

from tradestream.market.trade_validation import check_trade
from tradestream.v1 import trade_pb2

DEFAULT_WS_URL = "wss://advanced-trade-ws.coinbase.com"
EXCHANGE = "coinbase"
MARKET_TRADES = "market_trades"
HEARTBEATS = "heartbeats"
SUBSCRIPTIONS = "subscriptions"
ERROR = "error"
EVENT_TYPES = ("snapshot", "update")

# Coinbase reports the maker's side on public trades; Trade.side is the taker's.
SIDE_IS_MAKER = True
_MAKER_TO_TAKER = {"BUY": trade_pb2.SIDE_SELL, "SELL": trade_pb2.SIDE_BUY}
_AS_REPORTED = {"BUY": trade_pb2.SIDE_BUY, "SELL": trade_pb2.SIDE_SELL}

_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_CACHE: dict[str, int] = {}


class MalformedMessage(ValueError):
    """A message (or one trade in it) that cannot be read.

    Attributes:
        reason: short machine-readable reason (`malformed`, `unexpected`, ...).
        detail: what exactly is wrong, for the log and the dead letter.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class TradeReject:
    """One trade of a message that could not become a valid Trade."""

    raw: str  # the trade object as JSON
    reason: str
    detail: str
    symbol: str = ""


@dataclass
class FeedMessage:
    """One server message, decoded.

    Exactly one of the channel-specific parts is filled, according to `channel`.
    """

    channel: str
    sequence_num: int | None = None
    trades: list[trade_pb2.Trade] = field(default_factory=list)
    rejects: list[TradeReject] = field(default_factory=list)
    event_types: tuple[str, ...] = ()
    heartbeat_counter: int | None = None
    subscriptions: dict[str, list[str]] | None = None
    error: str | None = None


def subscribe_message(channel: str, product_ids: Iterable[str], jwt: str | None = None) -> str:
    """The JSON subscribe request of one channel for some products.

    Args:
        channel: `market_trades`, `heartbeats`, ...
        product_ids: products in Coinbase notation (`BTC-USD`).
        jwt: optional CDP API-key token (the public channels work without one).
    """
    request: dict[str, object] = {
        "type": "subscribe",
        "channel": channel,
        "product_ids": list(product_ids),
    }
    if jwt:
        request["jwt"] = jwt
    return json.dumps(request, separators=(",", ":"))


def parse_time_ms(text: str) -> int:
    """Epoch milliseconds (UTC) of an RFC 3339 time such as `2024-01-02T03:04:05.123456789Z`.

    Fractions beyond milliseconds are truncated. A missing zone means UTC.

    Raises:
        ValueError: not such a time.
    """
    match = _TIME.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    ymd = text[:10]
    days = _DAY_CACHE.get(ymd)
    if days is None:
        days = date(int(match[1]), int(match[2]), int(match[3])).toordinal() - _EPOCH_ORDINAL
        if len(_DAY_CACHE) > 64:
            _DAY_CACHE.clear()
        _DAY_CACHE[ymd] = days
    hour, minute, second = int(match[4]), int(match[5]), int(match[6])
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"time of day out of range: {text!r}")
    frac = match[7]
    millis = int((frac + "00")[:3]) if frac else 0
    ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
    zone = match[8]
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset_min = int(digits[:2]) * 60 + int(digits[2:])
        ms -= sign * offset_min * 60_000
    return ms


def taker_side(coinbase_side: object) -> int:
    """Trade.side (aggressor) for the `side` Coinbase reports on a public trade."""
    key = str(coinbase_side).upper()
    return (_MAKER_TO_TAKER if SIDE_IS_MAKER else _AS_REPORTED).get(key, trade_pb2.SIDE_UNSPECIFIED)


def parse_trade(obj: object) -> trade_pb2.Trade:
    """One `market_trades` trade object as a Trade (not yet validated).

    Raises:
        MalformedMessage: not an object, a field missing, or a number/time unreadable.
    """
    if not isinstance(obj, dict):
        raise MalformedMessage("malformed", f"a trade is not an object: {obj!r:.80}")
    try:
        product = obj["product_id"]
        trade_id = obj["trade_id"]
        price = obj["price"]
        size = obj["size"]
        when = obj["time"]
    except KeyError as exc:
        raise MalformedMessage("malformed", f"trade without {exc.args[0]!r}") from None
    try:
        return trade_pb2.Trade(
            exchange=EXCHANGE,
            symbol=str(product).strip().upper(),
            trade_id=str(trade_id),
            price=_number(price, "price"),
            size=_number(size, "size"),
            side=taker_side(obj.get("side", "")),
            time_ms=parse_time_ms(str(when)),
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedMessage("malformed", f"trade {trade_id!r}: {exc}") from None


def _number(value: object, name: str) -> float:
    """A decimal string or JSON number as a float; booleans and other types are errors."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"{name} must be a decimal string, got {type(value).__name__}")
    return float(value)


def _order_key(trade: trade_pb2.Trade) -> tuple[int, int, str]:
    tid = trade.trade_id
    # isdigit() is also true for non-ASCII digits such as '²' that int() refuses.
    numeric = tid.isascii() and tid.isdigit() and len(tid) <= 30
    return (trade.time_ms, int(tid) if numeric else -1, tid)


def _parse_market_trades(
    message: FeedMessage, events: list, allowed_symbols: Collection[str] | None
) -> None:
    kinds: list[str] = []
    for event in events:
        if not isinstance(event, dict):
            raise MalformedMessage(
                "malformed", f"market_trades event is not an object: {event!r:.80}"
            )
        kind = event.get("type")
        if kind not in EVENT_TYPES:
            raise MalformedMessage("unexpected", f"market_trades event type {kind!r}")
        trades = event.get("trades")
        if not isinstance(trades, list):
            raise MalformedMessage("malformed", "market_trades event without a trades list")
        kinds.append(kind)
        good: list[trade_pb2.Trade] = []
        for obj in trades:
            try:
                trade = parse_trade(obj)
            except MalformedMessage as exc:
                symbol = str(obj.get("product_id", "")) if isinstance(obj, dict) else ""
                message.rejects.append(TradeReject(_as_json(obj), exc.reason, exc.detail, symbol))
                continue
            problem = check_trade(trade, allowed_symbols)
            if problem is not None:
                message.rejects.append(
                    TradeReject(_as_json(obj), problem.reason, problem.detail, trade.symbol)
                )
                continue
            good.append(trade)
        good.sort(key=_order_key)
        message.trades.extend(good)
    message.event_types = tuple(kinds)


def _as_json(obj: object) -> str:
    try:
        return json.dumps(obj, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(obj)


def _heartbeat_counter(events: list) -> int:
    for event in events:
        if isinstance(event, dict) and "heartbeat_counter" in event:
            try:
                return int(event["heartbeat_counter"])
            except (TypeError, ValueError, OverflowError):
                break
    raise MalformedMessage("malformed", "heartbeats message without a numeric heartbeat_counter")


def parse_message(text: str | bytes, allowed_symbols: Collection[str] | None = None) -> FeedMessage:
    """Decodes one server message.

    Args:
        text: the WebSocket frame.
        allowed_symbols: products we subscribed to; trades of others are rejected
            (`unknown_symbol`).

    Returns:
        The message; for `market_trades`, valid trades in `trades` (ordered per event) and
        unusable ones in `rejects` with their reason, so one bad trade never costs the batch.

    Raises:
        MalformedMessage: not JSON, not an envelope, or a channel/event we do not know.
    """
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage("malformed", f"not JSON: {exc}") from None
    except RecursionError:
        raise MalformedMessage("malformed", "not JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedMessage("malformed", f"not a JSON object: {type(data).__name__}")
    if data.get("type") == ERROR:
        error = str(data.get("message") or data)
        if data.get("reason"):
            error = f"{error}: {data['reason']}"
        return FeedMessage(channel=ERROR, error=error)
    channel = data.get("channel")
    if not isinstance(channel, str):
        raise MalformedMessage("malformed", "message without a channel")
    sequence = data.get("sequence_num")
    message = FeedMessage(
        channel=channel, sequence_num=sequence if isinstance(sequence, int) else None
    )
    events = data.get("events")
    if not isinstance(events, list):
        raise MalformedMessage("malformed", f"{channel} message without an events list")
    if channel == MARKET_TRADES:
        _parse_market_trades(message, events, allowed_symbols)
    elif channel == HEARTBEATS:
        message.heartbeat_counter = _heartbeat_counter(events)
    elif channel == SUBSCRIPTIONS:
        subs: dict[str, list[str]] = {}
        for event in events:
            if isinstance(event, dict) and isinstance(event.get("subscriptions"), dict):
                for name, products in event["subscriptions"].items():
                    if not isinstance(products, list):
                        products = [] if products is None else [products]
                    subs[str(name)] = [str(p) for p in products]
        message.subscriptions = subs
    else:
        raise MalformedMessage("unexpected", f"channel {channel!r} was not subscribed to")
    return message
