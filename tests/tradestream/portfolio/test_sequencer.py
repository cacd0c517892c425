"""EventSequencer: whatever order the partitions are polled in, the portfolio is the one a
portfolio backtest computes over the same trades and signals.

The backtest side is `run_portfolio` over candles from the tests' independent reference
(tests/support/realtime.py folds trades into candles from the documented rules), so the
sequencer's own candle building is checked too.
"""

from __future__ import annotations

import copy
import json
import random
from collections import defaultdict

import numpy as np
import pytest

from tests.support.portfolio_case import CONFIG, portfolio_case
from tests.support.realtime import reference_candles, with_sentinels
from tests.support.signals import MINUTE, T0, event
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine
from tradestream.portfolio.sequencer import SIGNALS, TRADES, EventSequencer

TRADE_PARTITION = {"BTC-USD": "trades:0", "ETH-USD": "trades:1", "SOL-USD": "trades:0"}
SIGNAL_PARTITION = {"BTC-USD": "signals:1", "ETH-USD": "signals:0", "SOL-USD": "signals:1"}


@pytest.fixture(scope="module")
def market():
    case = portfolio_case()
    candles = reference_candles(case.trades, MINUTE, max_gap=60)
    assert any(c.filled for cs in candles.values() for c in cs), "the case needs gaps"
    kinds = {f.kind for f in case.expected.fills}
    assert len(case.expected.fills) > 100 and kinds == {"entry", "exit", "stop"}
    assert len(case.expected.events) == 2, "the daily loss limit must trip on both days"
    return case.trades, case.timelines, case.expected


def _records(trades, timelines) -> dict[str, list]:
    """What each partition holds, in its order: trades (with one sentinel per symbol that
    closes its last candle, as a replay ends) and signals (per partition, emission order
    differing across symbols as with several writers)."""
    parts: dict[str, list] = defaultdict(list)
    for t in with_sentinels(trades, MINUTE):
        parts[TRADE_PARTITION[t.symbol]].append(("trade", t.symbol, t.time_ms, t.price))
    rng = random.Random(5)
    for tl in timelines:
        for e in tl.signals:
            parts[SIGNAL_PARTITION[e.symbol]].append(("signal", e))
    for name in {p for p in parts if p.startswith("signals")}:
        # Keep each symbol's order; shuffle how the symbols interleave.
        by_symbol = defaultdict(list)
        for rec in parts[name]:
            by_symbol[rec[1].symbol].append(rec)
        merged = []
        queues = list(by_symbol.values())
        while any(queues):
            q = rng.choice([q for q in queues if q])
            merged.append(q.pop(0))
        parts[name] = merged
    return parts


def _sequencer(engine: PortfolioEngine, parts) -> EventSequencer:
    seq = EventSequencer(engine, MINUTE, max_gap=60)
    for name in parts:
        seq.track(name, SIGNALS if name.startswith("signals") else TRADES)
    return seq


def _replay(parts: dict[str, list], seed: int, restart_at: int | None = None):
    """Polls the partitions in random chunks, as a consumer might, releasing after each;
    with `restart_at`, after that many chunks the engine and sequencer are rebuilt from their
    stored forms (JSON), as a restarted executor rebuilds them from its database.

    Returns (engine, every fill, every risk event, every equity point)."""
    engine = PortfolioEngine(CONFIG)
    seq = _sequencer(engine, parts)
    fills, events, equity = [], [], {}

    def collect():
        changes = engine.take_changes()
        fills.extend(changes.fills)
        events.extend(changes.events)
        equity.update(changes.equity)

    rng = random.Random(seed)
    positions = dict.fromkeys(parts, 0)
    chunks = 0
    while any(positions[p] < len(parts[p]) for p in parts):
        chunks += 1
        if chunks == restart_at:
            assert seq.pending(), "a restart with events still waiting"
            collect()
            stored = json.loads(json.dumps(seq.to_json()))
            engine = PortfolioEngine(CONFIG, copy.deepcopy(engine.state))
            seq = _sequencer(engine, parts)
            seq.restore(stored)
        name = rng.choice([p for p in parts if positions[p] < len(parts[p])])
        chunk = parts[name][positions[name] : positions[name] + rng.randint(1, 400)]
        positions[name] += len(chunk)
        for rec in chunk:
            if rec[0] == "trade":
                seq.add_trade(name, rec[1], rec[2], rec[3])
            else:
                seq.add_signal(name, rec[1])
        for p in parts:
            seq.set_caught_up(p, positions[p] == len(parts[p]))
        seq.release()
    collect()
    assert restart_at is None or chunks > restart_at, "the replay must restart"
    return engine, fills, events, [equity[k] for k in sorted(equity)]


@pytest.mark.parametrize("seed,restart_at", [(0, None), (1, None), (2, None), (3, 3), (4, 8),
                                             (5, 14)])  # fmt: skip
