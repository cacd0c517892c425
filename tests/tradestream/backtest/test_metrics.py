"""Backtest metrics on hand-computed cases: no trade, one trade, a losing streak, fees."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.engine import simulate
from tradestream.backtest.metrics import compute_metrics

DAY = 86_400_000
T0 = 1_704_153_600_000  # 2024-01-02


def _metrics(close, signals, **config):
    close = np.asarray(close, dtype=np.float64)
    cfg = ExecutionConfig(**config)
    sim = simulate(np.array([signals], dtype=np.int8), close, close, cfg)
    times = T0 + DAY * np.arange(close.shape[0])
    return sim, compute_metrics(sim, times, DAY, close, cfg.annual_periods(DAY)).values(0)


def test_metrics_no_trade_keeps_cash_and_leaves_trade_stats_undefined():
    _, m = _metrics([100, 101, 99, 102, 100], [0, 0, 0, 0, 0])
    assert m["total_return"] == 0.0 and m["cagr"] == 0.0 and m["final_equity"] == 10_000
    assert m["annualized_volatility"] == 0.0
    for name in ("sharpe", "sortino", "calmar", "win_rate", "profit_factor", "expectancy", "sqn"):
        assert math.isnan(m[name]), name
    assert m["max_drawdown"] == 0.0 and m["max_drawdown_duration_ms"] == 0
    assert m["num_trades"] == 0 and m["avg_trade_duration_ms"] == 0 and m["exposure"] == 0.0
    assert m["buy_and_hold_return"] == 0.0


def test_metrics_one_winning_trade():
    # Buy at the close of day 1 (100), sell at the close of day 3 (121).
    sim, m = _metrics([100, 100, 110, 121, 121], [0, 1, 0, -1, 0])
    np.testing.assert_allclose(sim.equity[0], [10_000, 10_000, 11_000, 12_100, 12_100])
    assert m["total_return"] == pytest.approx(0.21)
    assert m["cagr"] == pytest.approx(1.21 ** (365 / 5) - 1)
    # Daily returns 0, 0, .1, .1, 0: mean .04, sample std sqrt(.012 / 4).
    std = math.sqrt(0.012 / 4)
    assert m["annualized_volatility"] == pytest.approx(std * math.sqrt(365))
    assert m["sharpe"] == pytest.approx(0.04 / std * math.sqrt(365))
    assert math.isnan(m["sortino"])  # no negative return
    assert m["max_drawdown"] == 0.0 and math.isnan(m["calmar"])
    assert m["num_trades"] == 1 and m["win_rate"] == 1.0
    assert math.isnan(m["profit_factor"])  # no losing trade
    assert m["expectancy"] == pytest.approx(0.21)
    assert math.isnan(m["sqn"])  # needs 2 trades
    assert m["exposure"] == pytest.approx(2 / 5)  # days 1 and 2 end in the market
    assert m["avg_trade_duration_ms"] == 2 * DAY
    assert m["buy_and_hold_return"] == pytest.approx(0.21)


def test_metrics_losing_streak():
    # Three round trips, each bought at 100 and sold at 90.
    sim, m = _metrics([100, 100, 90, 100, 90, 100, 90], [0, 1, -1, 1, -1, 1, -1])
    np.testing.assert_allclose(sim.equity[0], [10_000, 10_000, 9_000, 9_000, 8_100, 8_100, 7_290])
    assert m["total_return"] == pytest.approx(-0.271)
    assert m["num_trades"] == 3 and m["win_rate"] == 0.0
    assert m["profit_factor"] == 0.0
    assert m["expectancy"] == pytest.approx(-0.1)
    pnl = np.array([-1000.0, -900.0, -810.0])
    assert m["sqn"] == pytest.approx(math.sqrt(3) * pnl.mean() / pnl.std(ddof=1))
    assert m["max_drawdown"] == pytest.approx(-0.271)
    assert m["max_drawdown_duration_ms"] == 5 * DAY  # last peak day 1, never recovered
    assert m["calmar"] == pytest.approx(m["cagr"] / 0.271)
    assert m["sortino"] < 0 and m["sharpe"] < 0
    assert m["exposure"] == pytest.approx(3 / 7)
    assert m["avg_trade_duration_ms"] == DAY
    assert m["buy_and_hold_return"] == pytest.approx(-0.1)


def test_metrics_fees_are_paid_on_entry_and_exit():
    fee = 0.001
    sim, m = _metrics([100, 100, 100, 100], [0, 1, -1, 0], fee=fee)
    np.testing.assert_allclose(
        sim.equity[0], [10_000, 10_000 / (1 + fee), 10_000 * (1 - fee) / (1 + fee), 9980.01998]
    )
    assert m["total_return"] == pytest.approx((1 - fee) / (1 + fee) - 1)
    assert m["expectancy"] == pytest.approx((1 - fee) / (1 + fee) - 1)
    assert m["num_trades"] == 1 and m["win_rate"] == 0.0


def test_metrics_slippage_moves_both_fills_against_the_trader():
    sim, m = _metrics([100, 100, 100, 100], [0, 1, -1, 0], fee=0.001, slippage_bps=10)
    assert sim.trades.entry_price[0] == pytest.approx(100.1)
    assert sim.trades.exit_price[0] == pytest.approx(99.9)
    assert m["total_return"] == pytest.approx(99.9 * 0.999 / (100.1 * 1.001) - 1)


def test_metrics_drawdown_duration_runs_from_peak_to_recovery():
    # Bought at 100 on day 1 and held: peak 120 on day 2, 90 on day 3, recovered on day 4.
    sim, m = _metrics([100, 100, 120, 90, 130, 130], [0, 1, 0, 0, 0, 0])
    assert m["max_drawdown"] == pytest.approx(90 / 120 - 1)
    assert m["max_drawdown_duration_ms"] == 2 * DAY
    # The position is still open: not a closed trade, but in equity and exposure.
    assert m["num_trades"] == 0 and m["total_return"] == pytest.approx(0.3)
    assert m["exposure"] == pytest.approx(5 / 6)
    assert len(sim.trades) == 1 and not sim.trades.closed[0]
    assert sim.trades.ret[0] == pytest.approx(0.3)


def test_metrics_periods_per_year_overrides_the_interval():
    close = [100, 100, 110, 121, 121]
    _, daily = _metrics(close, [0, 1, 0, -1, 0])
    _, stocks = _metrics(close, [0, 1, 0, -1, 0], periods_per_year=252)
    assert stocks["sharpe"] == pytest.approx(daily["sharpe"] * math.sqrt(252 / 365))
    assert stocks["cagr"] == daily["cagr"]  # CAGR uses the calendar span


def test_metrics_are_computed_per_parameter_set():
    close = np.array([100, 100, 110, 121, 121, 100], dtype=np.float64)
    signals = np.array([[0, 1, 0, -1, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, -1]], np.int8)
    sim = simulate(signals, close, close, ExecutionConfig())
    metrics = compute_metrics(sim, T0 + DAY * np.arange(6), DAY, close, 365)
    assert list(metrics.num_trades) == [1, 0, 1]
    np.testing.assert_allclose(metrics.total_return, [0.21, 0.0, 100 / 110 - 1])
