"""EventSequencer: whatever order the partitions are polled in, the portfolio is the one a
portfolio backtest computes over the same trades and signals.

The backtest side is `run_portfolio` over candles from the tests' independent reference
(tests/support/realtime.py folds trades into candles from the documented rules), so the
sequencer's own candle building is checked too.
"""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pytest

from tests.support.realtime import reference_candles, with_sentinels
from tests.support.signals import MINUTE, T0, event
from tradestream.backtest.portfolio import run_portfolio, symbol_timeline
from tradestream.backtest.series import build_series
from tradestream.market.sample_day import sample_trades
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine
from tradestream.portfolio.sequencer import SIGNALS, TRADES, EventSequencer
from tradestream.strategies.library import registry

TRADE_PARTITION = {"BTC-USD": "trades:0", "ETH-USD": "trades:1", "SOL-USD": "trades:0"}
SIGNAL_PARTITION = {"BTC-USD": "signals:1", "ETH-USD": "signals:0", "SOL-USD": "signals:1"}
CONFIG = PortfolioConfig(
    initial_cash=20_000.0, allow_short=True, sizing="risk", stop="pct", stop_pct=0.0007,
    risk_per_trade=0.002, max_open_positions=4, daily_loss_limit=0.006, slippage_bps=1.0,
    fee=0.0005,
)  # fmt: skip


@pytest.fixture(scope="module")
def market():
    """30 hours of sparse trades (gaps of minutes, so flat candles matter; two UTC days, so
    the daily loss limit trips and re-arms), their candles and two strategies' signals."""
    trades = list(sample_trades(hours=30, seed=3, rate_per_s=0.03))
    candles = reference_candles(trades, MINUTE, max_gap=60)
    assert any(c.filled for cs in candles.values() for c in cs), "the case needs gaps"
    strategies = [
        registry.build("SMA_CROSSOVER", {"fast": 3, "slow": 8}),
        registry.build("DOUBLE_EMA_CROSSOVER", {"short": 3, "long": 9}),
    ]
    series = {s: build_series(s, cs, MINUTE) for s, cs in candles.items()}
    timelines = [symbol_timeline(s, strategies) for s in series.values()]
    expected = run_portfolio(CONFIG, timelines)
    kinds = {f.kind for f in expected.fills}
    assert len(expected.fills) > 100 and kinds == {"entry", "exit", "stop"}
    assert len(expected.events) == 2, "the daily loss limit must trip on both days"
    return trades, timelines, expected


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


def _replay(parts: dict[str, list], seed: int) -> PortfolioEngine:
    """Polls the partitions in random chunks, as a consumer might, releasing after each."""
    engine = PortfolioEngine(CONFIG)
    seq = EventSequencer(engine, MINUTE, max_gap=60)
    for name in parts:
        seq.track(name, SIGNALS if name.startswith("signals") else TRADES)
    rng = random.Random(seed)
    positions = dict.fromkeys(parts, 0)
    while any(positions[p] < len(parts[p]) for p in parts):
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
    return engine


@pytest.mark.parametrize("seed", range(6))
def test_any_polling_order_gives_the_portfolio_backtests_fills_and_events(market, seed):
    trades, timelines, expected = market
    engine = _replay(_records(trades, timelines), seed)
    changes = engine.take_changes()

    def fills(fs):
        return [(f.time_ms, f.symbol, f.book, f.side, f.qty, f.price, f.fee, f.kind) for f in fs]

    assert fills(changes.fills) == fills(expected.fills)
    assert [(e.time_ms, e.kind, e.message) for e in changes.events] == [
        (e.time_ms, e.kind, e.message) for e in expected.events
    ]
    snap = engine.snapshot()
    assert snap["equity"] == expected.snapshot["equity"]
    assert snap["marks"] == expected.snapshot["marks"]
    assert engine.state.counters.get("late_signals", 0) == 0
    equity = [changes.equity[k] for k in sorted(changes.equity)]
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
