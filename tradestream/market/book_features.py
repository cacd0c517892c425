"""Per-candle order-book features from a symbol's level-2 BookUpdates, realtime and backtest.

`BookTracker` keeps one symbol's book; the realtime pipeline holds one per symbol in Beam
state, and `book_features_by_candle` runs the same class over recorded BookUpdates, so both
give the same features by construction. Pure: no I/O, no Beam, no Kafka. (In Beam, keep a
symbol's BookUpdates in a bag and the tracker in a value read at the candle-end timer: a
tracker written back after every element is pickled with its buffered updates each time,
some 10-20x slower in `bench/book_step.py`.)

    tracker = BookTracker("BTC-USD", interval_ms=60_000)
    reason = tracker.receive(update)       # None, or why it is refused now
    rows, refused = tracker.advance(end_ms)  # closes every candle ending at or before end_ms

**Order.** `receive` only checks and buffers. `advance` applies the buffered updates of each
closed candle in `(time_ms, sequence_num)` order (ties: snapshot first, then by content), so
the order in which a candle's updates were received does not matter. Candles are
`[start, start + interval_ms)`, aligned to the epoch (`candle_math.bucket_start`). Once a
candle end is closed, an update stamped before it is refused `late`.

**The book.** A snapshot replaces the whole book; an update sets each level's size (0 removes
it). Each side keeps at most `max_levels` levels nearest the touch (default 50). When a side
outgrows it, the farthest levels are dropped and that side's *horizon* moves in to the best
price dropped (it never moves out before the next snapshot). Inside the horizon the kept
levels are exactly the exchange's; beyond it the book holds only levels updated since (a level
dropped and unchanged since is missing). Every kept level is a real, current one, so a best
price can be too far from the touch, never too close, and a crossing seen is a real one.
`depth_complete` marks a row whose top-`depth` figures are exact: each side never cut since
its snapshot, or with at least `depth` levels inside its horizon. When the market walks past
a cut horizon the figures turn approximate (and say so) until the next snapshot; Coinbase
sends one only on (re)subscribing.

**Refused updates** (reason strings of `dead_letters.py`; nothing raises, nothing vanishes):

- at `receive`, the first that applies: `unknown_symbol` (another symbol than the
  tracker's), `invalid_time` (outside 2000..2200), `invalid_side`, `invalid_price` (not
  finite, or <= 0), `invalid_size` (not finite, or < 0), `late`. A refused update has no
  effect on the book (the book topic's producer, the ingest, already refuses such input).
- at `advance`, in order: `duplicate` (the sequence_num last seen for the symbol) and
  `out_of_order` (below it) for updates; a snapshot is refused `duplicate` only on an equal
  number, a lower one is a reconnect (Coinbase numbers each connection's messages from 0) and
  restarts the sequence. Numbers only increase per symbol, with jumps (they count every
  message of the connection), so a jump is not a gap. A sequence_num < 0 means "none": not
  checked. Then `update_before_snapshot` (no snapshot applied yet), `awaiting_snapshot` (the
  book was dropped after a crossing), `crossed_book` (the result would leave the best bid at
  or above the best ask: the update is not applied, the book is dropped, and later updates
  are refused `awaiting_snapshot` until the next snapshot; a crossed snapshot is refused
  whole).

**Rows.** A symbol's first row is the candle of its first applied snapshot; from there every
candle closed by `advance` gets one row, contiguous, including candles without updates
(the book as it stands, `ofi` 0, `updates` 0). Candles before the first snapshot get no row:
a consumer joining features to candles uses `NO_BOOK` for them. A candle that closes while
the book is dropped (after a crossing, before the next snapshot) gets `has_book=False`,
every float NaN, `updates` as counted. `book_features_by_candle` closes candles up to the
one holding each symbol's last accepted update.

**Features** of a live book at the candle's close (`BookFeatures`): `bid_depth`/`ask_depth`
(sum of the sizes of the `depth` best levels of each side, default 10), `imbalance`
((bid_depth - ask_depth) / (bid_depth + ask_depth), in [-1, 1]; NaN when both are 0),
`spread` ((best_ask - best_bid) / mid), `microprice` ((best_bid * ask_size + best_ask *
bid_size) / (bid_size + ask_size), the sizes at the best levels), both NaN when a side is
empty; `ofi`: order-flow imbalance (Cont, Kukanov & Stoikov 2014) summed over the candle's
applied updates, each update one event between the best levels before and after it:

    e = [Pb' >= Pb] qb' - [Pb' <= Pb] qb - [Pa' <= Pa] qa' + [Pa' >= Pa] qa

(a side empty before or after adds 0; a snapshot adds 0: a reset is not order flow).

**State size.** Everything is plain data (dicts of floats, tuples, ints), picklable: at most
`max_levels` (price, size) pairs per side, a few numbers, and the updates buffered since the
last `advance` (the still-open candle's, which the caller bounds by advancing at each candle
end). About 2 KB pickled with 50 levels a side and nothing buffered.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from tradestream.market.candle_math import bucket_start
from tradestream.market.dead_letters import (
    AWAITING_SNAPSHOT,
    CROSSED_BOOK,
    DUPLICATE,
    INVALID_PRICE,
    INVALID_SIDE,
    INVALID_SIZE,
    INVALID_TIME,
    LATE,
    OUT_OF_ORDER,
    UNKNOWN_SYMBOL,
    UPDATE_BEFORE_SNAPSHOT,
)
from tradestream.market.trade_validation import MAX_TIME_MS, MIN_TIME_MS
from tradestream.v1 import book_pb2

DEFAULT_DEPTH = 10
# 50 levels a side: five times the default depth, so a book cut at 50 keeps its top 10 exact
# until the market walks 40 levels towards a cut horizon; ~2 KB of state per symbol.
DEFAULT_MAX_LEVELS = 50

_BID = book_pb2.BOOK_SIDE_BID
_ASK = book_pb2.BOOK_SIDE_ASK
_SNAPSHOT, _UPDATE = 0, 1  # the kind's place in the apply order: a snapshot first on a tie
_NAN = math.nan

# A buffered update: (time_ms, sequence_num, kind, levels, exchange), levels a tuple of
# (side, price, size). Plain tuples: they sort in the apply order and pickle small.
Entry = tuple[int, int, int, tuple[tuple[int, float, float], ...], str]


@dataclass(frozen=True, slots=True)
class BookFeatures:
    """One candle's book features (see the module docstring).

    Attributes:
        has_book: a live book at the candle's close; False: every float is NaN.
        imbalance: top-`depth` (bid - ask) / (bid + ask) size, in [-1, 1].
        spread: (best ask - best bid) / mid.
        microprice: the best prices weighted by the opposite side's best size.
        ofi: order-flow imbalance summed over the candle's applied updates (base units).
        bid_depth: size of the `depth` best bid levels.
        ask_depth: size of the `depth` best ask levels.
        updates: BookUpdates applied in the candle (snapshots included).
        depth_complete: both sides' top-`depth` are the exchange's (see "The book").

    NaN fields compare unequal, as floats do: compare records with `as_tuple()`.
    """

    has_book: bool
    imbalance: float
    spread: float
    microprice: float
    ofi: float
    bid_depth: float
    ask_depth: float
    updates: int
    depth_complete: bool

    def as_tuple(self) -> tuple:
        """The fields with NaN as None: equal records give equal tuples."""
        return tuple(
            None if isinstance(v, float) and math.isnan(v) else v
            for v in (
                self.has_book,
                self.imbalance,
                self.spread,
                self.microprice,
                self.ofi,
                self.bid_depth,
                self.ask_depth,
                self.updates,
                self.depth_complete,
            )
        )


NO_BOOK = BookFeatures(False, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN, 0, False)

Row = tuple[int, BookFeatures]
Refused = tuple[book_pb2.BookUpdate, str]


def check_update(update: book_pb2.BookUpdate) -> str | None:
    """The reason a BookUpdate's own content is unusable (time, sides, prices, sizes), or None.

    Needs no state: a realtime step may refuse such updates as they arrive.
    """
    read = _read(update)
    return read if isinstance(read, str) else None


def _read(update: book_pb2.BookUpdate) -> Entry | str:
    """The buffered form of a usable update, or the reason it is not (one pass: protobuf
    field access is most of a receive's cost)."""
    time_ms = update.time_ms
    if not MIN_TIME_MS <= time_ms <= MAX_TIME_MS:
        return INVALID_TIME
    levels = []
    for level in update.levels:
        side, price, size = level.side, level.price, level.size
        if side != _BID and side != _ASK:
            return INVALID_SIDE
        if not (0.0 < price < math.inf):  # also False for NaN
            return INVALID_PRICE
        if not (0.0 <= size < math.inf):
            return INVALID_SIZE
        levels.append((side, price, size))
    kind = _SNAPSHOT if update.is_snapshot else _UPDATE
    return (time_ms, update.sequence_num, kind, tuple(levels), update.exchange)


class BookTracker:
    """One symbol's bounded book, buffered updates and candle clock (see the module docstring).

    Args:
        symbol: the one symbol it takes; others are refused `unknown_symbol`.
        interval_ms: candle length.
        depth: levels per side in `bid_depth`, `ask_depth` and `imbalance`.
        max_levels: levels kept per side (>= depth).

    Raises:
        ValueError: interval_ms < 1, depth < 1 or max_levels < depth.
    """

    __slots__ = (
        "symbol",
        "interval_ms",
        "depth",
        "max_levels",
        "bids",
        "asks",
        "best_bid",
        "best_ask",
        "bid_floor",
        "ask_ceiling",
        "live",
        "started",
        "last_seq",
        "closed_end",
        "pending",
    )

    def __init__(
        self,
        symbol: str,
        interval_ms: int,
        depth: int = DEFAULT_DEPTH,
        max_levels: int = DEFAULT_MAX_LEVELS,
    ) -> None:
        if interval_ms < 1:
            raise ValueError(f"interval_ms must be >= 1, not {interval_ms}")
        if depth < 1 or max_levels < depth:
            raise ValueError(f"need 1 <= depth <= max_levels, not {depth} and {max_levels}")
        self.symbol = symbol
        self.interval_ms = int(interval_ms)
        self.depth = int(depth)
        self.max_levels = int(max_levels)
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.best_bid: float | None = None
        self.best_ask: float | None = None
        self.bid_floor: float | None = None  # bids above it are exact (None: all are)
        self.ask_ceiling: float | None = None  # asks below it are exact (None: all are)
        self.live = False  # a book to apply updates to (snapshot applied, not crossed since)
        self.started = False  # a snapshot was applied once: rows are due from then on
        self.last_seq: int | None = None
        self.closed_end: int | None = None  # every candle ending at or before it is closed
        self.pending: list[Entry] = []

    # -- input -----------------------------------------------------------------------------

    def receive(self, update: book_pb2.BookUpdate) -> str | None:
        """Buffers one BookUpdate until its candle closes; returns why it is refused, or None."""
        if update.symbol != self.symbol:
            return UNKNOWN_SYMBOL
        entry = _read(update)
        if isinstance(entry, str):
            return entry
        if self.closed_end is not None and entry[0] < self.closed_end:
            return LATE
        self.pending.append(entry)
        return None

    def advance(self, end_ms: int) -> tuple[list[Row], list[Refused]]:
        """Closes every candle that ends at or before `end_ms`, applying its updates.

        Returns:
            (rows, refused): a (start_ms, BookFeatures) row per closed candle due one (see
            "Rows"), in time order; the (BookUpdate, reason) of each update not applied.
        """
        interval = self.interval_ms
        target = end_ms - end_ms % interval
        closed = self.closed_end
        if closed is not None and target <= closed:
            return [], []
        pending = self.pending
        pending.sort()
        cut = bisect.bisect_left(pending, (target,))
        due, self.pending = pending[:cut], pending[cut:]
        rows: list[Row] = []
        refused: list[Refused] = []
        i, n = 0, len(due)
        if closed is not None:
            start = closed
        elif n:
            start = bucket_start(due[0][0], interval)
        else:
            start = target
        while start < target:
            if i == n:  # no more updates: the rest of the candles only carry the book
                if self.started:
                    carried = self._features(0.0, 0)
                    rows.extend((s, carried) for s in range(start, target, interval))
                break
            if not self.started and due[i][0] >= start + interval:
                start = bucket_start(due[i][0], interval)  # no rows before the first snapshot
            end = start + interval
            ofi, applied = 0.0, 0
            while i < n and due[i][0] < end:
                flow = self._apply(due[i], refused)
                if flow is not None:
                    ofi += flow
                    applied += 1
                i += 1
            if self.started:
                rows.append((start, self._features(ofi, applied)))
            start = end
        self.closed_end = target
        return rows, refused

    # -- applying --------------------------------------------------------------------------

    def _apply(self, entry: Entry, refused: list[Refused]) -> float | None:
        """Applies one buffered update; returns its order flow, or None when refused."""
        _, seq, kind, levels, _ = entry
        if seq >= 0:
            last = self.last_seq
            if last is not None:
                if seq == last:
                    refused.append((self._update_of(entry), DUPLICATE))
                    return None
                if seq < last and kind == _UPDATE:
                    refused.append((self._update_of(entry), OUT_OF_ORDER))
                    return None
            self.last_seq = seq
        if kind == _SNAPSHOT:
            return self._snapshot(entry, refused)
        if not self.live:
            reason = AWAITING_SNAPSHOT if self.started else UPDATE_BEFORE_SNAPSHOT
            refused.append((self._update_of(entry), reason))
            return None
        flow = self._update(levels)
        if flow is None:
            refused.append((self._update_of(entry), CROSSED_BOOK))
            self._drop_book()
        return flow

    def _snapshot(self, entry: Entry, refused: list[Refused]) -> float | None:
        bids: dict[float, float] = {}
        asks: dict[float, float] = {}
        for side, price, size in entry[3]:
            book = bids if side == _BID else asks
            if size > 0:
                book[price] = size
            else:
                book.pop(price, None)
        best_bid = max(bids) if bids else None
        best_ask = min(asks) if asks else None
        if best_bid is not None and best_ask is not None and best_bid >= best_ask:
            refused.append((self._update_of(entry), CROSSED_BOOK))
            self._drop_book()
            return None
        self.bids, self.asks = bids, asks
        self.best_bid, self.best_ask = best_bid, best_ask
        self.bid_floor = self.ask_ceiling = None
        self._trim()
        self.live = self.started = True
        return 0.0

    def _update(self, levels: tuple[tuple[int, float, float], ...]) -> float | None:
        """Sets the levels; returns the update's order flow, or None (undone) if it crosses."""
        bids, asks = self.bids, self.asks
        bb, ba = self.best_bid, self.best_ask
        qb = bids[bb] if bb is not None else 0.0
        qa = asks[ba] if ba is not None else 0.0
        new_bb, new_ba = bb, ba
        rescan_bid = rescan_ask = False
        undo = []
        for side, price, size in levels:
            if side == _BID:
                undo.append((bids, price, bids.get(price)))
                if size > 0:
                    bids[price] = size
                    if new_bb is None or price > new_bb:
                        new_bb = price
                elif price in bids:
                    del bids[price]
                    rescan_bid = rescan_bid or price == new_bb
            else:
                undo.append((asks, price, asks.get(price)))
                if size > 0:
                    asks[price] = size
                    if new_ba is None or price < new_ba:
                        new_ba = price
                elif price in asks:
                    del asks[price]
                    rescan_ask = rescan_ask or price == new_ba
        if rescan_bid:
            new_bb = max(bids) if bids else None
        if rescan_ask:
            new_ba = min(asks) if asks else None
        if new_bb is not None and new_ba is not None and new_bb >= new_ba:
            for book, price, old in reversed(undo):
                if old is None:
                    book.pop(price, None)
                else:
                    book[price] = old
            return None
        self.best_bid, self.best_ask = new_bb, new_ba
        flow = 0.0
        if bb is not None and new_bb is not None:
            if new_bb >= bb:
                flow += bids[new_bb]
            if new_bb <= bb:
                flow -= qb
        if ba is not None and new_ba is not None:
            if new_ba <= ba:
                flow -= asks[new_ba]
            if new_ba >= ba:
                flow += qa
        if len(bids) > self.max_levels or len(asks) > self.max_levels:
            self._trim()
        return flow

    def _trim(self) -> None:
        """Drops the levels beyond `max_levels` a side and moves that side's horizon in."""
        keep = self.max_levels
        if len(self.bids) > keep:
            dropped = sorted(self.bids)[: len(self.bids) - keep]  # the lowest bids
            for price in dropped:
                del self.bids[price]
            floor = self.bid_floor
            self.bid_floor = dropped[-1] if floor is None else max(floor, dropped[-1])
        if len(self.asks) > keep:
            dropped = sorted(self.asks, reverse=True)[: len(self.asks) - keep]
            for price in dropped:
                del self.asks[price]
            ceiling = self.ask_ceiling
            self.ask_ceiling = dropped[-1] if ceiling is None else min(ceiling, dropped[-1])

    def _drop_book(self) -> None:
        """The book no longer matches the exchange's: forget it until the next snapshot."""
        self.bids, self.asks = {}, {}
        self.best_bid = self.best_ask = self.bid_floor = self.ask_ceiling = None
        self.live = False

    def _update_of(self, entry: Entry) -> book_pb2.BookUpdate:
        """The BookUpdate a buffered entry was made from (every field of it)."""
        time_ms, seq, kind, levels, exchange = entry
        return book_pb2.BookUpdate(
            exchange=exchange,
            symbol=self.symbol,
            sequence_num=seq,
            time_ms=time_ms,
            is_snapshot=kind == _SNAPSHOT,
            levels=[book_pb2.BookLevel(side=s, price=p, size=q) for s, p, q in levels],
        )

    # -- features --------------------------------------------------------------------------

    def _features(self, ofi: float, updates: int) -> BookFeatures:
        if not self.live:
            return BookFeatures(False, _NAN, _NAN, _NAN, _NAN, _NAN, _NAN, updates, False)
        depth, bids, asks = self.depth, self.bids, self.asks
        top_bids = sorted(bids, reverse=True)[:depth]
        top_asks = sorted(asks)[:depth]
        bid_depth = sum(bids[p] for p in top_bids)
        ask_depth = sum(asks[p] for p in top_asks)
        total = bid_depth + ask_depth
        imbalance = (bid_depth - ask_depth) / total if total > 0 else _NAN
        bb, ba = self.best_bid, self.best_ask
        if bb is not None and ba is not None:
            qb, qa = bids[bb], asks[ba]
            spread = (ba - bb) / ((ba + bb) / 2)
            microprice = (bb * qa + ba * qb) / (qb + qa)
        else:
            spread = microprice = _NAN
        floor, ceiling = self.bid_floor, self.ask_ceiling
        complete = (floor is None or (len(top_bids) == depth and top_bids[-1] > floor)) and (
            ceiling is None or (len(top_asks) == depth and top_asks[-1] < ceiling)
        )
        return BookFeatures(
            True, imbalance, spread, microprice, ofi, bid_depth, ask_depth, updates, complete
        )


def book_features_by_candle(
    updates: Iterable[book_pb2.BookUpdate],
    interval_ms: int,
    depth: int = DEFAULT_DEPTH,
    max_levels: int = DEFAULT_MAX_LEVELS,
    symbols: Collection[str] | None = None,
    until_ms: Mapping[str, int] | None = None,
) -> tuple[dict[str, list[Row]], list[Refused]]:
    """Book features per candle of recorded BookUpdates, through one BookTracker per symbol.

    Each symbol's updates are fed in event-time order and its candles closed as the time
    passes them, up to the candle of its last accepted update (see "Rows"): the same
    receive/advance calls a realtime step makes, so the same rows and refusals result.

    Args:
        updates: any order, any mix of symbols.
        interval_ms: candle length.
        depth: levels per side in the depth figures.
        max_levels: levels kept per side.
        symbols: the symbols to take; others are refused `unknown_symbol`. None: every one.
        until_ms: symbol -> the end of its last candle (the backtest: its series' end): its
            candles are closed up to there, with or without updates in them, and updates
            after it are not used. None: up to the candle of its last accepted update.

    Returns:
        (features, refused): symbol -> [(start_ms, BookFeatures)] in time order, for every
        symbol given or met (an empty list when no row was due); the (BookUpdate, reason) of
        every update not applied, the `unknown_symbol` ones first, then symbol by symbol in
        the order met.
    """
    by_symbol: dict[str, list[book_pb2.BookUpdate]] = {s: [] for s in symbols or ()}
    refused: list[Refused] = []
    for update in updates:
        if symbols is not None and update.symbol not in symbols:
            refused.append((update, UNKNOWN_SYMBOL))
        else:
            by_symbol.setdefault(update.symbol, []).append(update)
    features: dict[str, list[Row]] = {}
    for symbol, items in by_symbol.items():
        items.sort(key=lambda u: u.time_ms)  # stable: the tracker orders equal times itself
        tracker = BookTracker(symbol, interval_ms, depth, max_levels)
        rows: list[Row] = []
        open_start: int | None = None
        end = None if until_ms is None else until_ms.get(symbol)
        for update in items:
            if end is not None and update.time_ms >= end:
                break  # after the last candle: not used
            reason = tracker.receive(update)
            if reason is not None:
                refused.append((update, reason))
                continue
            start = bucket_start(update.time_ms, interval_ms)
            if open_start is not None and start > open_start:
                done, bad = tracker.advance(start)
                rows += done
                refused += bad
            open_start = start
        if end is None and open_start is not None:
            end = open_start + interval_ms
        if end is not None:
            done, bad = tracker.advance(end)
            rows += done
            refused += bad
        features[symbol] = rows
    return features, refused
