"""Dead letters: the original bytes of a record that could not be used, and why.

Reasons are short machine-readable strings. Trades use those of `trade_validation.py`
(`invalid_price`, `unknown_symbol`, ...) and the parsers' `malformed` / `unexpected`. The
level-2 order book ingest (`tradestream/ingest/order_book.py`) adds the `BOOK_REASONS` below;
it also uses `malformed`, `unexpected`, `unknown_symbol`, `invalid_price` and `invalid_size`.
"""

from __future__ import annotations

import time

from tradestream.v1 import trade_pb2

DEAD_LETTER_TAG = "dead_letter"

# Level-2 order book reasons.
CROSSED_BOOK = "crossed_book"  # an event would leave the best bid at or above the best ask
SEQUENCE_GAP = "sequence_gap"  # the message after one or more missed messages
UPDATE_BEFORE_SNAPSHOT = "update_before_snapshot"  # an update for a book never snapshotted
INVALID_SIDE = "invalid_side"  # a price level on neither side of the book
BOOK_REASONS = (CROSSED_BOOK, SEQUENCE_GAP, UPDATE_BEFORE_SNAPSHOT, INVALID_SIDE)


def dead_letter(
    payload: bytes, reason: str, detail: str, source_topic: str = "", symbol: str = ""
) -> trade_pb2.DeadLetter:
    """A DeadLetter stamped with the current processing time."""
    return trade_pb2.DeadLetter(
        payload=payload,
        reason=reason,
        detail=detail,
        source_topic=source_topic,
        time_ms=int(time.time() * 1000),
        symbol=symbol,
    )
