"""An independent, candle-by-candle reference backtester (a plain Python loop).

It implements the documented execution model directly (cash and units, one candle at a
time), so the vectorized engine can be checked against it rather than against itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoopResult:
    equity: list[float] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    trades: list[tuple[int, int, int, float, float, float]] = field(default_factory=list)
    # (direction, entry candle, exit candle, entry price, exit price, return)


def run_loop(
    signals,
    open_,
    close,
    cash=10_000.0,
    fee=0.0,
    slippage_bps=0.0,
    fill="close",
    allow_short=False,
) -> LoopResult:
    """Backtests one signal series; the open position at the end stays open (marked)."""
    s = slippage_bps / 10_000.0
    n = len(close)
    out = LoopResult()
    side = 0  # current position
    units = 0.0
    entry_price = 0.0
    entry_index = 0
    committed = cash
    money = cash  # cash when flat; for a short, the collateral incl. sale proceeds
    pending = 0  # signal waiting for the next open
    bankrupt = False
    for t in range(n):
        if bankrupt:
            out.equity.append(0.0)
            out.positions.append(0)
            continue
        actions = []
        if fill == "next_open" and pending:
            actions.append((pending, open_[t]))
            pending = 0
        signal = int(signals[t])
        if signal:
            if fill == "close":
                actions.append((signal, close[t]))
            elif t + 1 < n:
                pending = signal
        for sig, p in actions:
            target = sig if allow_short else (1 if sig > 0 else 0)
            if target == side:
                continue
            if side > 0:  # sell the long
                px = p * (1 - s)
                money = units * px * (1 - fee)
                out.trades.append((1, entry_index, t, entry_price, px, money / committed - 1))
            elif side < 0:  # buy back the short
                px = p * (1 + s)
                money = max(money - units * px - units * px * fee, 0.0)
                out.trades.append((-1, entry_index, t, entry_price, px, money / committed - 1))
            side, units = 0, 0.0
            if money <= 0:  # the short took everything: nothing left to trade
                bankrupt = True
                break
            if target != 0:
                committed = money
                px = p * (1 + s) if target > 0 else p * (1 - s)
                units = money / (px * (1 + fee))
                # A short's sale proceeds join the collateral; the fee is paid from it.
                money = 0.0 if target > 0 else money + units * px - units * px * fee
                side, entry_price, entry_index = target, px, t
        if bankrupt:
            value = 0.0
        elif side > 0:
            value = units * close[t]
        elif side < 0:
            value = money - units * close[t]
            if value <= 0:  # the short lost everything: liquidated at this close
                out.trades.append((-1, entry_index, t, entry_price, close[t] * (1 + s), -1.0))
                side, units, money, value, bankrupt = 0, 0.0, 0.0, 0.0, True
        else:
            value = money
        out.equity.append(max(value, 0.0))
        out.positions.append(side)
    if side != 0:
        out.trades.append((side, entry_index, n - 1, entry_price, close[-1], None))
    return out
