"""The fused realtime step keeps its state per shard of symbols, not per symbol.

What must hold: a symbol's signals and dead letters do not depend on which other symbols
share its shard (each symbol is woken at its own times only), and a symbol's shard never
changes (a restarted job finds its state under the same key).
"""

from __future__ import annotations

import random

from apache_beam.testing.test_stream import TestStream

from tests.support.builders import MINUTE, T0, keyed_trade, seconds, streamed_rows, trade
from tradestream.strategies import library
from tradestream.transforms.symbol_signals import (
    SHARD_KEYS,
    STATE_SHARDS,
    TradesToSignals,
    state_shard,
)

STRATEGIES = [library.build("SMA_CROSSOVER", {"fast": 2, "slow": 4})]
MAX_GAP = 3


def _same_shard_pair() -> tuple[str, str]:
    names = [f"S{i}-USD" for i in range(200)]
    first = names[0]
    return first, next(n for n in names[1:] if state_shard(n) == state_shard(first))


def _zigzag(symbol: str, minutes: range, seed: int) -> list:
    rng = random.Random(seed)
    price, out = 100.0, []
    for m in minutes:
        price += 1.0 if (m // 3) % 2 == 0 else -1.0
        for _ in range(rng.randint(1, 3)):
            out.append(trade(symbol, T0 + m * MINUTE + rng.randrange(MINUTE), price))
    return out


def _run(quiet: str, busy: str | None) -> tuple[list, list]:
    """`quiet` trades in minutes 0-9, then one late trade of minute 12 arrives when the
    watermark is at minute 16; `busy` (when given) trades every minute throughout. ->
    `quiet`'s (signal rows, dead-letter rows)."""
    trades = _zigzag(quiet, range(10), 1)
    late = trade(quiet, T0 + 12 * MINUTE + 500, 150.0)
    if busy is not None:
        trades += _zigzag(busy, range(20), 2)
    stream = TestStream()
    for m in range(20):
        batch = [
            keyed_trade(t) for t in trades if T0 + m * MINUTE <= t.time_ms < T0 + (m + 1) * MINUTE
        ]
        if m == 16:
            batch.append(keyed_trade(late))
        if batch:
            stream = stream.add_elements(batch)
        stream = stream.advance_watermark_to(seconds(T0 + (m + 1) * MINUTE))
    stream = stream.advance_watermark_to_infinity()
    signals, letters = streamed_rows(
        stream, TradesToSignals(STRATEGIES, MINUTE, MINUTE, MAX_GAP, "trades")
    )
    return [r for r in signals if r[1] == quiet], [r for r in letters if r[1] == quiet]


def test_a_symbol_gives_the_same_signals_and_dead_letters_whatever_shares_its_shard():
    quiet, busy = _same_shard_pair()
    alone = _run(quiet, None)
    shared = _run(quiet, busy)
    assert alone[0], "the quiet symbol gives signals"
    # Woken at its own times only: the busy symbol's wake-ups of the shard do not move the
    # quiet symbol's view of the watermark, so its late trade is judged the same way.
    assert shared == alone


def test_a_symbols_shard_is_fixed():
    # These values must never change: a job restarted from a checkpoint finds each symbol's
    # state under this key (BLAKE2b of the name, modulo 16, into SHARD_KEYS).
    assert STATE_SHARDS == len(set(SHARD_KEYS)) == 16
    assert SHARD_KEYS[:4] == (8, 225, 212, 2)
    assert [state_shard(s) for s in ("BTC-USD", "ETH-USD", "SOL-USD")] == [1900, 212, 2151]
    assert {state_shard(f"S{i}-USD") for i in range(200)} == set(SHARD_KEYS)