def test_any_polling_order_gives_the_portfolio_backtests_fills_and_events(market, seed, restart_at):
    trades, timelines, expected = market
    engine, fills, events, equity = _replay(_records(trades, timelines), seed, restart_at)

    def rows(fs):
        return [(f.time_ms, f.symbol, f.book, f.side, f.qty, f.price, f.fee, f.kind) for f in fs]

    assert rows(fills) == rows(expected.fills)
    assert [(e.time_ms, e.kind, e.message) for e in events] == [
        (e.time_ms, e.kind, e.message) for e in expected.events
    ]
    snap = engine.snapshot()
    assert snap["equity"] == expected.snapshot["equity"]
    assert snap["marks"] == expected.snapshot["marks"]
    assert engine.state.counters.get("late_signals", 0) == 0
    assert [p.time_ms for p in equity] == [p.time_ms for p in expected.equity]
    np.testing.assert_array_equal([p.equity for p in equity], [p.equity for p in expected.equity])


def test_nothing_is_released_while_a_signals_partition_may_still_hold_earlier_signals():
    engine = PortfolioEngine(PortfolioConfig(fee=0.0))
    seq = EventSequencer(engine, MINUTE)
    seq.track("trades:0", TRADES)
    seq.track("signals:0", SIGNALS)
    seq.add_trade("trades:0", "BTC-USD", T0 + 1_000, 100.0)
    seq.add_trade("trades:0", "BTC-USD", T0 + MINUTE + 1_000, 101.0)  # closes the first candle
    seq.add_signal("signals:0", event("BUY", 100.0, 0))
    seq.set_caught_up("trades:0", True)
    assert seq.release() == 0 and seq.pending() == 2
    seq.set_caught_up("signals:0", True)
    assert seq.release() == 2  # the candle, then its signal
    assert engine.snapshot()["positions"] and seq.pending() == 0


def test_a_signal_after_its_candle_end_was_released_is_applied_and_said_late():
    engine = PortfolioEngine(PortfolioConfig(fee=0.0))
    seq = EventSequencer(engine, MINUTE)
    seq.track("trades:0", TRADES)
    for minute, price in ((0, 100.0), (1, 101.0), (2, 102.0)):
        seq.add_trade("trades:0", "BTC-USD", T0 + minute * MINUTE + 5, price)
    assert seq.release() == 2  # the candles ending at minutes 1 and 2
    seq.add_signal("signals:0", event("BUY", 100.0, 0))
    changes = engine.take_changes()
    [record] = changes.signals.values()
    assert record.decision == "late filled:entry"
    assert engine.state.counters["late_signals"] == 1


def test_flat_candles_fill_quiet_intervals_up_to_max_gap():
    engine = PortfolioEngine(PortfolioConfig(fee=0.0))
    seq = EventSequencer(engine, MINUTE, max_gap=2)
    seq.track("trades:0", TRADES)
    seq.add_trade("trades:0", "ETH-USD", T0 + 5, 50.0)
    seq.add_trade("trades:0", "BTC-USD", T0 + 7, 100.0)
    seq.add_trade("trades:0", "BTC-USD", T0 + 6 * MINUTE + 5, 101.0)  # 5 quiet intervals
    assert seq.release() == 6  # each symbol: its candle and 2 flats (ends 1, 2, 3)
    ends = sorted({p.time_ms for p in engine.take_changes().equity.values()})
    assert ends == [T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE]
    for symbol in ("ETH-USD", "BTC-USD"):
        b = seq.candles[symbol]
        assert (b.last_real_end_ms, b.last_end_ms) == (T0 + MINUTE, T0 + 3 * MINUTE)
    assert seq.pending() == 0  # BTC's open candle (minute 6) holds later ends back


def test_trades_the_portfolio_does_not_take_still_close_the_partitions_candles():
    # BTC is traded, ETH (same partition) is not: ETH's trades, and a trade with a bad price,
    # still tell that the partition's time has passed BTC's candle.
    engine = PortfolioEngine(PortfolioConfig(fee=0.0, symbols=("BTC-USD",)))
    seq = EventSequencer(engine, MINUTE)
    seq.track("trades:0", TRADES)
    seq.add_trade("trades:0", "BTC-USD", T0 + 5, 100.0)
    seq.add_trade("trades:0", "ETH-USD", T0 + MINUTE + 5, 50.0)
    assert seq.release() == 1 and seq.candles["BTC-USD"].last_end_ms == T0 + MINUTE
    seq.add_trade("trades:0", "BTC-USD", T0 + MINUTE + 9, 101.0)
    seq.add_trade("trades:0", "BTC-USD", T0 + 2 * MINUTE + 5, float("nan"))
    assert seq.release() == 1 and seq.candles["BTC-USD"].last_end_ms == T0 + 2 * MINUTE
    assert engine.state.counters["invalid_trades"] == 1
