"""How a backtest executes signals: fills, sides, cash, costs, annualization.

`ExecutionConfig` is the frozen, validated settings object of the engine; the pipeline builds
it from `--fill --allow_short --cash --fee --slippage_bps --periods_per_year` and it is
recorded in every result (`BacktestConfig` proto).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradestream.v1 import backtest_pb2

FILLS = ("close", "next_open")
YEAR_MS = 365 * 86_400_000  # crypto trades 24/7: a year is 365 days of candles


@dataclass(frozen=True)
class ExecutionConfig:
    """Settings of one backtest run.

    Attributes:
        cash: starting equity (quote currency), > 0.
        fee: fraction of the notional paid per side (0.001 = 0.1%), in [0, 0.5).
        slippage_bps: adverse price move per fill in basis points, in [0, 5000).
        fill: "close" (act at the close of the signal candle) or "next_open".
        allow_short: SELL opens a short (and BUY covers it) instead of only closing a long.
        periods_per_year: candles per year for annualized volatility / Sharpe / Sortino;
            0 means derive it from the candle interval with 365-day years.
    """

    cash: float = 10_000.0
    fee: float = 0.0
    slippage_bps: float = 0.0
    fill: str = "close"
    allow_short: bool = False
    periods_per_year: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cash) and self.cash > 0):
            raise ValueError(f"cash must be a finite number > 0, got {self.cash}")
        if not (math.isfinite(self.fee) and 0 <= self.fee < 0.5):
            raise ValueError(f"fee is a fraction per side in [0, 0.5), got {self.fee}")
        if not (math.isfinite(self.slippage_bps) and 0 <= self.slippage_bps < 5000):
            raise ValueError(f"slippage_bps must be in [0, 5000), got {self.slippage_bps}")
        if self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {self.fill!r}")
        if not (math.isfinite(self.periods_per_year) and self.periods_per_year >= 0):
            raise ValueError(f"periods_per_year must be >= 0, got {self.periods_per_year}")

    @property
    def slippage(self) -> float:
        """Slippage as a fraction of the price."""
        return self.slippage_bps / 10_000.0

    def annual_periods(self, interval_ms: int) -> float:
        """Candles per year: the override, else 365 days / interval."""
        if self.periods_per_year > 0:
            return self.periods_per_year
        return YEAR_MS / interval_ms

    def to_proto(self, interval_ms: int) -> backtest_pb2.BacktestConfig:
        return backtest_pb2.BacktestConfig(
            cash=self.cash,
            fee=self.fee,
            slippage_bps=self.slippage_bps,
            fill=backtest_pb2.FILL_CLOSE if self.fill == "close" else backtest_pb2.FILL_NEXT_OPEN,
            allow_short=self.allow_short,
            candle_interval_ms=interval_ms,
        )
