"""Per-candle book features: hand-computed books, a naive rebuild on random streams, bad input.

The naive model (`naive_rows`) is the module docstring's rules written out plainly over
unbounded dicts, recomputing every best price and sum from scratch; the tracker is checked
against it, and against books and figures worked out by hand in the comments.
"""

from __future__ import annotations

import itertools
import json
import math
import pickle
import random
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestream.market import book_features as bf
from tradestream.market.book_features import (
    NO_BOOK,
    BookFeatures,
    BookTracker,
    book_features_by_candle,
    check_update,
)
from tradestream.market.dead_letters import BOOK_FEATURE_REASONS
from tradestream.v1 import book_pb2

SYMBOL = "BTC-USD"
MINUTE = 60_000
T0 = 1_700_000_040_000  # a minute boundary
BID, ASK = book_pb2.BOOK_SIDE_BID, book_pb2.BOOK_SIDE_ASK
SIDES = {"b": BID, "a": ASK}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "coinbase"


def book_update(time_ms, seq, levels, snapshot=False, symbol=SYMBOL) -> book_pb2.BookUpdate:
    """levels: [("b" or "a", price, size)]."""
    return book_pb2.BookUpdate(
        exchange="coinbase",
        symbol=symbol,
        sequence_num=seq,
        time_ms=time_ms,
        is_snapshot=snapshot,
        levels=[book_pb2.BookLevel(side=SIDES[s], price=p, size=q) for s, p, q in levels],
    )


def snapshot(time_ms, seq, levels, symbol=SYMBOL) -> book_pb2.BookUpdate:
    return book_update(time_ms, seq, levels, snapshot=True, symbol=symbol)


def tuples(rows):
    return [(start, f.as_tuple()) for start, f in rows]


def reasons(refused):
    return sorted((u.sequence_num, reason) for u, reason in refused)


def feed(updates, interval_ms=MINUTE, **kwargs):
    """Realtime style: each candle's updates received (in the order given), then closed."""
    tracker = BookTracker(SYMBOL, interval_ms, **kwargs)
    rows, refused = [], []
    end = None
    for update in updates:
        candle_end = update.time_ms - update.time_ms % interval_ms + interval_ms
        if end is not None and candle_end > end:
            done, bad = tracker.advance(candle_end - interval_ms)
            rows += done
            refused += bad
        end = candle_end if end is None else max(end, candle_end)
        reason = tracker.receive(update)
        if reason is not None:
            refused.append((update, reason))
    if end is not None:
        done, bad = tracker.advance(end)
        rows += done
        refused += bad
    return rows, refused


# -- hand-computed books -----------------------------------------------------------------------

# Candle 0: snapshot bids {100: 2, 99: 3}, asks {101: 1, 102: 4}.
OPENING = snapshot(T0 + 5, 10, [("b", 100, 2), ("b", 99, 3), ("a", 101, 1), ("a", 102, 4)])
# Candle 1, three updates (order flow e of each, CKS 2014):
MOVES = [
    book_update(T0 + MINUTE + 1, 12, [("b", 100, 5)]),  # best bid 2 -> 5 at 100: e = +3
    book_update(T0 + MINUTE + 2, 15, [("a", 100.5, 2)]),  # new best ask 100.5 < 101: e = -2
    book_update(T0 + MINUTE + 3, 19, [("b", 100, 0)]),  # best bid 100 (5) gone, 99 best: e = -5
]
# Candle 1 closes with bids {99: 3}, asks {100.5: 2, 101: 1, 102: 4}.


