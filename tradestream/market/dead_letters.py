"""Dead letters: the original bytes of a record that could not be used, and why.

Reasons are short machine-readable strings. Trades use those of `trade_validation.py`
(`invalid_price`, `unknown_symbol`, ...) and the parsers' `malformed` / `unexpected`. The
level-2 order book ingest (`tradestream/ingest/order_book.py`) adds the `BOOK_REASONS` below;
it also uses `malformed`, `unexpected`, `unknown_symbol`, `invalid_price` and `invalid_size`.
The per-candle book features (`book_features.py`) refuse BookUpdates with the
`BOOK_FEATURE_REASONS` below.
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

# Reasons shared with the trade checks (`trade_validation.py` spells them out there), named
# here for the book features (`book_features.py`), which refuse BookUpdates with them.
UNKNOWN_SYMBOL = "unknown_symbol"  # a symbol outside the allow-list (or not this tracker's)
INVALID_PRICE = "invalid_price"  # a price that is not a finite number > 0
INVALID_SIZE = "invalid_size"  # a size that is not a finite number >= 0 (book levels)
INVALID_TIME = "invalid_time"  # an event time outside 2000..2200 (epoch milliseconds?)
LATE = "late"  # an event time before a candle end already closed (as the candle transforms)

# Book features (`book_features.py`): BookUpdates of a symbol's topic it does not apply. The
# first two have the values of the book ingest's skip reasons of the same names.
DUPLICATE = "duplicate"  # a sequence_num equal to the last one seen for the symbol
OUT_OF_ORDER = "out_of_order"  # an update whose sequence_num is below the last one seen
AWAITING_SNAPSHOT = "awaiting_snapshot"  # an update after a crossed book, before the next snapshot
BOOK_FEATURE_REASONS = (
    UNKNOWN_SYMBOL,
    INVALID_TIME,
    LATE,
    INVALID_SIDE,
    INVALID_PRICE,
    INVALID_SIZE,
    DUPLICATE,
    OUT_OF_ORDER,
    UPDATE_BEFORE_SNAPSHOT,
    AWAITING_SNAPSHOT,
    CROSSED_BOOK,
)


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
