"""Dead letters: the original bytes of a record that could not be used, and why."""

from __future__ import annotations

import time

from tradestream.v1 import trade_pb2

DEAD_LETTER_TAG = "dead_letter"


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
