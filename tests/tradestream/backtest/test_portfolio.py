"""Portfolio backtests: the paper executor's engine over historical candles and signals.

The vectorized single-symbol simulator (tradestream.backtest.engine) is the independent side
of the first test: it shares no code with the portfolio engine (no sizing, no account, no
fills: closed-form segments over numpy arrays), so equal results on the settings both support
(one symbol, one strategy, all-in, fill at the close, no stop or limit) show that the two
execution paths trade alike. The other tests check hand-computed cases.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.portfolio_case import series_of
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.engine import simulate
from tradestream.backtest.portfolio import (
    attribution,
    round_trips,
    run_portfolio,
    symbol_timeline,
)
from tradestream.backtest.series import CandleSeries
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import SignalEvent
from tradestream.strategies.library import registry
from tradestream.strategies.vectorized import evaluate_vectorized

MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00Z


def random_series(symbol: str, n: int, seed: int, interval: int = MINUTE) -> CandleSeries:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0, 0.001, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.004, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.004, n))
    return CandleSeries(
        symbol=symbol,
        interval_ms=interval,
        start_ms=T0 + np.arange(n, dtype=np.int64) * interval,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=rng.uniform(1, 10, n),
        filled=np.zeros(n, dtype=bool),
    )


def _series(symbol: str, ohlc: list[tuple[float, float, float, float]]) -> CandleSeries:
    return series_of(symbol, ohlc, T0)


def all_in(**overrides) -> PortfolioConfig:
    """The settings the vectorized simulator assumes: all-in, no stop, no limit."""
    base = dict(
        fraction=1.0,
        max_position_fraction=1.0,
        min_notional=0.0,
        max_open_positions=0,
        daily_loss_limit=0.0,
        weekly_loss_limit=0.0,
        max_drawdown=0.0,
    )
    return PortfolioConfig(**{**base, **overrides})


STRATEGIES = [
    ("SMA_CROSSOVER", {"fast": 5, "slow": 20}),
    ("RSI_EMA_CROSSOVER", {}),
    ("DONCHIAN_BREAKOUT", {"period": 15}),
    ("MACD_CROSSOVER", {}),
]


@pytest.mark.parametrize("name,params", STRATEGIES)
@pytest.mark.parametrize(
    "fee,slippage_bps,allow_short", [(0.0, 0.0, False), (0.001, 5.0, False), (0.002, 3.0, True)]
)
@pytest.mark.parametrize("seed", [1, 2])
def test_portfolio_equals_the_vectorized_simulator_on_their_shared_settings(
    name, params, fee, slippage_bps, allow_short, seed
):
    strategy = registry.build(name, params)
    series = random_series("BTC-USD", 1_500, seed)
    signals = evaluate_vectorized([strategy], series.arrays())[strategy.strategy_id]
    assert np.count_nonzero(signals) >= 4, "the case must trade"
    execution = ExecutionConfig(
        cash=10_000.0, fee=fee, slippage_bps=slippage_bps, allow_short=allow_short
    )
    sim = simulate(signals, series.open, series.close, execution)
    config = all_in(
        initial_cash=10_000.0, fee=fee, slippage_bps=slippage_bps, allow_short=allow_short
    )
    run = run_portfolio(config, [symbol_timeline(series, [strategy])])

    times, equity = run.equity_arrays()
    np.testing.assert_array_equal(times, series.start_ms + MINUTE)
    np.testing.assert_allclose(equity, sim.equity[0], rtol=1e-9)
    assert run.snapshot["equity"] == pytest.approx(sim.equity[0, -1], rel=1e-9)

    trades = sim.trades
    closed = trades.select(trades.closed)
    trips = round_trips(run.fills)
    assert len(trips) == len(closed)
    index = {int(t): i for i, t in enumerate(series.start_ms + MINUTE)}
    for trip, i in zip(trips, range(len(closed)), strict=True):
        assert index[trip["entry_ms"]] == closed.entry[i]
        assert index[trip["exit_ms"]] == closed.exit[i]
        assert trip["side"] == ("LONG" if closed.direction[i] > 0 else "SHORT")
        assert trip["entry_price"] == pytest.approx(closed.entry_price[i], rel=1e-12)
        assert trip["exit_price"] == pytest.approx(closed.exit_price[i], rel=1e-12)
        assert trip["qty"] == pytest.approx(closed.size[i], rel=1e-9)
        assert trip["pnl"] == pytest.approx(closed.pnl[i], rel=1e-7, abs=1e-7)


def test_signals_are_the_realtime_signals_of_each_candle():
    """Ids, prices and candle times as the realtime pipeline makes them."""
    from tradestream.market.signal_messages import signal_id
    from tradestream.strategies.vectorized import explain_signals

    strategy = registry.build("SMA_CROSSOVER", {"fast": 5, "slow": 20})
    series = random_series("ETH-USD", 400, 7)
    timeline = symbol_timeline(series, [strategy])
    expected = explain_signals(strategy, series.arrays())
    assert [e.candle_start_ms for e in timeline.signals] == [
        int(series.start_ms[t]) for t, _, _ in expected
    ]
    for event, (t, action, reason) in zip(timeline.signals, expected, strict=True):
        start = int(series.start_ms[t])
        assert event.signal_id == signal_id(strategy.strategy_id, "ETH-USD", start, action)
        assert event.price == series.close[t]
        assert event.reason == reason
        assert event.time_ms == start + MINUTE


def _timeline(series: CandleSeries, events: list[tuple[int, str, str]]):
    """A timeline with hand-placed signals: (candle index, action, strategy id)."""
    from tradestream.backtest.portfolio import SymbolTimeline

    signals = [
        SignalEvent(
            signal_id=f"{series.symbol}-{i}-{action}-{sid}",
            symbol=series.symbol,
            action=action,
            price=float(series.close[i]),
            candle_start_ms=int(series.start_ms[i]),
            candle_interval_ms=MINUTE,
            strategy_id=sid,
            strategy_type=sid,
        )
        for i, action, sid in events
    ]
    return SymbolTimeline(series, tuple(signals))


def test_every_candle_of_an_end_is_marked_before_its_signals_by_symbol_then_strategy():
    # Two symbols, one strategy each, fraction 0.5, no fees. At the second end both BUY:
    # AAA first (symbol order), sized on equity marked at *both* closes of that end.
    aaa = _series("AAA", [(10, 10, 10, 10), (10, 10, 10, 10), (12, 12, 12, 12)])
    bbb = _series("BBB", [(20, 20, 20, 20), (20, 20, 20, 20), (10, 10, 10, 10)])
    config = all_in(initial_cash=1_000.0, fee=0.0, fraction=0.5)
    run = run_portfolio(
        config, [_timeline(bbb, [(1, "BUY", "s")]), _timeline(aaa, [(1, "BUY", "s")])]
    )
    entries = [f for f in run.fills if f.kind == "entry"]
    assert [(f.symbol, f.qty, f.price) for f in entries] == [
        ("AAA", 50.0, 10.0),  # 0.5 * 1000 / 10
        ("BBB", 25.0, 20.0),  # 0.5 * 1000 / 20 (equity still 1000, cash 500)
    ]
    # Third end: AAA +2 * 50 = +100, BBB -10 * 25 = -250.
    assert run.snapshot["equity"] == pytest.approx(1_000.0 + 100.0 - 250.0)
    rows = attribution(run)
    assert rows["AAA"]["net_pnl"] == pytest.approx(100.0)
    assert rows["BBB"]["net_pnl"] == pytest.approx(-250.0)
    assert [p.time_ms for p in run.equity] == [T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE]


def test_a_stop_inside_a_later_candle_fills_at_the_stop_and_a_gap_at_the_open():
    # Long at 100 with a 5% stop (95). Candle 2's low touches 94: out at 95. Then a new long
    # at 100; candle 5 opens at 90, below its stop of 95: out at the open, 90.
    s = _series(
        "AAA",
        [
            (100, 100, 100, 100),
            (100, 101, 94, 99),  # the stop is hit inside this candle
            (99, 100, 98, 100),
            (100, 100, 100, 100),
            (90, 92, 89, 91),  # opened through the stop
        ],
    )
    config = all_in(initial_cash=1_000.0, fee=0.0, stop="pct", stop_pct=0.05)
    run = run_portfolio(config, [_timeline(s, [(0, "BUY", "s"), (3, "BUY", "s")])])
    exits = [(f.kind, f.price, f.time_ms) for f in run.fills if f.kind != "entry"]
    assert exits == [("stop", 95.0, T0 + 2 * MINUTE), ("stop", 90.0, T0 + 5 * MINUTE)]
    # 10 units: -5 * 10, then 9.5 units (950 / 100): -10 * 9.5.
    assert run.snapshot["equity"] == pytest.approx(1_000.0 - 50.0 - 95.0)


def test_a_daily_loss_limit_trips_on_candle_marks_and_halts_entries():
    # 1% daily limit: candle 2 marks the long 4% down; the next BUY (another strategy) is
    # skipped for the day, and the event names the limit.
    s = _series("AAA", [(100, 100, 100, 100), (100, 100, 96, 96), (96, 96, 96, 96)])
    config = all_in(initial_cash=1_000.0, fee=0.0, daily_loss_limit=0.01, fraction=0.5)
    run = run_portfolio(config, [_timeline(s, [(0, "BUY", "a"), (2, "BUY", "b")])])
    assert [e.kind for e in run.events] == ["loss_limit"]
    assert "daily loss" in run.events[0].message
    decisions = {r.event.strategy_id: r.decision for r in run.signals}
    assert decisions == {"a": "filled:entry", "b": "skipped:daily_loss_limit"}


def test_mixed_candle_intervals_are_refused():
    a = random_series("AAA", 50, 1)
    b = random_series("BBB", 50, 2, interval=5 * MINUTE)
    with pytest.raises(ValueError, match="one candle interval"):
        run_portfolio(all_in(), [symbol_timeline(a, []), symbol_timeline(b, [])])


def test_attribution_adds_up_to_the_change_in_equity():
    strategies = [registry.build("SMA_CROSSOVER", {"fast": 3, "slow": 12})]
    timelines = [symbol_timeline(random_series(s, 600, i), strategies) for i, s in
                 enumerate(["AAA", "BBB", "CCC"])]  # fmt: skip
    config = PortfolioConfig(fee=0.001, allow_short=True, fraction=0.3)
    run = run_portfolio(config, timelines)
    rows = attribution(run)
    assert set(rows) == {"AAA", "BBB", "CCC"}
    total = sum(r["net_pnl"] for r in rows.values())
    assert total == pytest.approx(run.snapshot["equity"] - config.initial_cash, abs=1e-6)
    assert sum(r["fills"] for r in rows.values()) == run.snapshot["fills"] == len(run.fills)
