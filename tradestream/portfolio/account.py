"""A paper portfolio: cash, positions with average prices, marks, equity.

Positions are keyed by (symbol, book): the book is the strategy id that opened it (one book
per strategy), or `vote` in the weighted-vote mode. Quantities are signed (short < 0).

Accounting, per fill of signed quantity d at price p with fee f:

    cash     -= d * p + f
    adding   (same side or flat):  avg = (|q| avg + |d| p) / (|q| + |d|)
    reducing (opposite side):      realized += min(|d|, |q|) * (p - avg) * sign(q)
    equity    = cash + sum(q * mark(symbol))      marks: the latest signal price per symbol
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class Position:
    symbol: str
    book: str
    qty: float
    avg_price: float
    opened_ms: int
    entry_signal_id: str = ""
    stop_price: float | None = None
    target_price: float | None = None  # take-profit
    trail_distance: float | None = None  # a trailing stop's distance from `extreme`
    extreme: float | None = None  # the best price since the entry (trailing stops)

    @property
    def side(self) -> str:
        return "LONG" if self.qty > 0 else "SHORT"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Fill:
    """One simulated execution."""

    fill_id: int
    signal_id: str
    time_ms: int
    symbol: str
    book: str
    side: str  # BUY | SELL
    qty: float  # > 0
    price: float  # after slippage
    fee: float
    realized_pnl: float  # gross of fees, from the part of the fill that reduced a position
    kind: str  # entry | exit | stop | breaker
    cash_after: float

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Portfolio:
    cash: float
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    marks: dict[str, tuple[float, int]] = field(default_factory=dict)  # symbol -> (price, ms)
    realized_pnl: float = 0.0
    fees_paid: float = 0.0

    def mark(self, symbol: str, price: float, time_ms: int) -> None:
        if not math.isfinite(price) or price <= 0:
            raise ValueError(f"{symbol}: a mark must be a finite price > 0, got {price}")
        self.marks[symbol] = (price, time_ms)

    def price_of(self, symbol: str) -> float:
        return self.marks[symbol][0]

    def position(self, symbol: str, book: str) -> Position | None:
        return self.positions.get((symbol, book))

    def equity(self) -> float:
        return self.cash + sum(p.qty * self.price_of(p.symbol) for p in self.positions.values())

    def exposure(self) -> float:
        """Gross notional of the open positions at their marks."""
        return sum(abs(p.qty) * self.price_of(p.symbol) for p in self.positions.values())

    def short_liability(self) -> float:
        return sum(-p.qty * self.price_of(p.symbol) for p in self.positions.values() if p.qty < 0)

    def buying_power(self) -> float:
        """Cash a long entry may spend: short-sale proceeds are collateral, not spendable."""
        return max(0.0, self.cash - self.short_liability())

    def unrealized_pnl(self) -> float:
        return sum(p.qty * (self.price_of(p.symbol) - p.avg_price) for p in self.positions.values())

    def apply(
        self,
        symbol: str,
        book: str,
        signed_qty: float,
        price: float,
        fee: float,
        time_ms: int,
        signal_id: str = "",
    ) -> float:
        """Books a fill and returns the realized P&L (gross of fees) it produced.

        Args:
            symbol, book: the position the fill belongs to.
            signed_qty: + buys, - sells; must not be 0.
            price: the fill price; fee: the fee paid (>= 0), taken from cash.
        """
        if signed_qty == 0 or not math.isfinite(signed_qty):
            raise ValueError(f"fill quantity must be finite and non-zero, got {signed_qty}")
        self.cash -= signed_qty * price + fee
        self.fees_paid += fee
        key = (symbol, book)
        pos = self.positions.get(key)
        realized = 0.0
        if pos is None:
            self.positions[key] = Position(symbol, book, signed_qty, price, time_ms, signal_id)
            return 0.0
        if (pos.qty > 0) == (signed_qty > 0):
            total = abs(pos.qty) + abs(signed_qty)
            pos.avg_price = (abs(pos.qty) * pos.avg_price + abs(signed_qty) * price) / total
            pos.qty += signed_qty
            return 0.0
        closed = min(abs(signed_qty), abs(pos.qty))
        realized = closed * (price - pos.avg_price) * (1.0 if pos.qty > 0 else -1.0)
        self.realized_pnl += realized
        remaining = pos.qty + signed_qty
        if remaining == 0 or abs(remaining) < 1e-12 * max(abs(pos.qty), 1.0):
            del self.positions[key]
        elif (remaining > 0) != (pos.qty > 0):
            # Crossed through zero: the rest is a new position at this price.
            self.positions[key] = Position(symbol, book, remaining, price, time_ms, signal_id)
        else:
            pos.qty = remaining
        return realized
