"""Level-2 order books built from a Coinbase `level2` feed, checked message by message.

Pure: no I/O, no Kafka. `BookBuilder.handle_frame(connection, frame)` takes one WebSocket
frame and says what becomes of it (`FrameOutcome`); the live stream
(`tradestream/ingest/book_stream.py`) and the file replay (`tradestream/ingest/book_replay.py`,
over `recordings.recorded_outcomes`) act on that: produce the BookUpdates, dead-letter the
rejects, re-subscribe the books that need a fresh snapshot.

A frame holds *records*: each `l2_data` event (one product's snapshot or update) is one;
any other frame (heartbeat, subscriptions, error, unreadable text) is one. Every record
ends in exactly one place: **sent** (a BookUpdate), **dead-lettered** with a reason,
**skipped** with a reason (a repeat, or an update while a fresh snapshot is awaited), or
**control** (heartbeats and subscription acknowledgements, which carry no book data).

Each symbol's book is in one of three states:

- `NO_BOOK`: subscribed, snapshot not yet received. Coinbase sends the snapshot first, so an
  update here is bad input (`update_before_snapshot`).
- `LIVE`: updates are applied. An update the book cannot take faithfully (unreadable,
  negative size, a price <= 0, or one that leaves the best bid at or above the best ask:
  `crossed_book`) is dead-lettered and *not* applied, and the book goes to `RESYNCING`: it
  no longer matches the exchange's, so we ask for a fresh snapshot.
- `RESYNCING`: a fresh snapshot was asked for (`FrameOutcome.resubscribe`); updates still in
  flight are skipped (`awaiting_snapshot`) until it arrives.

`sequence_num` numbers a connection's messages (all channels). Per connection:

- a number at or below the last one seen is a repeat (`duplicate`) or arrived late
  (`out_of_order`): skipped, never applied twice or out of order;
- a jump (`sequence_gap`) means messages were lost, perhaps updates of any of the
  connection's books: the message that shows the gap is dead-lettered whole (every record in
  it, not applied) and *every* book of the connection goes to `RESYNCING`. Out-of-order
  delivery (n+1 before n) shows up as a gap at n+1 and a late n, so it recovers the same way.

A new connection (`connected`) starts every book of its products over in `NO_BOOK`: the
subscription sends fresh snapshots. A recording (`recorded=True`) has no connection events:
there a `sequence_num` of 0 after a higher one marks the recorder's reconnect.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from tradestream.exchanges import coinbase
from tradestream.exchanges.coinbase_level2 import (
    L2_DATA,
    SIDE_NAMES,
    BookEvent,
    EventReject,
    Level2Message,
    parse_level2_message,
    with_events,
)
from tradestream.market.dead_letters import CROSSED_BOOK, SEQUENCE_GAP, UPDATE_BEFORE_SNAPSHOT
from tradestream.market.trade_validation import SYMBOL_PATTERN
from tradestream.v1 import book_pb2

# Skip reasons (records dropped on purpose, counted, never dead-lettered).
DUPLICATE = "duplicate"
OUT_OF_ORDER = "out_of_order"
AWAITING_SNAPSHOT = "awaiting_snapshot"


class BookState(enum.Enum):
    NO_BOOK = "no_book"
    LIVE = "live"
    RESYNCING = "resyncing"


class _Side:
    """One side's levels (price -> size) with its best price in O(log n).

    A heap of prices with lazy deletion: removed prices stay in the heap until they reach
    the top; it is rebuilt when it holds more than twice the live levels.
    """

    def __init__(self, is_bid: bool) -> None:
        self.levels: dict[float, float] = {}
        self._sign = -1.0 if is_bid else 1.0
        self._heap: list[float] = []

    def set(self, price: float, size: float) -> None:
        if size > 0:
            if price not in self.levels:
                heapq.heappush(self._heap, self._sign * price)
            self.levels[price] = size
        else:
            self.levels.pop(price, None)
        if len(self._heap) > 2 * len(self.levels) + 64:
            self._heap = [self._sign * p for p in self.levels]
            heapq.heapify(self._heap)

    def best(self) -> float | None:
        heap, levels = self._heap, self.levels
        while heap and self._sign * heap[0] not in levels:
            heapq.heappop(heap)
        return self._sign * heap[0] if heap else None


class OrderBook:
    """One symbol's aggregated price levels."""

    def __init__(self) -> None:
        self.bids = _Side(is_bid=True)
        self.asks = _Side(is_bid=False)

    def side(self, side: int) -> _Side:
        return self.bids if side == book_pb2.BOOK_SIDE_BID else self.asks

    def best_bid(self) -> float | None:
        return self.bids.best()

    def best_ask(self) -> float | None:
        return self.asks.best()

    def crossed(self) -> bool:
        """True when the best bid is at or above the best ask (both sides non-empty)."""
        bid, ask = self.best_bid(), self.best_ask()
        return bid is not None and ask is not None and bid >= ask

    def apply(self, levels: Iterable[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
        """Sets each (side, price, size); returns what to `undo` it with."""
        undo = []
        for side, price, size in levels:
            book_side = self.side(side)
            undo.append((side, price, book_side.levels.get(price, 0.0)))
            book_side.set(price, size)
        return undo

    def undo(self, undo: list[tuple[int, float, float]]) -> None:
        for side, price, size in reversed(undo):
            self.side(side).set(price, size)

    def as_dict(self) -> dict[str, dict[float, float]]:
        """{"bid": {price: size}, "offer": {price: size}}: for tests and inspection."""
        return {"bid": dict(self.bids.levels), "offer": dict(self.asks.levels)}


@dataclass(frozen=True)
class DeadRecord:
    """A record to dead-letter: the bytes to keep, why, and the symbol when known."""

    payload: bytes
    reason: str
    detail: str
    symbol: str = ""


@dataclass
class FrameOutcome:
    """What became of one frame's records (see the module docstring).

    Attributes:
        channel: the frame's channel (`""` when unreadable).
        updates: BookUpdates to produce, in order.
        dead_letters: records to dead-letter.
        skipped: (reason, symbol) of records dropped on purpose.
        control: 1 for a heartbeat or subscriptions acknowledgement, else 0.
        resubscribe: symbols whose book needs a fresh snapshot now.
        missed: messages lost before this one (a sequence gap), else 0.
        records: how many records the frame held.
    """

    channel: str = ""
    updates: list[book_pb2.BookUpdate] = field(default_factory=list)
    dead_letters: list[DeadRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    control: int = 0
    resubscribe: list[str] = field(default_factory=list)
    missed: int = 0
    records: int = 1
    heartbeat_counter: int | None = None
    subscriptions: dict[str, list[str]] | None = None

    @property
    def accounted(self) -> int:
        return len(self.updates) + len(self.dead_letters) + len(self.skipped) + self.control


@dataclass
class _Connection:
    products: tuple[str, ...]
    last_sequence: int | None = None


class BookBuilder:
    """Per-symbol books from level-2 frames, over one or more connections.

    Args:
        products: the symbols subscribed to; events of any other are `unknown_symbol`. None
            (replays without a product list): any BASE-QUOTE symbol, met as it comes.
        exchange: `BookUpdate.exchange`.
        recorded: the frames come from a recording (see the module docstring).
    """

    def __init__(
        self,
        products: Collection[str] | None,
        exchange: str = coinbase.EXCHANGE,
        recorded: bool = False,
    ) -> None:
        self.any_symbol = products is None
        self.products = tuple(products or ())
        self.exchange = exchange
        self.recorded = recorded
        self.books: dict[str, OrderBook] = {}
        self.states: dict[str, BookState] = dict.fromkeys(self.products, BookState.NO_BOOK)
        self._connections: dict[str, _Connection] = {}
        # Each symbol's latest BookUpdate time: a snapshot is stamped with the message's send
        # time, an update with the engine's event time, which can be earlier than the
        # snapshot before it; times never go back, so that consumers ordering a symbol's
        # updates by (time_ms, sequence_num) apply them in the order sent.
        self._last_time: dict[str, int] = {}

    # -- state ---------------------------------------------------------------------------------

    def connected(self, connection: str, products: Sequence[str] | None = None) -> None:
        """A (re)connected, freshly subscribed connection: its books start over."""
        products = tuple(products) if products is not None else self.products
        self._connections[connection] = _Connection(products)
        for symbol in products:
            self.states[symbol] = BookState.NO_BOOK
            self.books.pop(symbol, None)

    def last_sequence(self, connection: str) -> int | None:
        conn = self._connections.get(connection)
        return conn.last_sequence if conn is not None else None

    def all_live(self) -> bool:
        return all(state is BookState.LIVE for state in self.states.values())

    def book(self, symbol: str) -> OrderBook | None:
        return self.books.get(symbol)

    # -- frames --------------------------------------------------------------------------------

    def handle_frame(self, connection: str, frame: str | bytes) -> FrameOutcome:
        """Decodes, checks and applies one frame of `connection`; never raises on bad input."""
        raw = frame if isinstance(frame, bytes) else frame.encode("utf-8", "replace")
        try:
            message = parse_level2_message(frame)
        except coinbase.MalformedMessage as exc:
            return FrameOutcome(dead_letters=[DeadRecord(raw, exc.reason, exc.detail)])
        out = FrameOutcome(channel=message.channel)
        if message.channel == L2_DATA:
            out.records = len(message.order)
        conn = self._connections.get(connection)
        if conn is None:  # never announced (a replay): every product is on it
            conn = self._connections[connection] = _Connection(self.products)
        sequence = message.sequence_num
        if self.recorded and sequence == 0 and (conn.last_sequence or 0) > 0:
            # the recorder reconnected: every book it had starts over
            self.connected(connection, conn.products or tuple(self.states))
            conn = self._connections[connection]
        if sequence is not None:
            last = conn.last_sequence
            if last is not None and sequence <= last:
                reason = DUPLICATE if sequence == last else OUT_OF_ORDER
                out.skipped = [(reason, s) for s in self._record_symbols(message)]
                return out
            conn.last_sequence = sequence
            if last is not None and sequence > last + 1:
                out.missed = sequence - last - 1
                self._gap(connection, conn, message, raw, out)
                return out
        if message.channel == L2_DATA:
            for item in message.order:
                if isinstance(item, EventReject):
                    self._reject(message, item, out)
                else:
                    self._event(message, item, out)
        elif message.channel == coinbase.ERROR:
            out.dead_letters.append(DeadRecord(raw, "exchange_error", message.error or ""))
        else:  # heartbeats, subscriptions
            out.control = 1
            out.heartbeat_counter = message.heartbeat_counter
            out.subscriptions = message.subscriptions
        return out

    def _record_symbols(self, message: Level2Message) -> list[str]:
        if message.channel == L2_DATA:
            return [item.symbol for item in message.order]
        return [""]

    def _gap(
        self,
        connection: str,
        conn: _Connection,
        message: Level2Message,
        raw: bytes,
        out: FrameOutcome,
    ) -> None:
        last = message.sequence_num - out.missed - 1
        detail = (
            f"{connection}: sequence_num jumped from {last} to {message.sequence_num} "
            f"({out.missed} message(s) lost); the books of "
            f"{', '.join(self.states if self.any_symbol else conn.products) or 'no product'} "
            "wait for a fresh snapshot"
        )
        if message.channel == L2_DATA:
            for item in message.order:
                payload = with_events(message.envelope, item.raw)
                out.dead_letters.append(DeadRecord(payload, SEQUENCE_GAP, detail, item.symbol))
        else:
            out.dead_letters.append(DeadRecord(raw, SEQUENCE_GAP, detail))
        # Any of the connection's books may have lost an update (or the snapshot a pending
        # re-subscription sent): ask again for all of them.
        products = tuple(self.states) if self.any_symbol else conn.products
        for symbol in products:
            self.states[symbol] = BookState.RESYNCING
            self.books.pop(symbol, None)
        out.resubscribe.extend(products)

    def _resync(self, symbol: str, out: FrameOutcome) -> None:
        self.states[symbol] = BookState.RESYNCING
        self.books.pop(symbol, None)
        if symbol not in out.resubscribe:
            out.resubscribe.append(symbol)

    def _reject(self, message: Level2Message, item: EventReject, out: FrameOutcome) -> None:
        payload = with_events(message.envelope, item.raw)
        known = item.symbol in self.states
        out.dead_letters.append(DeadRecord(payload, item.reason, item.detail, item.symbol))
        if not known:
            return
        # A snapshot we cannot read leaves no usable book; an update we cannot read leaves a
        # live book different from the exchange's. Either way: a fresh snapshot.
        if item.is_snapshot or self.states[item.symbol] is BookState.LIVE:
            self._resync(item.symbol, out)

    def _event(self, message: Level2Message, event: BookEvent, out: FrameOutcome) -> None:
        symbol = event.symbol
        state = self.states.get(symbol)
        if state is None and self.any_symbol and SYMBOL_PATTERN.fullmatch(symbol):
            state = self.states[symbol] = BookState.NO_BOOK
        if state is None:
            kind = "snapshot" if event.is_snapshot else "update"
            out.dead_letters.append(
                DeadRecord(
                    with_events(message.envelope, event.raw),
                    "unknown_symbol",
                    f"{kind} for {symbol!r}, which was not subscribed to",
                    symbol,
                )
            )
            return
        sequence = message.sequence_num if message.sequence_num is not None else -1
        if event.is_snapshot:
            book = OrderBook()
            book.apply(event.levels)
            if book.crossed():
                self._crossed(message, event, book, out)
                self._resync(symbol, out)
                return
            self.books[symbol] = book
            self.states[symbol] = BookState.LIVE
            levels = [(s, p, q) for s, p, q in event.levels if q > 0]
            out.updates.append(self._proto(event, sequence, levels))
            return
        if state is BookState.NO_BOOK:
            out.dead_letters.append(
                DeadRecord(
                    with_events(message.envelope, event.raw),
                    UPDATE_BEFORE_SNAPSHOT,
                    f"update for {symbol} before any snapshot of it",
                    symbol,
                )
            )
            return
        if state is BookState.RESYNCING:
            out.skipped.append((AWAITING_SNAPSHOT, symbol))
            return
        book = self.books[symbol]
        undo = book.apply(event.levels)
        if book.crossed():
            self._crossed(message, event, book, out)
            book.undo(undo)
            self._resync(symbol, out)
            return
        out.updates.append(self._proto(event, sequence, event.levels))

    def _crossed(
        self, message: Level2Message, event: BookEvent, book: OrderBook, out: FrameOutcome
    ) -> None:
        kind = "snapshot" if event.is_snapshot else "update"
        out.dead_letters.append(
            DeadRecord(
                with_events(message.envelope, event.raw),
                CROSSED_BOOK,
                f"{event.symbol} {kind} leaves the best {SIDE_NAMES[book_pb2.BOOK_SIDE_BID]} "
                f"{book.best_bid()!r} at or above the best {SIDE_NAMES[book_pb2.BOOK_SIDE_ASK]} "
                f"{book.best_ask()!r}",
                event.symbol,
            )
        )

    def _proto(
        self, event: BookEvent, sequence: int, levels: Iterable[tuple[int, float, float]]
    ) -> book_pb2.BookUpdate:
        time_ms = max(event.time_ms, self._last_time.get(event.symbol, event.time_ms))
        self._last_time[event.symbol] = time_ms
        return book_pb2.BookUpdate(
            exchange=self.exchange,
            symbol=event.symbol,
            sequence_num=sequence,
            time_ms=time_ms,
            is_snapshot=event.is_snapshot,
            levels=[book_pb2.BookLevel(side=s, price=p, size=q) for s, p, q in levels],
        )