def test_book_features_hand_computed_snapshot_then_updates_then_quiet_candle():
    rows, refused = book_features_by_candle([OPENING, *MOVES], MINUTE)
    assert refused == []
    (s0, f0), (s1, f1) = rows[SYMBOL]
    assert (s0, s1) == (T0, T0 + MINUTE)
    # depth sums 2+3 = 5 and 1+4 = 5: imbalance 0; spread 1/100.5; microprice
    # (100*1 + 101*2) / (2+1) = 302/3; a snapshot is not order flow
    assert f0.has_book and f0.updates == 1 and f0.ofi == 0.0 and f0.depth_complete
    assert (f0.bid_depth, f0.ask_depth, f0.imbalance) == (5.0, 5.0, 0.0)
    assert f0.spread == pytest.approx(1 / 100.5)
    assert f0.microprice == pytest.approx(302 / 3)
    # depth 3 and 7: imbalance -4/10; spread (100.5-99)/99.75; microprice
    # (99*2 + 100.5*3) / (3+2) = 499.5/5 = 99.9; ofi 3 - 2 - 5 = -4
    assert f1.updates == 3 and f1.ofi == pytest.approx(-4.0)
    assert (f1.bid_depth, f1.ask_depth) == (3.0, 7.0)
    assert f1.imbalance == pytest.approx(-0.4)
    assert f1.spread == pytest.approx(1.5 / 99.75)
    assert f1.microprice == pytest.approx(99.9)

    # realtime: a candle later with no update carries the book, ofi 0, no updates
    tracker = BookTracker(SYMBOL, MINUTE)
    for update in [OPENING, *MOVES]:
        assert tracker.receive(update) is None
    more, _ = tracker.advance(T0 + 3 * MINUTE)
    assert [s for s, _ in more] == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    quiet = more[2][1]
    assert quiet.updates == 0 and quiet.ofi == 0.0
    assert (quiet.imbalance, quiet.spread, quiet.microprice) == (
        f1.imbalance,
        f1.spread,
        f1.microprice,
    )


def test_book_features_depth_counts_only_the_best_levels():
    # depth 1: the best bid 100 (2) against the best ask 101 (1): imbalance (2-1)/3
    rows, _ = book_features_by_candle([OPENING], MINUTE, depth=1)
    f = rows[SYMBOL][0][1]
    assert (f.bid_depth, f.ask_depth) == (2.0, 1.0)
    assert f.imbalance == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("levels", "flow"),
    [
        ([("b", 100, 3)], 1.0),  # bid 100: 2 -> 3 at the same price: +(3 - 2)
        ([("b", 100, 0.5)], -1.5),  # bid 100: 2 -> 0.5: +(0.5 - 2)
        ([("b", 100.5, 4)], 4.0),  # a higher bid 100.5 (4): +4
        ([("b", 100, 0)], -2.0),  # the best bid 100 (2) removed, 99 best: -2
        ([("a", 101, 3)], -2.0),  # ask 101: 1 -> 3: -(3 - 1)
        ([("a", 100.5, 6)], -6.0),  # a lower ask 100.5 (6): -6
        ([("a", 101, 0)], 1.0),  # the best ask 101 (1) removed, 102 best: +1
        ([("b", 99, 7), ("a", 102, 0)], 0.0),  # behind the touch: no order flow
        ([("b", 100.5, 4), ("a", 101, 0)], 5.0),  # both: +4 (bid up) + 1 (ask up)
    ],
)
def test_book_features_ofi_of_one_update_follows_cont_kukanov_stoikov(levels, flow):
    rows, refused = book_features_by_candle([OPENING, book_update(T0 + 7, 11, levels)], MINUTE)
    assert refused == []
    assert rows[SYMBOL][0][1].ofi == pytest.approx(flow)


def test_book_features_one_sided_book_has_imbalance_but_no_spread():
    rows, _ = book_features_by_candle([snapshot(T0, 1, [("b", 50, 2), ("b", 49, 1)])], MINUTE)
    f = rows[SYMBOL][0][1]
    assert f.has_book and f.imbalance == 1.0 and (f.bid_depth, f.ask_depth) == (3.0, 0.0)
    assert math.isnan(f.spread) and math.isnan(f.microprice)
    empty, _ = book_features_by_candle([snapshot(T0, 1, [])], MINUTE)
    assert empty[SYMBOL][0][1].has_book and math.isnan(empty[SYMBOL][0][1].imbalance)


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_book_features_delivery_order_within_a_candle_does_not_matter(order):
    rows, refused = feed([OPENING, *(MOVES[i] for i in order)])
    assert refused == []
    expected, _ = book_features_by_candle([OPENING, *MOVES], MINUTE)
    assert tuples(rows) == tuples(expected[SYMBOL])


def test_book_features_same_time_and_number_is_ordered_by_content():
    # two updates with one time and one number: one is applied, the other is a duplicate,
    # the same one whichever comes first
    a = book_update(T0 + 9, 11, [("b", 100, 7)])
    b = book_update(T0 + 9, 11, [("b", 100, 1)])
    first, refused_first = feed([OPENING, a, b])
    second, refused_second = feed([OPENING, b, a])
    assert tuples(first) == tuples(second)
    assert [(u, r) for u, r in refused_first] == [(a, "duplicate")]
    assert [(u, r) for u, r in refused_second] == [(a, "duplicate")]


# -- rows: no book, stale book, contiguous candles ---------------------------------------------


