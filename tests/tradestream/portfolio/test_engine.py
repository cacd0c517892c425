"""PortfolioEngine decisions on hand-computed cases, and replay determinism."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.signals import MINUTE, T0, event, random_stream
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine, SignalEvent

NO_LIMITS = {"daily_loss_limit": 0, "weekly_loss_limit": 0, "max_drawdown": 0}


def engine(**kw) -> PortfolioEngine:
    return PortfolioEngine(PortfolioConfig(**{**NO_LIMITS, **kw}))


def run(eng: PortfolioEngine, events, seen=None) -> list[str]:
    seen = set() if seen is None else seen
    return [eng.on_signal(e, seen) for e in events]


def test_engine_long_round_trip_with_fees_hand_computed():
    eng = engine(fee=0.001, fraction=0.1)
    out = run(eng, [event("BUY", 100.0, 0), event("SELL", 110.0, 1)])
    assert out == ["filled:entry", "filled:exit"]
    # 10 units at 100 (fee 1.00), sold at 110 (fee 1.10): cash 10,000 + 100 - 2.10.
    snap = eng.snapshot()
    assert snap["cash"] == pytest.approx(10_097.9)
    assert snap["realized_pnl"] == pytest.approx(100.0)
    assert snap["positions"] == []
    fills = eng.take_changes().fills
    assert [(f.side, f.qty, f.price, f.fee, f.kind) for f in fills] == [
        ("BUY", pytest.approx(10.0), 100.0, pytest.approx(1.0), "entry"),
        ("SELL", pytest.approx(10.0), 110.0, pytest.approx(1.1), "exit"),
    ]


def test_engine_repeated_signal_id_never_trades_twice():
    eng = engine()
    buy = event("BUY", 100.0, 0)
    assert run(eng, [buy, buy, buy]) == ["filled:entry", "duplicate", "duplicate"]
    assert eng.state.fill_id == 1 and eng.state.counters["duplicates"] == 2


def test_engine_buy_while_long_holds_and_sell_while_flat_is_ignored():
    eng = engine()
    out = run(eng, [event("SELL", 100.0, 0), event("BUY", 100.0, 1), event("BUY", 101.0, 2)])
    assert out == ["ignored:no_position", "filled:entry", "hold:already_long"]


def test_engine_each_strategy_has_its_own_book_and_max_open_positions_caps_entries():
    eng = engine(max_open_positions=2, fraction=0.2)
    out = run(eng, [event("BUY", 100.0, 0, s) for s in ("A", "B", "C")])
    assert out == ["filled:entry", "filled:entry", "skipped:max_open_positions"]
    assert sorted(b for (_, b) in eng.state.portfolio.positions) == ["A", "B"]
    # Equity at the second entry: 10,000 - fees; each buys 20% of equity at 100.
    a, b = (eng.state.portfolio.positions[("BTC-USD", k)].qty for k in ("A", "B"))
    assert a == pytest.approx(20.0)
    assert b == pytest.approx(0.2 * (10_000 - 2_000 * 0.001) / 100)


def test_engine_min_confidence_blocks_entries_not_exits():
    eng = engine(min_confidence=0.6)
    out = run(
        eng,
        [
            event("BUY", 100.0, 0, confidence=0.5),
            event("SELL", 100.0, 1, confidence=0.9),
            event("BUY", 100.0, 2, confidence=0.7),
            event("SELL", 105.0, 3, confidence=0.1),
        ],
    )
    assert out == ["skipped:confidence", "ignored:no_position", "filled:entry", "filled:exit"]


def test_engine_strategy_and_symbol_filters():
    eng = engine(strategies=("SMA_*",), symbols=("BTC-USD",))
    out = run(
        eng,
        [
            event("BUY", 100.0, 0, "RSI(p=14)"),
            event("BUY", 100.0, 1, "SMA_CROSSOVER(fast=2,slow=5)"),
            event("BUY", 10.0, 2, "SMA_CROSSOVER(fast=2,slow=5)", symbol="ETH-USD"),
        ],
    )
    assert out == ["ignored:strategy", "filled:entry", "ignored:symbol"]


def test_engine_shorting_sell_opens_short_and_buy_reverses_it():
    eng = engine(allow_short=True, fee=0.0, fraction=0.1)
    out = run(eng, [event("SELL", 100.0, 0), event("BUY", 90.0, 1)])
    assert out == ["filled:entry", "filled:cover filled:entry"]
    # Short 10 at 100, covered at 90: +100. Then long 10% of 10,100 at 90.
    pf = eng.state.portfolio
    assert pf.realized_pnl == pytest.approx(100.0)
    pos = pf.positions[("BTC-USD", "S1")]
    assert pos.qty == pytest.approx(1_010.0 / 90.0) and pos.avg_price == 90.0


def test_engine_percentage_stop_closes_at_a_later_signal_price():
    eng = engine(sizing="risk", risk_per_trade=0.01, stop="pct", stop_pct=0.02, fee=0.0)
    out = run(
        eng,
        [
            event("BUY", 100.0, 0, "A"),  # 50 units, stop 98
            event("BUY", 99.0, 1, "B"),  # marks 99: above the stop
            event("SELL", 97.0, 2, "B"),  # marks 97: A's stop fires
        ],
    )
    assert out[0] == "filled:entry"
    assert out[2].startswith("stop:A")
    fills = eng.take_changes().fills
    stop = next(f for f in fills if f.kind == "stop")
    assert (stop.book, stop.qty, stop.price) == ("A", pytest.approx(50.0), 97.0)
    assert stop.realized_pnl == pytest.approx(-150.0)


def test_engine_daily_loss_limit_halts_new_entries_but_not_exits():
    eng = engine(daily_loss_limit=0.05, fraction=1.0, fee=0.0)
    out = run(
        eng,
        [
            event("BUY", 100.0, 0, "A"),  # all-in: 100 units
            event("SELL", 94.0, 1, "A"),  # -6% on the day: exit allowed, limit hit
            event("BUY", 94.0, 2, "B"),  # refused
        ],
    )
    assert out == ["filled:entry", "filled:exit", "skipped:daily_loss_limit"]
    next_day = event("BUY", 94.0, 24 * 60, "B")
    assert run(eng, [next_day]) == ["filled:entry"]
    events = eng.take_changes().events
    assert [e.kind for e in events] == ["loss_limit"]


def test_engine_breaker_with_flatten_closes_every_position():
    eng = engine(max_drawdown=0.10, breaker_flatten=True, fraction=0.5, fee=0.0)
    out = run(
        eng,
        [
            event("BUY", 100.0, 0, "A", symbol="BTC-USD"),
            event("BUY", 50.0, 1, "A", symbol="ETH-USD"),
            event("BUY", 70.0, 2, "B", symbol="BTC-USD"),  # BTC -30%: equity -15% -> trips
        ],
    )
    assert out[2] == "breaker:flattened skipped:breaker"
    assert eng.state.portfolio.positions == {}
    assert eng.risk_status().breaker
    eng.reset_breaker(T0)
    assert run(eng, [event("BUY", 70.0, 3, "C")]) == ["filled:entry"]


def feed(eng: PortfolioEngine, bars: list[tuple[float, float, float]], first: int = 0) -> None:
    """Trades at high, low, close inside each minute from `first`, then one at the next
    minute's start (which closes the last candle)."""
    for k, (h, lo, c) in enumerate(bars, start=first):
        for dt, p in ((1_000, h), (2_000, lo), (59_000, c)):
            eng.on_trade("BTC-USD", T0 + k * MINUTE + dt, p)
    eng.on_trade("BTC-USD", T0 + (first + len(bars)) * MINUTE, bars[-1][2])


