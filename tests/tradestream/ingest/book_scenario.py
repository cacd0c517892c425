"""A rough session of the level-2 feed, scripted for the fake Coinbase server.

Three products over two connections (two products per connection), random but seeded book
changes, and on the way out: lost messages (sequence gaps), a duplicate, a pair delivered out
of order, a dropped connection, and bad input (a crossed update, a negative size, a NaN
price, a snapshot of a product nobody subscribed to). After each fault that needs a fresh
snapshot the script waits for the client's re-subscription (`Resynced`), so what becomes of
every record does not depend on timing.

`server_books()` is the true book the fake starts from; the fake's `books.log` is every true
change since. `rebuild()` (test-only, a few lines) turns either into final books, and turns
the BookUpdates of the book topic into books too: the ingest is right when they are equal.
"""

from __future__ import annotations

import random

from tradestream.ingest.fake_coinbase import (
    BookChange,
    BookTruth,
    Drop,
    Duplicate,
    Lose,
    Reorder,
    Resynced,
    Send,
    l2_message,
    random_book,
    random_changes,
)
from tradestream.v1 import book_pb2

T0 = 1_700_000_000_000
GROUP_A = ("BTC-USD", "ETH-USD")
GROUP_B = ("SOL-USD",)
PRODUCTS = GROUP_A + GROUP_B
PER_CONNECTION = 2
MIDS = {"BTC-USD": 6_000_000, "ETH-USD": 300_000, "SOL-USD": 10_000, "DOGE-USD": 10}
DEPTH = 10

# What the script's faults must lead to (records, by reason).
DEAD_LETTER_REASONS = sorted(
    ["sequence_gap"] * 4 + ["crossed_book", "invalid_size", "invalid_price", "unknown_symbol"]
)
SKIPPED = {"duplicate": 2, "out_of_order": 2}


def truth() -> BookTruth:
    rng = random.Random(20)
    return BookTruth({p: random_book(MIDS[p], DEPTH, rng) for p in PRODUCTS})


def _changes(seed: int) -> dict[str, list[BookChange]]:
    rng = random.Random(seed)
    return {p: random_changes(p, MIDS[p], 400, rng, T0 + seed * 100_000) for p in PRODUCTS}


def _take(pool: dict[str, list[BookChange]], products: tuple[str, ...], n: int) -> list:
    """n changes, alternating between the products."""
    return [pool[products[i % len(products)]].pop(0) for i in range(n)]


def _bad(product: str, side: str, price: str, size: str) -> Send:
    return Send(l2_message("update", product, [(side, price, size)], T0))


def scripts() -> dict[tuple[str, ...], list[list]]:
    pool = _changes(1)
    a = lambda n: _take(pool, GROUP_A, n)  # noqa: E731
    b = lambda n: _take(pool, GROUP_B, n)  # noqa: E731
    btc_mid, eth_mid = MIDS["BTC-USD"], MIDS["ETH-USD"]
    return {
        GROUP_A: [
            [  # first connection: every fault, then dropped
                *a(30),
                Lose(a(1)[0]),
                *a(1),  # shows the gap: dead-lettered, both books re-subscribed
                Resynced(),
                *a(20),
                Duplicate(),
                *a(10),
                Reorder(*a(2)),  # the second shows a gap, the first comes late
                Resynced(),
                *a(10),
                # a bid 5 units above the mid: above every offer
                _bad("BTC-USD", "bid", f"{(btc_mid + 500) / 100:.2f}", "1.5"),
                Resynced(),
                *a(10),
                _bad("ETH-USD", "offer", f"{(eth_mid + 3) / 100:.2f}", "-2"),
                Resynced(),
                Send(l2_message("snapshot", "DOGE-USD", [("bid", "0.09", "100")], 0)),
                *a(10),
                _bad("BTC-USD", "bid", "NaN", "1"),
                Resynced(),
                *a(30),
                Drop(),  # the reconnect's snapshots start both books over
            ],
            [  # second connection: another gap, then quiet (heartbeats)
                *a(40),
                Lose(a(1)[0]),
                Lose(a(1)[0]),
                *a(1),
                Resynced(),
                *a(40),
            ],
        ],
        GROUP_B: [
            [
                *b(50),
                Reorder(*b(2)),
                Resynced(),
                *b(20),
                Duplicate(),
                *b(50),
            ]
        ],
    }


SIDE_NAMES = {book_pb2.BOOK_SIDE_BID: "bid", book_pb2.BOOK_SIDE_ASK: "offer"}


def rebuild_from_truth(fake: BookTruth) -> dict[str, dict[str, dict[float, float]]]:
    """The books the exchange ended with: its starting books plus every true change."""
    books = {p: {side: dict(levels) for side, levels in b.items()} for p, b in fake.initial.items()}
    for product, side, price, size in fake.log:
        levels = books.setdefault(product, {"bid": {}, "offer": {}})[side]
        if size > 0:
            levels[price] = size
        else:
            levels.pop(price, None)
    return books


def rebuild_from_updates(
    updates: list[book_pb2.BookUpdate],
) -> dict[str, dict[str, dict[float, float]]]:
    """The books a consumer of the book topic ends with (snapshots replace, updates set)."""
    books: dict[str, dict[str, dict[float, float]]] = {}
    for update in updates:
        if update.is_snapshot or update.symbol not in books:
            books[update.symbol] = {"bid": {}, "offer": {}}
        for level in update.levels:
            levels = books[update.symbol][SIDE_NAMES[level.side]]
            if level.size > 0:
                levels[level.price] = level.size
            else:
                levels.pop(level.price, None)
    return books
