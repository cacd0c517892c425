"""What makes a trade acceptable, shared by every reader of trades (Kafka, files, exchanges)."""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass

from tradestream.v1 import trade_pb2

SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{1,20}-[A-Z0-9]{1,20}")
# Trades stamped before 2000-01-01 or after 2200-01-01 are clock or unit errors
# (seconds or microseconds where milliseconds were meant).
MIN_TIME_MS = 946_684_800_000
MAX_TIME_MS = 7_258_118_400_000
# proto3 enums are open: any int32 decodes, so the side is checked like any other value.
KNOWN_SIDES = frozenset(trade_pb2.Side.values())


@dataclass(frozen=True)
class Rejection:
    """Why a trade was refused: a short machine-readable reason and a readable detail."""

    reason: str
    detail: str


def check_trade(
    trade: trade_pb2.Trade,
    allowed_symbols: Collection[str] | None = None,
    latest_ms: int | None = None,
) -> Rejection | None:
    """Returns None for a good trade, else the first problem found.

    `latest_ms`: when given, a trade stamped after it is refused (`future_time`): live
    callers pass their clock plus the clock skew they tolerate.

    Reasons: `missing_field`, `invalid_symbol`, `unknown_symbol`, `invalid_price`,
    `invalid_size`, `invalid_side`, `invalid_time`, `future_time`.
    """
    if not trade.symbol:
        return Rejection("missing_field", "symbol is empty")
    if not SYMBOL_PATTERN.fullmatch(trade.symbol):
        return Rejection(
            "invalid_symbol", f"symbol {trade.symbol!r} is not in BASE-QUOTE form, e.g. BTC-USD"
        )
    if allowed_symbols is not None and trade.symbol not in allowed_symbols:
        return Rejection("unknown_symbol", f"symbol {trade.symbol!r} is not in the allow-list")
    if not trade.trade_id:
        return Rejection("missing_field", "trade_id is empty")
    if not math.isfinite(trade.price) or trade.price <= 0:
        return Rejection("invalid_price", f"price {trade.price!r} is not a finite number > 0")
    if not math.isfinite(trade.size) or trade.size <= 0:
        return Rejection("invalid_size", f"size {trade.size!r} is not a finite number > 0")
    if trade.side not in KNOWN_SIDES:
        return Rejection("invalid_side", f"side {trade.side} is not a known Side")
    if trade.time_ms == 0:
        return Rejection("missing_field", "time_ms is not set")
    if not MIN_TIME_MS <= trade.time_ms <= MAX_TIME_MS:
        return Rejection(
            "invalid_time", f"time_ms {trade.time_ms} is outside 2000..2200 (epoch milliseconds?)"
        )
    if latest_ms is not None and trade.time_ms > latest_ms:
        return Rejection(
            "future_time",
            f"time_ms {trade.time_ms} is later than {latest_ms} (this clock plus the "
            "tolerated skew): the sender's clock is wrong",
        )
    return None