def test_book_features_no_rows_before_the_first_snapshot_then_contiguous():
    early = book_update(T0 + 1, 1, [("b", 100, 1)])  # before any snapshot: refused
    late_snapshot = snapshot(T0 + 2 * MINUTE + 5, 3, [("b", 100, 1), ("a", 101, 1)])
    last = book_update(T0 + 5 * MINUTE + 1, 4, [("b", 100, 2)])
    rows, refused = book_features_by_candle([early, late_snapshot, last], MINUTE)
    assert [s for s, _ in rows[SYMBOL]] == [T0 + k * MINUTE for k in range(2, 6)]
    assert [f.updates for _, f in rows[SYMBOL]] == [1, 0, 0, 1]
    assert refused == [(early, "update_before_snapshot")]
    assert NO_BOOK.as_tuple() == (False, None, None, None, None, None, None, 0, False)


def test_book_features_crossed_update_drops_the_book_until_the_next_snapshot():
    crossing = book_update(T0 + MINUTE, 11, [("b", 101, 1)])  # bid 101 >= ask 101
    waiting = book_update(T0 + MINUTE + 1, 12, [("b", 99, 1)])
    fresh = snapshot(T0 + 3 * MINUTE, 2, [("b", 90, 1), ("a", 91, 1)])  # a reconnect: 2 < 12
    after = book_update(T0 + 3 * MINUTE + 1, 3, [("b", 90, 3)])
    rows, refused = book_features_by_candle([OPENING, crossing, waiting, fresh, after], MINUTE)
    assert refused == [(crossing, "crossed_book"), (waiting, "awaiting_snapshot")]
    flags = [(s - T0, f.has_book, f.updates) for s, f in rows[SYMBOL]]
    assert flags == [(0, True, 1), (MINUTE, False, 0), (2 * MINUTE, False, 0),
                     (3 * MINUTE, True, 2)]  # fmt: skip
    stale = rows[SYMBOL][1][1]
    assert all(v is None for v in stale.as_tuple()[1:7])
    # bids {90: 3}, asks {91: 1}: imbalance (3-1)/4; ofi +2 (the best bid grew by 2)
    assert rows[SYMBOL][3][1].imbalance == pytest.approx(0.5)
    assert rows[SYMBOL][3][1].ofi == pytest.approx(2.0)


def test_book_features_crossed_update_is_not_applied():
    # the update sets bid 99 -> 5 then bid 101: crossed, so neither stays; the book is
    # dropped (has_book False) rather than left half-applied
    crossing = book_update(T0 + 7, 11, [("b", 99, 5), ("b", 101, 1)])
    tracker = BookTracker(SYMBOL, MINUTE)
    tracker.receive(OPENING)
    tracker.advance(T0 + 6)  # nothing closes: the candle ends at T0 + MINUTE
    tracker.receive(crossing)
    rows, refused = tracker.advance(T0 + MINUTE)
    assert refused == [(crossing, "crossed_book")]
    assert not rows[0][1].has_book and rows[0][1].updates == 1


# -- bad input: every reason -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        (book_update(T0, 1, [("b", 100, 1)], symbol="ETH-USD"), "unknown_symbol"),
        (book_update(0, 1, [("b", 100, 1)]), "invalid_time"),
        (book_pb2.BookUpdate(symbol=SYMBOL, time_ms=T0, levels=[
            book_pb2.BookLevel(side=book_pb2.BOOK_SIDE_UNSPECIFIED, price=1, size=1)]),
         "invalid_side"),
        (book_update(T0, 1, [("b", 0, 1)]), "invalid_price"),
        (book_update(T0, 1, [("a", -3, 1)]), "invalid_price"),
        (book_update(T0, 1, [("b", math.nan, 1)]), "invalid_price"),
        (book_update(T0, 1, [("a", math.inf, 1)]), "invalid_price"),
        (book_update(T0, 1, [("b", 100, -1)]), "invalid_size"),
        (book_update(T0, 1, [("b", 100, math.nan)]), "invalid_size"),
        (snapshot(T0, 1, [("a", 100, math.inf)]), "invalid_size"),
    ],
)  # fmt: skip
def test_book_features_bad_content_is_refused_on_receive(update, reason):
    tracker = BookTracker(SYMBOL, MINUTE)
    assert tracker.receive(update) == reason
    assert tracker.pending == []
    _, refused = book_features_by_candle([update], MINUTE, symbols=[SYMBOL])
    assert refused == [(update, reason)]