def test_engine_atr_stop_waits_for_the_candle_then_sizes_from_atr():
    eng = engine(sizing="risk", risk_per_trade=0.01, stop="atr", atr_period=2, atr_multiple=2.0,
                 fee=0.0)  # fmt: skip
    # Candles (h, l, c): (101, 99, 100), (102, 99, 101), (103, 100, 102):
    # TRs from the 2nd: 3, 3 -> ATR(2) = 3 after minute 2 -> stop distance 6.
    feed(eng, [(101, 99, 100), (102, 99, 101)])
    buy = event("BUY", 102.0, 2)  # the candle [2, 3) is still open: waits
    assert run(eng, [buy]) == ["pending"]
    feed(eng, [(103, 100, 102)], first=2)
    assert eng.state.pending == {}
    rec = eng.take_changes().signals[buy.signal_id]
    assert rec.decision == "filled:entry"
    pos = eng.state.portfolio.positions[("BTC-USD", "S1")]
    assert pos.qty == pytest.approx(100.0 / 6.0)
    assert pos.stop_price == pytest.approx(96.0)


def test_engine_atr_stop_without_warm_atr_skips_the_entry():
    eng = engine(sizing="risk", stop="atr", atr_period=14)
    feed(eng, [(101, 99, 100)] * 3)
    assert run(eng, [event("BUY", 100.0, 0)]) == ["skipped:atr_not_ready"]


def _fresh_run(config: PortfolioConfig, signals: list[SignalEvent]) -> dict:
    eng = PortfolioEngine(config)
    run(eng, signals)
    return eng.snapshot()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    short=st.booleans(),
    sizing=st.sampled_from(["fraction", "risk"]),
    vote=st.booleans(),
)
def test_engine_replayed_stream_gives_the_same_portfolio(seed, short, sizing, vote):
    config = PortfolioConfig(
        allow_short=short,
        sizing=sizing,
        stop="pct" if sizing == "risk" else "none",
        aggregation="vote" if vote else "none",
        min_confidence=0.4,
        max_open_positions=4,
    )
    signals = [SignalEvent.from_proto(s) for s in random_stream(seed, 120)]
    first = _fresh_run(config, signals)
    assert _fresh_run(config, signals) == first  # a second executor, same stream
    eng = PortfolioEngine(config)
    seen: set[str] = set()
    run(eng, signals, seen)
    assert run(eng, signals, seen) == ["duplicate"] * len(signals)  # the same executor again
    assert eng.snapshot() == first
