"""Order types and the rules that fill them from a candle's open, high, low and close.

Entries (a signal's, or the executor's setting `entry_order`):

    market  filled at once, at the signal's price (the candle's close)
    limit   BUY at or below its price: fills in a later candle whose low reaches it, at
            min(price, open) (a candle that opens below the limit fills at the open);
            SELL mirrored: high >= price, at max(price, open)
    stop    BUY once the price rises to it: high >= price, at max(price, open);
            SELL once it falls to it: low <= price, at min(price, open)

A limit or stop order may fill in any of the `time_in_force` candles after the signal's; then
it expires. An order's price defaults to the signal's price moved by `entry_offset_pct`:
a better price for a limit (BUY below, SELL above), a worse one for a stop.

Exits of an open position, checked against every candle's range (and at every signal's
price):

    stop         long: low <= stop, filled at min(stop, open); short: high >= stop, at
                 max(stop, open)
    take-profit  long: high >= target, at max(target, open); short: low <= target, at
                 min(target, open)

When one candle reaches both, the stop is assumed first (the conservative case: which came
first inside the candle is unknown), unless the candle opened beyond the target, in which
case the target filled at the open. An entry filled inside a candle is also stopped in that
candle if the candle's range reaches its stop, for the same reason; its target is not.
A trailing stop moves after each candle to the best price since the entry (the high of a
long, the low of a short) less its initial distance, never back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ENTRY_ORDERS = ("market", "limit", "stop")


@dataclass
class PendingOrder:
    """An entry order waiting for a candle that fills it."""

    symbol: str
    book: str
    side: str  # BUY | SELL
    kind: str  # limit | stop
    price: float
    placed_ms: int  # the signal's candle end: later candles may fill it
    expires_ms: int  # the end of the last candle it may fill in
    signal_id: str
    strategy_id: str = ""
    strategy_type: str = ""
    stop_price: float | None = None  # the signal's own stop and target, if it set them
    take_profit_price: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


def order_price(side: str, kind: str, price: float, offset: float) -> float:
    """The price of an entry order placed at `price` with the setting's offset."""
    better = (kind == "limit") == (side == "BUY")  # a limit BUY and a stop SELL go below
    return price * (1.0 - offset) if better else price * (1.0 + offset)


def entry_fill(
    side: str, kind: str, price: float, open_: float, high: float, low: float
) -> float | None:
    """The price a limit or stop entry fills at in a candle, or None (see the docstring)."""
    if (kind == "limit") == (side == "BUY"):  # waits for the price to come down to it
        return min(price, open_) if low <= price else None
    return max(price, open_) if high >= price else None


def exit_fill(
    qty: float,
    stop: float | None,
    target: float | None,
    open_: float,
    high: float,
    low: float,
) -> tuple[float, str] | None:
    """(price, "stop" | "target") of a position's exit inside a candle, or None."""
    if qty > 0:
        if target is not None and open_ >= target:
            return open_, "target"
        if stop is not None and low <= stop:
            return min(stop, open_), "stop"
        if target is not None and high >= target:
            return target, "target"
        return None
    if qty < 0:
        if target is not None and open_ <= target:
            return open_, "target"
        if stop is not None and high >= stop:
            return max(stop, open_), "stop"
        if target is not None and low <= target:
            return target, "target"
    return None


def exit_at_price(qty: float, stop: float | None, target: float | None, price: float) -> str | None:
    """Whether a price (a signal's) is at or beyond a position's stop or target."""
    if qty > 0:
        if stop is not None and price <= stop:
            return "stop"
        if target is not None and price >= target:
            return "target"
    elif qty < 0:
        if stop is not None and price >= stop:
            return "stop"
        if target is not None and price <= target:
            return "target"
    return None