def test_book_features_check_update_needs_no_state():
    assert check_update(OPENING) is None
    assert check_update(book_update(T0, 1, [("b", 100, -1)])) == "invalid_size"


def test_book_features_update_stamped_before_its_snapshot_is_ordered_first_and_refused():
    # time first, then number: an update numbered after the snapshot but stamped before it
    # (Coinbase stamps a snapshot with the message's time, an update with the engine's) is
    # ordered before the snapshot, so it is refused; order flow is counted from the snapshot
    early = book_update(T0 + 4, 11, [("b", 100, 9)])
    rows, refused = book_features_by_candle([OPENING, early], MINUTE)
    assert refused == [(early, "update_before_snapshot")]
    assert rows[SYMBOL][0][1].bid_depth == 5.0


def test_book_features_update_before_a_closed_candle_end_is_late():
    tracker = BookTracker(SYMBOL, MINUTE)
    tracker.receive(OPENING)
    tracker.advance(T0 + MINUTE)
    assert tracker.receive(book_update(T0 + MINUTE - 1, 20, [("b", 100, 1)])) == "late"
    assert tracker.receive(book_update(T0 + MINUTE, 21, [("b", 100, 1)])) is None


def test_book_features_sequence_repeats_and_decreases_are_refused_jumps_are_not():
    dup = book_update(T0 + 7, 11, [("b", 100, 9)])
    lower = book_update(T0 + 8, 9, [("b", 100, 8)])  # below 11, later in time
    jump = book_update(T0 + 9, 1_000, [("b", 100, 4)])  # a jump: messages of other channels
    unnumbered = book_update(T0 + 10, -1, [("b", 99, 6)])  # no number: not checked
    rows, refused = feed([OPENING, book_update(T0 + 6, 11, [("b", 100, 3)]), dup, lower, jump,
                          unnumbered])  # fmt: skip
    assert refused == [(dup, "duplicate"), (lower, "out_of_order")]
    # bids {100: 4, 99: 6}, asks {101: 1, 102: 4}: depth 10 and 5, imbalance 5/15
    f = rows[0][1]
    assert f.updates == 4 and (f.bid_depth, f.ask_depth) == (10.0, 5.0)
    assert f.imbalance == pytest.approx(1 / 3)


def test_book_features_snapshot_with_a_lower_number_restarts_the_sequence():
    reconnect = snapshot(T0 + MINUTE, 0, [("b", 50, 1), ("a", 51, 1)])
    after = book_update(T0 + MINUTE + 1, 3, [("b", 50, 2)])
    repeat = snapshot(T0 + MINUTE + 2, 3, [("b", 50, 1), ("a", 51, 1)])
    rows, refused = feed([OPENING, reconnect, after, repeat])
    assert refused == [(repeat, "duplicate")]
    assert rows[1][1].bid_depth == 2.0


def test_book_features_crossed_snapshot_before_any_book():
    crossed = snapshot(T0, 1, [("b", 101, 1), ("a", 100, 1)])
    update = book_update(T0 + 1, 2, [("b", 99, 1)])
    rows, refused = book_features_by_candle([crossed, update], MINUTE)
    assert rows == {SYMBOL: []}
    assert refused == [(crossed, "crossed_book"), (update, "update_before_snapshot")]


def test_book_features_batch_refuses_symbols_not_asked_for_and_lists_every_symbol():
    other = snapshot(T0, 1, [("b", 1, 1)], symbol="ETH-USD")
    rows, refused = book_features_by_candle([OPENING, other], MINUTE, symbols=["BTC-USD", "X-Y"])
    assert refused == [(other, "unknown_symbol")]
    assert set(rows) == {"BTC-USD", "X-Y"} and rows["X-Y"] == []
    both, none_refused = book_features_by_candle([OPENING, other], MINUTE)
    assert set(both) == {"BTC-USD", "ETH-USD"} and none_refused == []


def test_book_features_reasons_are_the_dead_letter_constants():
    assert set(BOOK_FEATURE_REASONS) == {
        "unknown_symbol", "invalid_time", "late", "invalid_side", "invalid_price",
        "invalid_size", "duplicate", "out_of_order", "update_before_snapshot",
        "awaiting_snapshot", "crossed_book",
    }  # fmt: skip


def test_book_features_bad_configuration_raises():
    with pytest.raises(ValueError, match="interval_ms"):
        BookTracker(SYMBOL, 0)
    with pytest.raises(ValueError, match="depth <= max_levels"):
        BookTracker(SYMBOL, MINUTE, depth=10, max_levels=5)


