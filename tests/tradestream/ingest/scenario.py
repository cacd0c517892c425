"""A rough day on the exchange, scripted for the fake Coinbase server.

Three products over two connections (two products per connection). Between them the scripts
send snapshots and update batches, heartbeats, a dropped connection mid-stream, silent
connections, duplicate trades after every reconnect (each new snapshot overlaps what was sent),
malformed JSON, an invalid trade, and a channel nobody subscribed to.

`expected_ids()` is the answer: the unique trades in the order sent, per symbol.
"""

from __future__ import annotations

from tradestream.ingest.fake_coinbase import (
    Drop,
    Send,
    Silence,
    heartbeat_message,
    trade,
    trades_message,
)

T0 = 1_700_000_000_000
GROUP_A = ("BTC-USD", "ETH-USD")
GROUP_B = ("SOL-USD",)
PRODUCTS = GROUP_A + GROUP_B
PER_CONNECTION = 2
DEAD_LETTER_REASONS = ["invalid_price", "malformed", "unexpected"]


def t(product: str, n: int) -> dict:
    """Trade n of a product; ids and times increase together, sides alternate."""
    base = {"BTC-USD": 60_000.0, "ETH-USD": 3_000.0, "SOL-USD": 100.0}[product]
    return trade(
        product,
        n,
        price=base + n,
        size=0.01 * n,
        side="BUY" if n % 2 else "SELL",
        time_ms=T0 + 1000 * n,
    )


def snapshot(*trades: dict) -> Send:
    return Send(trades_message("snapshot", trades))


def update(*trades: dict) -> Send:
    return Send(trades_message("update", trades))


def scripts() -> dict[tuple[str, ...], list[list]]:
    btc = lambda *ns: [t("BTC-USD", n) for n in ns]  # noqa: E731
    eth = lambda *ns: [t("ETH-USD", n) for n in ns]  # noqa: E731
    sol = lambda *ns: [t("SOL-USD", n) for n in ns]  # noqa: E731
    return {
        GROUP_A: [
            [  # first connection: dropped mid-stream
                snapshot(*btc(1, 2, 3), *eth(1, 2)),
                Send(heartbeat_message(1)),
                update(*btc(4), *eth(3)),
                Send("{oops, not json"),
                update(*btc(5)),
                Drop(),
            ],
            [  # second: its snapshot repeats what we have; then it goes silent
                snapshot(*btc(3, 4, 5), *eth(2, 3)),
                update(*btc(6), *eth(4)),
                Send(heartbeat_message(1)),
                update({**t("BTC-USD", 99), "price": "-5"}, *btc(7)),
                Silence(),
            ],
            [  # third: overlap again, then new trades and heartbeats forever
                snapshot(*btc(6, 7), *eth(4)),
                update(*btc(8, 9)),
                update(*eth(5), *btc(10)),
            ],
        ],
        GROUP_B: [
            [snapshot(*sol(1, 2)), update(*sol(3)), Silence()],
            [
                snapshot(*sol(2, 3)),
                update(*sol(4, 5)),
                Send({"channel": "ticker", "client_id": "", "events": []}),
                update(*sol(6)),
            ],
        ],
    }


def expected_ids() -> dict[str, list[str]]:
    return {
        "BTC-USD": [str(n) for n in range(1, 11)],
        "ETH-USD": [str(n) for n in range(1, 6)],
        "SOL-USD": [str(n) for n in range(1, 7)],
    }


def expected_total() -> int:
    return sum(len(ids) for ids in expected_ids().values())
