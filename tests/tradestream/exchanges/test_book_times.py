"""A symbol's BookUpdate times never go back, so (time, sequence) order is the order sent."""

from __future__ import annotations

import json

from tradestream.exchanges.order_book import BookBuilder
from tradestream.market.book_features import BookTracker


def _frame(seq: int, stamp: str, kind: str, event_time: str, levels) -> str:
    updates = [{"side": s, "event_time": event_time, "price_level": p, "new_quantity": q}
               for s, p, q in levels]  # fmt: skip
    return json.dumps({"channel": "l2_data", "client_id": "", "timestamp": stamp,
                       "sequence_num": seq,
                       "events": [{"type": kind, "product_id": "BTC-USD", "updates": updates}]})  # fmt: skip


def test_an_update_with_an_older_engine_time_than_its_snapshot_is_stamped_at_the_snapshot():
    builder = BookBuilder(["BTC-USD"], recorded=True)
    snapshot = _frame(1, "2024-02-09T20:32:50.100Z", "snapshot", "1970-01-01T00:00:00Z",
                      [("bid", "100", "1"), ("offer", "101", "1")])  # fmt: skip
    # Sent after the snapshot, but its engine time is 60 ms before the snapshot was sent.
    update = _frame(2, "2024-02-09T20:32:50.120Z", "update", "2024-02-09T20:32:50.040Z",
                    [("bid", "100", "3")])  # fmt: skip
    later = _frame(3, "2024-02-09T20:32:51.000Z", "update", "2024-02-09T20:32:50.900Z",
                   [("offer", "101", "2")])  # fmt: skip
    updates = [u for frame in (snapshot, update, later)
               for u in builder.handle_frame("replay", frame).updates]  # fmt: skip
    times = [u.time_ms for u in updates]
    assert times[1] == times[0] and times[2] > times[1]
    # A consumer that orders by (time, sequence) applies all three, the update after the
    # snapshot (with the engine time it would have sorted first and been refused).
    tracker = BookTracker("BTC-USD", 60_000)
    for u in updates:
        assert tracker.receive(u) is None
    rows, refused = tracker.advance(times[2] - times[2] % 60_000 + 60_000)
    assert refused == []
    assert rows[-1][1].bid_depth == 3.0 and rows[-1][1].ask_depth == 2.0