# -- bounded depth -----------------------------------------------------------------------------


def test_book_features_bounded_depth_keeps_the_levels_nearest_the_touch():
    # 5 bids, 5 asks, at most 3 kept a side: bids 100, 99, 98 (97 and 96 dropped: horizon
    # 97), asks 101, 102, 103 (horizon 104)
    levels = [("b", 100 - k, 1 + k) for k in range(5)] + [("a", 101 + k, 1) for k in range(5)]
    tracker = BookTracker(SYMBOL, MINUTE, depth=2, max_levels=3)
    tracker.receive(snapshot(T0, 1, levels))
    # the farthest again, so dropped again: the horizons stay
    tracker.receive(book_update(T0 + 1, 2, [("b", 97, 8), ("a", 110, 1)]))
    tracker.receive(book_update(T0 + 2, 3, [("b", 99.5, 1)]))  # inside: kept, 98 cut
    rows, refused = tracker.advance(T0 + MINUTE)
    assert refused == []
    assert tracker.bids == {100: 1.0, 99.5: 1.0, 99: 2.0} and tracker.bid_floor == 98
    assert tracker.asks == {101: 1.0, 102: 1.0, 103: 1.0} and tracker.ask_ceiling == 104
    assert rows[0][1].bid_depth == 2.0 and rows[0][1].depth_complete
    # remove two bids: one bid left inside the horizon (99), fewer than depth 2
    tracker.receive(book_update(T0 + MINUTE, 4, [("b", 100, 0), ("b", 99.5, 0)]))
    rows, _ = tracker.advance(T0 + 2 * MINUTE)
    assert rows[0][1].bid_depth == 2.0 and not rows[0][1].depth_complete
    # a bid beyond the horizon is kept (it is real), but the exchange may have others there
    # (97 (4), 96 (5) were dropped): the top 2 (99 (2) + 97.5 (1)) is not known to be exact
    tracker.receive(book_update(T0 + 2 * MINUTE, 5, [("b", 97.5, 1)]))
    rows, _ = tracker.advance(T0 + 3 * MINUTE)
    assert tracker.bids == {99: 2.0, 97.5: 1.0} and tracker.bid_floor == 98
    assert rows[0][1].bid_depth == 3.0 and not rows[0][1].depth_complete
    # a snapshot resets the horizons
    tracker.receive(snapshot(T0 + 3 * MINUTE, 6, [("b", 10, 1), ("a", 11, 1)]))
    rows, _ = tracker.advance(T0 + 4 * MINUTE)
    assert (tracker.bid_floor, tracker.ask_ceiling) == (None, None) and rows[0][1].depth_complete


# -- the naive rebuild -------------------------------------------------------------------------


def naive_rows(updates, interval_ms, depth):
    """The module docstring's rules over unbounded dicts, everything recomputed each step."""
    refused = []
    # time, number, snapshot first, then content (the documented tie-break)
    order = sorted(updates, key=lambda u: (u.time_ms, u.sequence_num, not u.is_snapshot,
                                           [(lv.side, lv.price, lv.size) for lv in u.levels]))  # fmt: skip
    book = None  # {"b": {price: size}, "a": {...}} while live
    started = False
    last_seq = None
    flows: dict[int, list[float]] = {}
    books_at: dict[int, dict | None] = {}
    first = None
    for u in order:
        start = u.time_ms - u.time_ms % interval_ms
        if u.sequence_num >= 0:
            if last_seq is not None and (
                u.sequence_num == last_seq or (u.sequence_num < last_seq and not u.is_snapshot)
            ):
                refused.append((u, "duplicate" if u.sequence_num == last_seq else "out_of_order"))
                continue
            last_seq = u.sequence_num
        new = {"b": {}, "a": {}} if u.is_snapshot else (None if book is None else
                                                         {k: dict(v) for k, v in book.items()})  # fmt: skip
        if new is None:
            refused.append((u, "awaiting_snapshot" if started else "update_before_snapshot"))
            continue
        for level in u.levels:
            side = new["b" if level.side == BID else "a"]
            if level.size > 0:
                side[level.price] = level.size
            else:
                side.pop(level.price, None)
        if new["b"] and new["a"] and max(new["b"]) >= min(new["a"]):
            refused.append((u, "crossed_book"))
            book = None
            books_at[start] = None
            continue
        flow = 0.0
        if not u.is_snapshot:
            old_b, new_b = book["b"], new["b"]
            if old_b and new_b:
                pb, pb2 = max(old_b), max(new_b)
                flow += (new_b[pb2] if pb2 >= pb else 0.0) - (old_b[pb] if pb2 <= pb else 0.0)
            old_a, new_a = book["a"], new["a"]
            if old_a and new_a:
                pa, pa2 = min(old_a), min(new_a)
                flow += -(new_a[pa2] if pa2 <= pa else 0.0) + (old_a[pa] if pa2 >= pa else 0.0)
        book, started = new, True
        first = start if first is None else first
        flows.setdefault(start, []).append(flow)
        books_at[start] = book
    if first is None:
        return [], refused
    rows = []
    last = max(u.time_ms - u.time_ms % interval_ms for u in updates)
    current = None
    for start in range(first, last + interval_ms, interval_ms):
        if start in books_at:
            current = books_at[start]
        applied = flows.get(start, [])
        if current is None:
            rows.append((start, (False, None, None, None, None, None, None, len(applied), False)))
            continue
        bids = sorted(current["b"].items(), reverse=True)
        asks = sorted(current["a"].items())
        bid_depth = sum(q for _, q in bids[:depth])
        ask_depth = sum(q for _, q in asks[:depth])
        total = bid_depth + ask_depth
        spread = micro = None
        if bids and asks:
            (pb, qb), (pa, qa) = bids[0], asks[0]
            spread = (pa - pb) / ((pa + pb) / 2)
            micro = (pb * qa + pa * qb) / (qb + qa)
        rows.append((start, (True, (bid_depth - ask_depth) / total if total else None, spread,
                             micro, sum(applied), bid_depth, ask_depth, len(applied), True)))  # fmt: skip
    return rows, refused


