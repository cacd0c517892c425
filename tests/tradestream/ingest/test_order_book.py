"""BookBuilder: states, sequence numbers, bad input, and the order book's best prices."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tradestream.exchanges.order_book import BookBuilder, BookState, OrderBook
from tradestream.v1 import book_pb2

BID, ASK = book_pb2.BOOK_SIDE_BID, book_pb2.BOOK_SIDE_ASK


def l2(seq: int | None, *events: tuple) -> str:
    """An l2_data frame; each event is (kind, product, [(side, price, size), ...])."""
    message = {
        "channel": "l2_data",
        "client_id": "",
        "timestamp": "2024-01-02T03:04:05.678Z",
        "events": [
            {
                "type": kind,
                "product_id": product,
                "updates": [
                    {
                        "side": s,
                        "event_time": "2024-01-02T03:04:05.5Z",
                        "price_level": p,
                        "new_quantity": q,
                    }
                    for s, p, q in levels
                ],
            }
            for kind, product, levels in events
        ],
    }
    if seq is not None:
        message["sequence_num"] = seq
    return json.dumps(message)


def heartbeat(seq: int) -> str:
    return json.dumps(
        {"channel": "heartbeats", "sequence_num": seq, "events": [{"heartbeat_counter": seq}]}
    )


SNAP_BTC = ("snapshot", "BTC-USD", [("bid", "99", "1"), ("bid", "98", "2"), ("offer", "101", "3")])
SNAP_ETH = ("snapshot", "ETH-USD", [("bid", "9", "1"), ("offer", "11", "1")])


def live_builder() -> BookBuilder:
    builder = BookBuilder(["BTC-USD", "ETH-USD"])
    builder.connected("c", ["BTC-USD", "ETH-USD"])
    builder.handle_frame("c", l2(0, SNAP_BTC, SNAP_ETH))
    return builder


def test_order_book_snapshot_then_updates_set_and_remove_levels():
    builder = live_builder()
    out = builder.handle_frame(
        "c", l2(1, ("update", "BTC-USD", [("bid", "99", "0"), ("offer", "100", "4")]))
    )
    assert [u.sequence_num for u in out.updates] == [1]
    assert out.updates[0].time_ms == 1_704_164_645_500  # the level's event time
    assert builder.book("BTC-USD").as_dict() == {
        "bid": {98.0: 2.0},
        "offer": {101.0: 3.0, 100.0: 4.0},
    }
    assert (
        builder.book("BTC-USD").best_bid() == 98.0 and builder.book("BTC-USD").best_ask() == 100.0
    )
    assert out.accounted == out.records == 1


def test_order_book_snapshot_message_holds_a_record_per_product():
    builder = BookBuilder(["BTC-USD", "ETH-USD"])
    out = builder.handle_frame("c", l2(0, SNAP_BTC, SNAP_ETH))
    assert [(u.symbol, u.is_snapshot, len(u.levels)) for u in out.updates] == [
        ("BTC-USD", True, 3),
        ("ETH-USD", True, 2),
    ]
    assert out.records == 2 and builder.all_live()


def test_order_book_duplicate_and_late_messages_are_skipped_not_applied():
    builder = live_builder()
    update = l2(1, ("update", "BTC-USD", [("bid", "99", "5")]))
    builder.handle_frame("c", update)
    builder.handle_frame("c", heartbeat(2))
    assert builder.handle_frame("c", heartbeat(2)).skipped == [("duplicate", "")]
    late = builder.handle_frame("c", update)
    assert late.skipped == [("out_of_order", "BTC-USD")] and late.updates == []
    assert builder.book("BTC-USD").bids.levels[99.0] == 5.0


def test_order_book_gap_dead_letters_the_message_and_resyncs_every_book_of_the_connection():
    builder = live_builder()
    out = builder.handle_frame(
        "c",
        l2(
            3,
            ("update", "BTC-USD", [("bid", "97", "1")]),
            ("update", "ETH-USD", [("bid", "8", "1")]),
        ),
    )
    assert out.missed == 2
    assert [(d.reason, d.symbol) for d in out.dead_letters] == [
        ("sequence_gap", "BTC-USD"),
        ("sequence_gap", "ETH-USD"),
    ]
    assert "jumped from 0 to 3" in out.dead_letters[0].detail
    # Each dead letter is one event in the original envelope.
    payload = json.loads(out.dead_letters[1].payload)
    assert payload["sequence_num"] == 3 and [e["product_id"] for e in payload["events"]] == [
        "ETH-USD"
    ]
    assert out.resubscribe == ["BTC-USD", "ETH-USD"] and out.updates == []
    assert builder.states == {"BTC-USD": BookState.RESYNCING, "ETH-USD": BookState.RESYNCING}
    # Updates in flight wait; the fresh snapshot makes the book live again.
    waiting = builder.handle_frame("c", l2(4, ("update", "BTC-USD", [("bid", "97", "2")])))
    assert waiting.skipped == [("awaiting_snapshot", "BTC-USD")] and not waiting.resubscribe
    fresh = builder.handle_frame("c", l2(5, ("snapshot", "BTC-USD", [("bid", "50", "1")])))
    assert fresh.updates[0].is_snapshot and builder.states["BTC-USD"] is BookState.LIVE
    assert builder.book("BTC-USD").as_dict() == {"bid": {50.0: 1.0}, "offer": {}}


def test_order_book_gap_shown_by_a_heartbeat_dead_letters_the_heartbeat():
    builder = live_builder()
    out = builder.handle_frame("c", heartbeat(5))
    assert [d.reason for d in out.dead_letters] == ["sequence_gap"]
    assert json.loads(out.dead_letters[0].payload)["channel"] == "heartbeats"
    assert out.control == 0 and out.accounted == 1


def test_order_book_crossing_update_is_undone_dead_lettered_and_resynced():
    builder = live_builder()
    before = builder.book("BTC-USD").as_dict()
    out = builder.handle_frame(
        "c", l2(1, ("update", "BTC-USD", [("bid", "98", "7"), ("bid", "102", "1")]))
    )
    [dead] = out.dead_letters
    assert dead.reason == "crossed_book" and "102.0" in dead.detail and "101.0" in dead.detail
    assert out.updates == [] and out.resubscribe == ["BTC-USD"]
    assert builder.states["BTC-USD"] is BookState.RESYNCING
    assert builder.states["ETH-USD"] is BookState.LIVE
    assert before["bid"][98.0] == 2.0  # the whole event was undone, not only the crossing level


def test_order_book_crossed_snapshot_is_dead_lettered_and_asks_again():
    builder = BookBuilder(["BTC-USD"])
    out = builder.handle_frame(
        "c", l2(0, ("snapshot", "BTC-USD", [("bid", "101", "1"), ("offer", "101", "1")]))
    )
    assert [d.reason for d in out.dead_letters] == ["crossed_book"]  # locked counts as crossed
    assert out.resubscribe == ["BTC-USD"] and builder.book("BTC-USD") is None


def test_order_book_update_before_snapshot_and_unknown_symbol_are_dead_lettered():
    builder = BookBuilder(["BTC-USD"])
    builder.connected("c", ["BTC-USD"])
    out = builder.handle_frame(
        "c",
        l2(
            0,
            ("update", "BTC-USD", [("bid", "1", "1")]),
            ("snapshot", "DOGE-USD", [("bid", "1", "1")]),
        ),
    )
    assert [(d.reason, d.symbol) for d in out.dead_letters] == [
        ("update_before_snapshot", "BTC-USD"),
        ("unknown_symbol", "DOGE-USD"),
    ]
    assert out.resubscribe == []  # the subscription's snapshot is on its way


def test_order_book_bad_update_on_a_live_book_resyncs_it():
    builder = live_builder()
    out = builder.handle_frame("c", l2(1, ("update", "ETH-USD", [("offer", "12", "-1")])))
    assert [d.reason for d in out.dead_letters] == ["invalid_size"]
    assert out.resubscribe == ["ETH-USD"]
    # while resyncing, another bad update is dead-lettered without asking again
    again = builder.handle_frame("c", l2(2, ("update", "ETH-USD", [("offer", "12", "-1")])))
    assert [d.reason for d in again.dead_letters] == ["invalid_size"] and again.resubscribe == []


def test_order_book_reconnect_starts_the_connection_books_over():
    builder = live_builder()
    builder.handle_frame("c", heartbeat(7))
    builder.connected("c", ["BTC-USD", "ETH-USD"])
    assert builder.states["BTC-USD"] is BookState.NO_BOOK and builder.book("BTC-USD") is None
    assert builder.last_sequence("c") is None
    out = builder.handle_frame("c", l2(0, SNAP_BTC))  # sequence numbers start over too
    assert out.updates and not out.dead_letters


def test_order_book_recording_reads_sequence_zero_as_a_reconnect_and_any_symbol():
    builder = BookBuilder(None, recorded=True)
    builder.handle_frame("r", l2(0, SNAP_BTC))
    builder.handle_frame("r", heartbeat(1))
    out = builder.handle_frame("r", l2(0, SNAP_ETH))
    assert not out.dead_letters and not out.skipped
    assert builder.states == {"BTC-USD": BookState.NO_BOOK, "ETH-USD": BookState.LIVE}
    bad = builder.handle_frame("r", l2(1, ("snapshot", "not a symbol", [])))
    assert [d.reason for d in bad.dead_letters] == ["unknown_symbol"]


def test_order_book_unreadable_frame_and_exchange_error_are_one_record_each():
    builder = live_builder()
    assert [d.reason for d in builder.handle_frame("c", "{nope").dead_letters] == ["malformed"]
    error = builder.handle_frame("c", '{"type":"error","message":"slow down"}')
    assert [(d.reason, d.detail) for d in error.dead_letters] == [("exchange_error", "slow down")]


PRICES = st.integers(1, 30).map(float)


@given(st.lists(st.tuples(st.booleans(), PRICES, st.sampled_from([0.0, 1.0, 2.5])), max_size=200))
def test_order_book_best_prices_match_the_levels_through_any_changes(changes):
    book = OrderBook()
    for is_bid, price, size in changes:
        book.apply([(BID if is_bid else ASK, price, size)])
        assert book.best_bid() == max(book.bids.levels, default=None)
        assert book.best_ask() == min(book.asks.levels, default=None)


LEVEL = st.tuples(
    st.sampled_from(["bid", "offer", "ask", "sell", 3]),
    st.sampled_from(["100", "101", "99", "0", "-1", "NaN", "x", 5]),
    st.sampled_from(["1", "0", "-2", "inf", "", None]),
)
EVENT = st.tuples(
    st.sampled_from(["snapshot", "update", "other"]),
    st.sampled_from(["BTC-USD", "ETH-USD", "XRP-USD", ""]),
    st.lists(LEVEL, max_size=4),
)
FRAME = st.one_of(
    st.builds(l2, st.one_of(st.none(), st.integers(0, 12)), EVENT),
    st.builds(l2, st.integers(0, 12), EVENT, EVENT),
    st.builds(heartbeat, st.integers(0, 12)),
    st.text(max_size=20),
)


@given(st.lists(FRAME, max_size=30))
def test_order_book_any_frames_never_raise_and_every_record_lands_somewhere(frames):
    builder = BookBuilder(["BTC-USD", "ETH-USD"])
    builder.connected("c", ["BTC-USD", "ETH-USD"])
    for frame in frames:
        out = builder.handle_frame("c", frame)
        assert out.accounted == out.records
        for symbol, book in builder.books.items():
            assert builder.states[symbol] is BookState.LIVE
            assert not book.crossed()
