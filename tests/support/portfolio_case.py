"""A portfolio case for the candle-mode tests: sparse trades of three symbols over two UTC
days, their candles (from the independent reference in tests/support/realtime.py), two
strategies' signals on them, and what `run_portfolio` (the portfolio backtest) makes of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.support.realtime import reference_candles
from tradestream.backtest.portfolio import (
    PortfolioRun,
    SymbolTimeline,
    run_portfolio,
    symbol_timeline,
)
from tradestream.backtest.series import CandleSeries, build_series
from tradestream.market.sample_day import sample_trades
from tradestream.portfolio.config import PortfolioConfig
from tradestream.strategies.library import registry
from tradestream.v1 import trade_pb2

MINUTE = 60_000
STRATEGIES = (
    ("SMA_CROSSOVER", {"fast": 3, "slow": 8}),
    ("DOUBLE_EMA_CROSSOVER", {"short": 3, "long": 9}),
)
CONFIG = PortfolioConfig(
    initial_cash=20_000.0, allow_short=True, sizing="risk", stop="pct", stop_pct=0.0007,
    risk_per_trade=0.002, max_open_positions=4, daily_loss_limit=0.006, slippage_bps=1.0,
    fee=0.0005,
)  # fmt: skip


@dataclass(frozen=True)
class PortfolioCase:
    trades: list[trade_pb2.Trade]
    timelines: list[SymbolTimeline]
    expected: PortfolioRun


def portfolio_case(config: PortfolioConfig = CONFIG, hours: int = 30) -> PortfolioCase:
    """30 hours of sparse trades (gaps of minutes, so flat candles matter; two UTC days, so
    the daily loss limit trips and re-arms) and the portfolio backtest of them."""
    trades = list(sample_trades(hours=hours, seed=3, rate_per_s=0.03))
    candles = reference_candles(trades, MINUTE, max_gap=60)
    strategies = [registry.build(name, params) for name, params in STRATEGIES]
    series = [build_series(s, cs, MINUTE) for s, cs in candles.items()]
    timelines = [symbol_timeline(s, strategies) for s in series]
    return PortfolioCase(trades, timelines, run_portfolio(config, timelines))


def series_of(symbol: str, ohlc: list[tuple[float, float, float, float]], t0: int) -> CandleSeries:
    """A hand-written series of one-minute candles from t0: (open, high, low, close) each."""
    a = np.array(ohlc, dtype=np.float64)
    n = len(ohlc)
    return CandleSeries(
        symbol=symbol,
        interval_ms=MINUTE,
        start_ms=t0 + np.arange(n, dtype=np.int64) * MINUTE,
        open=a[:, 0],
        high=a[:, 1],
        low=a[:, 2],
        close=a[:, 3],
        volume=np.ones(n),
        filled=np.zeros(n, dtype=bool),
    )