def close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def same_rows(got, want) -> bool:
    return len(got) == len(want) and all(
        s1 == s2 and all(close(x, y) for x, y in zip(f1, f2, strict=True))
        for (s1, f1), (s2, f2) in zip(got, want, strict=True)
    )


PRICES = [95 + k / 2 for k in range(21)]  # 95.0 .. 105.0: bids and asks overlap: crossings


@st.composite
def streams(draw, interval_ms=1_000):
    """A symbol's updates: mostly small updates, some snapshots, repeats, stale numbers,
    reconnects, unnumbered ones, now and then an update first; bid and ask prices overlap
    around 100, so some updates cross."""
    n = draw(st.integers(1, 40))
    time_ms, seq = T0 + draw(st.integers(0, interval_ms)), draw(st.integers(0, 5))
    out: list[book_pb2.BookUpdate] = []
    sizes = st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5, 4.0])
    level = st.one_of(
        st.tuples(st.just("b"), st.sampled_from(PRICES[:13]), sizes),  # 95 .. 101
        st.tuples(st.just("a"), st.sampled_from(PRICES[8:]), sizes),  # 99 .. 105
    )
    for k in range(n):
        time_ms += draw(st.integers(0, interval_ms // 2))
        seq += draw(st.integers(1, 4))
        kind = draw(st.integers(0 if k else 1, 19))
        if kind <= 2 or (k == 0 and kind < 8):  # a snapshot (a reconnect when kind == 0)
            mid = draw(st.sampled_from(PRICES[8:-8]))
            bids = draw(st.integers(0, 4))
            asks = draw(st.integers(0, 4))
            levels = [("b", mid - 0.5 * (j + 1), float(1 + j % 3)) for j in range(bids)]
            levels += [("a", mid + 0.5 * j, float(1 + j % 2)) for j in range(asks)]
            if kind == 0:
                seq = draw(st.integers(0, 3))
            out.append(snapshot(time_ms, seq, levels))
        elif kind == 3 and out:
            out.append(out[-1])  # an exact repeat
        elif kind == 4:
            out.append(book_update(time_ms, max(seq - 6, 0), draw(st.lists(level, max_size=2))))
        elif kind == 5:
            out.append(book_update(time_ms, -1, draw(st.lists(level, max_size=2))))
        else:
            out.append(book_update(time_ms, seq, draw(st.lists(level, min_size=1, max_size=3))))
    return out


@given(streams(), st.integers(1, 4), st.randoms(use_true_random=False))
def test_book_features_match_a_naive_rebuild_on_random_streams(updates, depth, rng):
    want_rows, want_refused = naive_rows(updates, 1_000, depth)
    rows, refused = book_features_by_candle(updates, 1_000, depth=depth, max_levels=1_000)
    assert same_rows(tuples(rows[SYMBOL]), want_rows)
    assert Counter(reasons(refused)) == Counter(reasons(want_refused))
    # realtime: each candle's updates delivered shuffled, closed as time passes
    shuffled = []
    for _, group in itertools.groupby(updates, key=lambda u: u.time_ms // 1_000):
        group = list(group)
        rng.shuffle(group)
        shuffled += group
    realtime, realtime_refused = feed(shuffled, 1_000, depth=depth, max_levels=1_000)
    assert tuples(realtime) == tuples(rows[SYMBOL])
    assert Counter(reasons(realtime_refused)) == Counter(reasons(refused))


@given(streams(), st.integers(0, 60))
def test_book_features_pickled_mid_stream_gives_identical_results(updates, cut):
    straight, straight_refused = feed(updates, 1_000, depth=2)
    tracker = BookTracker(SYMBOL, 1_000, depth=2)
    rows, refused = [], []
    end = None
    for k, update in enumerate(updates):
        if k == cut:
            tracker = pickle.loads(pickle.dumps(tracker))
        candle_end = update.time_ms - update.time_ms % 1_000 + 1_000
        if end is not None and candle_end > end:
            done, bad = tracker.advance(candle_end - 1_000)
            rows += done
            refused += bad
            if k == cut:
                tracker = pickle.loads(pickle.dumps(tracker))
        end = candle_end if end is None else max(end, candle_end)
        reason = tracker.receive(update)
        if reason is not None:
            refused.append((update, reason))
    tracker = pickle.loads(pickle.dumps(tracker))
    if end is not None:
        done, bad = tracker.advance(end)
        rows += done
        refused += bad
    assert tuples(rows) == tuples(straight)
    assert reasons(refused) == reasons(straight_refused)


def uncrossed_stream(rng: random.Random, n: int) -> list[book_pb2.BookUpdate]:
    """A valid book drifting one way: bids below the best ask, asks above the best bid; the
    best level of the side the market moves away from is taken now and then."""
    bids = {100 - 0.5 * k: 1.0 + k % 3 for k in range(1, 13)}
    asks = {100 + 0.5 * k: 1.0 + k % 2 for k in range(0, 12)}
    out = [snapshot(T0, 1, [("b", p, q) for p, q in bids.items()] +
                    [("a", p, q) for p, q in asks.items()])]  # fmt: skip
    falling = rng.random() < 0.5
    for _ in range(n):
        if rng.random() < 0.3:  # the touch moves: its best level is taken
            side = ("b" if falling else "a") if rng.random() < 0.8 else rng.choice("ba")
            levels = bids if side == "b" else asks
            if not levels:
                continue
            price, size = (max(levels) if side == "b" else min(levels)), 0.0
        else:
            side = rng.choice("ba")
            size = rng.choice([0.0, 1.0, 2.0, 3.5])
            if side == "b":
                price = (min(asks) if asks else 120.0) - 0.5 * rng.randint(1, 16)
            else:
                price = (max(bids) if bids else 80.0) + 0.5 * rng.randint(1, 16)
        levels = bids if side == "b" else asks
        if size > 0:
            levels[price] = size
        else:
            levels.pop(price, None)
        out.append(book_update(T0 + 100 * len(out), len(out) + 1, [(side, price, size)]))
    return out


@given(st.randoms(use_true_random=False), st.integers(2, 8), st.integers(1, 3))
def test_book_features_bounded_book_is_the_true_book_inside_its_horizon(rng, max_levels, depth):
    depth = min(depth, max_levels)
    updates = uncrossed_stream(rng, 150)  # one update per 100 ms candle: checked after each
    tracker = BookTracker(SYMBOL, 100, depth=depth, max_levels=max_levels)
    truth: dict[str, dict[float, float]] = {"b": {}, "a": {}}
    complete_rows: list[bool] = []
    for update in updates:
        assert tracker.receive(update) is None
        [(_, f)], refused = tracker.advance(update.time_ms + 100)
        assert refused == []
        if update.is_snapshot:
            truth = {"b": {}, "a": {}}
        for level in update.levels:
            side = truth["b" if level.side == BID else "a"]
            if level.size > 0:
                side[level.price] = level.size
            else:
                side.pop(level.price, None)
        assert len(tracker.bids) <= max_levels and len(tracker.asks) <= max_levels
        # every kept level is a real one; inside the horizon, every real one is kept
        assert tracker.bids.items() <= truth["b"].items()
        assert tracker.asks.items() <= truth["a"].items()
        floor, ceiling = tracker.bid_floor, tracker.ask_ceiling
        assert all(p in tracker.bids for p in truth["b"] if floor is None or p > floor)
        assert all(p in tracker.asks for p in truth["a"] if ceiling is None or p < ceiling)
        complete_rows.append(f.depth_complete)
        if f.depth_complete:
            bids = sorted(truth["b"].items(), reverse=True)
            asks = sorted(truth["a"].items())
            assert f.bid_depth == pytest.approx(sum(q for _, q in bids[:depth]))
            assert f.ask_depth == pytest.approx(sum(q for _, q in asks[:depth]))
            if bids and asks:
                (pb, qb), (pa, qa) = bids[0], asks[0]
                assert f.microprice == pytest.approx((pb * qa + pa * qb) / (qb + qa))
    assert complete_rows[0]  # the snapshot's row


def test_book_features_features_record_is_immutable_and_small():
    with pytest.raises(AttributeError):
        NO_BOOK.ofi = 1.0  # type: ignore[misc]
    assert not hasattr(NO_BOOK, "__dict__")
    assert isinstance(NO_BOOK, BookFeatures) and bf.DEFAULT_MAX_LEVELS == 50


# -- a recorded session ------------------------------------------------------------------------


def recorded_updates(path: Path) -> list[book_pb2.BookUpdate]:
    """Every l2_data event of a recorded Coinbase session as a BookUpdate, unchecked (the
    raw feed, not the ingest's output): time = the latest level's event_time, else the
    message's timestamp, in ms."""

    def ms(text: str) -> int:
        whole, _, fraction = text.rstrip("Z").partition(".")
        return int(datetime.fromisoformat(whole + "+00:00").timestamp()) * 1000 + int(
            (fraction + "000")[:3]
        )

    updates = []
    for line in path.read_text().splitlines():
        message = json.loads(line)
        if message["channel"] != "l2_data":
            continue
        for event in message["events"]:
            times = [ms(u["event_time"]) for u in event["updates"]]
            levels = [
                (
                    "b" if u["side"] == "bid" else "a",
                    float(u["price_level"]),
                    float(u["new_quantity"]),
                )
                for u in event["updates"]
            ]
            latest = max(times, default=0)
            updates.append(
                book_update(
                    latest if latest > 946_684_800_000 else ms(message["timestamp"]),
                    message["sequence_num"],
                    levels,
                    snapshot=event["type"] == "snapshot",
                    symbol=event["product_id"],
                )
            )
    return updates


def test_book_features_recorded_session_ends_on_the_recorded_books():
    # the raw recorded feed: a repeated message (17), a gap (37 lost: not one for us), a
    # resubscription's snapshots (41, 42), then a BTC update crossing the book (43)
    updates = recorded_updates(FIXTURES / "level2_session.jsonl")
    rows, refused = book_features_by_candle(updates, 100, depth=5)
    assert [(u.symbol, u.sequence_num, r) for u, r in refused] == [
        ("BTC-USD", 17, "duplicate"),
        ("BTC-USD", 43, "crossed_book"),
    ]
    assert not rows["BTC-USD"][-1][1].has_book  # dropped: the session ends before a snapshot
    # ETH ends on the exchange's book the recording's generator wrote down
    book = json.loads((FIXTURES / "level2_session_books.json").read_text())["ETH-USD"]
    bids = sorted(((float(p), q) for p, q in book["bid"].items()), reverse=True)
    asks = sorted((float(p), q) for p, q in book["offer"].items())
    bid_depth, ask_depth = sum(q for _, q in bids[:5]), sum(q for _, q in asks[:5])
    (pb, qb), (pa, qa) = bids[0], asks[0]
    last = rows["ETH-USD"][-1][1]
    assert last.has_book and last.depth_complete
    assert last.bid_depth == pytest.approx(bid_depth)
    assert last.ask_depth == pytest.approx(ask_depth)
    assert last.imbalance == pytest.approx((bid_depth - ask_depth) / (bid_depth + ask_depth))
    assert last.spread == pytest.approx((pa - pb) / ((pa + pb) / 2))
    assert last.microprice == pytest.approx((pb * qa + pa * qb) / (qb + qa))
    for symbol, symbol_rows in rows.items():
        starts = [start for start, _ in symbol_rows]
        assert starts == list(range(starts[0], starts[-1] + 100, 100))
        applied = sum(u.symbol == symbol for u in updates) - sum(
            u.symbol == symbol for u, _ in refused
        )
        assert sum(f.updates for _, f in symbol_rows) == applied
