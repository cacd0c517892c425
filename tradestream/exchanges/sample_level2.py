"""A synthetic, deterministic Coinbase `level2` session around a trades stream (samples, tests).

    frames = sample_level2_frames(trades, seed=7)   # JSON lines, as a recorder writes them

Coinbase publishes no free level-2 history, so `tradestream sample --level2 FILE` writes this
beside the sample trades: the subscription acknowledgement, one snapshot per symbol (at its
first trade), then an `update` message every `every_ms` of each symbol's trading: its book is
recentred on the latest trade price, `levels` price levels a side one tick apart, and the
sizes follow a slowly wandering imbalance regime (bid sizes scaled by 1 + r, ask sizes by
1 - r), so top-of-book imbalance swings between buyers and sellers. Each update names only the
levels that changed, removals first (size "0"), and never crosses the book. `sequence_num`
counts the messages from 0, as one connection's are. The envelope and fields are those of
`coinbase_level2` (Coinbase's documented format).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from tradestream.v1 import trade_pb2


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _frame(seq: int, ms: int, kind: str, symbol: str, levels: list[tuple]) -> str:
    event_time = _stamp(ms) if kind == "update" else "1970-01-01T00:00:00Z"
    updates = [
        {"side": side, "event_time": event_time, "price_level": f"{price:.2f}",
         "new_quantity": f"{size:.6f}"}
        for side, price, size in levels
    ]  # fmt: skip
    message = {"channel": "l2_data", "client_id": "", "timestamp": _stamp(ms),
               "sequence_num": seq,
               "events": [{"type": kind, "product_id": symbol, "updates": updates}]}  # fmt: skip
    return json.dumps(message, separators=(",", ":"))


class _SymbolBook:
    def __init__(self, rng: random.Random, levels: int) -> None:
        self.rng = rng
        self.levels = levels
        self.regime = 0.0
        self.book: dict[tuple[str, float], float] = {}

    def target(self, price: float) -> dict[tuple[str, float], float]:
        """The book recentred on `price`: `levels` a side, one tick (1e-4 of the price,
        at least a cent) apart, sizes skewed by the wandering regime."""
        self.regime = max(-0.85, min(0.85, self.regime + self.rng.gauss(0.0, 0.12)))
        tick = max(0.01, round(price * 1e-4, 2))
        best_bid = round(price - tick / 2, 2)
        out = {}
        for i in range(self.levels):
            size = self.rng.uniform(0.2, 2.0)
            out[("bid", round(best_bid - i * tick, 2))] = size * (1.0 + self.regime)
            out[("offer", round(best_bid + (i + 1) * tick, 2))] = size * (1.0 - self.regime)
        return out

    def change(self, price: float) -> list[tuple]:
        new = self.target(price)
        removed = [(side, p, 0.0) for (side, p) in self.book if (side, p) not in new]
        changed = [(side, p, q) for (side, p), q in new.items() if self.book.get((side, p)) != q]
        self.book = new
        return removed + changed


def sample_level2_frames(
    trades: Iterable[trade_pb2.Trade], seed: int = 7, every_ms: int = 5_000, levels: int = 10
) -> Iterator[str]:
    """The session's frames (JSON text, one per message) in time order.

    Args:
        trades: the session's trades in time order (any symbols).
        seed: the sizes' random seed.
        every_ms: at most one update message per symbol this often.
        levels: price levels a side.
    """
    rng = random.Random(seed)
    books: dict[str, _SymbolBook] = {}
    last_update: dict[str, int] = {}
    seq = 0
    started = False
    for trade in trades:
        symbol, ms = trade.symbol, trade.time_ms
        if not started:
            subscribed = {"channel": "subscriptions", "client_id": "", "timestamp": _stamp(ms),
                          "sequence_num": seq, "events": [{"subscriptions": {"level2": []}}]}  # fmt: skip
            yield json.dumps(subscribed, separators=(",", ":"))
            seq += 1
            started = True
        book = books.get(symbol)
        if book is None:
            book = books[symbol] = _SymbolBook(random.Random(rng.random()), levels)
            book.change(trade.price)
            snapshot = [(side, p, q) for (side, p), q in book.book.items()]
            yield _frame(seq, ms, "snapshot", symbol, snapshot)
            seq += 1
            last_update[symbol] = ms
            continue
        if ms - last_update[symbol] < every_ms:
            continue
        levels_changed = book.change(trade.price)
        if levels_changed:
            yield _frame(seq, ms, "update", symbol, levels_changed)
            seq += 1
        last_update[symbol] = ms
