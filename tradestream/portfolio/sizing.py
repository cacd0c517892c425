"""Position sizing: how much a new position buys or sells.

With equity E, fill price p, fee rate f and buying power B (cash minus short liabilities):

    fraction:  qty = fraction * E / p
    risk:      qty = risk_per_trade * E / d          d = the stop distance:
                                                      pct: stop_pct * p
                                                      atr: atr_multiple * ATR
    caps:      qty * p * (1 + f) <= max_position_fraction * E   (notional and entry fee)
               long:  qty * p * (1 + f) <= B         (a short needs no cash: it is collateral)
    rounding:  qty floored to qty_step (if set); an entry under min_notional is skipped.

The stop is placed at p - d for a long and p + d for a short.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradestream.portfolio.config import PortfolioConfig


@dataclass(frozen=True)
class Size:
    """A sizing decision: qty > 0, or 0 with the reason nothing is traded."""

    qty: float
    stop_price: float | None = None
    reason: str = ""


def fill_price(price: float, side: str, slippage_bps: float) -> float:
    """The price a market order gets: slippage always against the trader."""
    move = slippage_bps / 10_000.0
    return price * (1.0 + move) if side == "BUY" else price * (1.0 - move)


def stop_distance(config: PortfolioConfig, price: float, atr: float | None) -> float | None:
    """Distance from the entry to the protective stop; None without a stop (or no ATR yet)."""
    if config.stop == "pct":
        return config.stop_pct * price
    if config.stop == "atr":
        return config.atr_multiple * atr if atr is not None and atr > 0 else None
    return None


def entry_size(
    config: PortfolioConfig,
    side: str,
    price: float,
    equity: float,
    buying_power: float,
    atr: float | None = None,
) -> Size:
    """The quantity of a new position.

    Args:
        config: sizing settings.
        side: BUY (a long) or SELL (a short).
        price: the fill price (after slippage).
        equity: current equity; buying_power: cash a long may spend.
        atr: the ATR as of the signal (ATR stops only).

    Returns:
        Size(qty, stop_price) or Size(0, reason=...).
    """
    if equity <= 0:
        return Size(0.0, reason="no_equity")
    distance = stop_distance(config, price, atr)
    if config.stop == "atr" and distance is None:
        return Size(0.0, reason="atr_not_ready")
    if config.sizing == "fraction":
        qty = config.fraction * equity / price
    else:
        assert distance is not None  # guaranteed by PortfolioConfig's validation
        qty = config.risk_per_trade * equity / distance
    with_fee = price * (1.0 + config.fee)
    qty = min(qty, config.max_position_fraction * equity / with_fee)
    if side == "BUY":
        qty = min(qty, buying_power / with_fee)
    if config.qty_step > 0:
        qty = math.floor(qty / config.qty_step + 1e-9) * config.qty_step
    if qty <= 0 or qty * price < max(config.min_notional, 1e-12):
        return Size(0.0, reason="too_small")
    stop = None
    if distance is not None:
        stop = price - distance if side == "BUY" else price + distance
    return Size(qty, stop)
