"""PortfolioConfig: every setting of the paper executor, typed, bounded and described.

The command line (`tradestream paper run --help`) builds one; the executor stores it with its
state and logs the keys that differ when it is restarted with other values.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Sizing = Literal["fraction", "risk"]
Stop = Literal["none", "pct", "atr"]
Aggregation = Literal["none", "vote"]
EntryOrder = Literal["market", "limit", "stop"]


class PortfolioConfig(BaseModel):
    """Settings of one paper portfolio."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_cash: float = Field(10_000.0, gt=0, description="Starting cash (quote currency).")
    fee: float = Field(0.001, ge=0, le=0.1, description="Fee per fill, a fraction of notional.")
    slippage_bps: float = Field(
        0.0, ge=0, le=1000, description="Every fill moves this many basis points against us."
    )
    sizing: Sizing = Field(
        "fraction",
        description="fraction: notional = fraction x equity; risk: (risk_per_trade x equity) "
        "/ stop distance.",
    )
    fraction: float = Field(0.1, gt=0, le=1, description="Equity fraction per new position.")
    risk_per_trade: float = Field(
        0.01, gt=0, le=1, description="Equity fraction lost if a position's stop is hit."
    )
    stop: Stop = Field(
        "none", description="Protective stop: none, pct (stop_pct of price) or atr (ATR multiple)."
    )
    stop_pct: float = Field(0.02, gt=0, lt=1, description="Stop distance as a fraction of price.")
    atr_period: int = Field(14, ge=1, le=1000, description="ATR period (Wilder), in candles.")
    atr_multiple: float = Field(2.0, gt=0, le=100, description="Stop distance = multiple x ATR.")
    atr_interval_ms: int = Field(
        60_000, ge=1000, description="Candle length of the ATR built from the trades topic."
    )
    take_profit_pct: float = Field(
        0.0,
        ge=0,
        lt=10,
        description="Take-profit target this fraction of price past the entry (0: off).",
    )
    take_profit_r: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Take-profit target at this multiple of the stop distance (0: off).",
    )
    trailing_stop: bool = Field(
        False, description="The stop follows the best price since the entry at its first distance."
    )
    entry_order: EntryOrder = Field(
        "market", description="market, or limit/stop orders that later candles fill (--candles)."
    )
    entry_offset_pct: float = Field(
        0.0, ge=0, lt=1, description="limit/stop entries: price this fraction from the signal's."
    )
    time_in_force: int = Field(
        1,
        ge=1,
        le=100_000,
        description="limit/stop entries: candles after the signal's to fill in.",
    )
    max_position_fraction: float = Field(
        1.0, gt=0, le=10, description="Cap on one position's notional, a fraction of equity."
    )
    min_notional: float = Field(1.0, ge=0, description="Entries below this notional are skipped.")
    qty_step: float = Field(0.0, ge=0, description="Quantities are floored to it (0: exact).")
    allow_short: bool = Field(False, description="SELL opens a short when flat (BUY covers it).")
    max_open_positions: int = Field(
        5, ge=0, description="Open positions at most (0: no limit); entries beyond are skipped."
    )
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="Signals below this confidence open nothing."
    )
    strategies: tuple[str, ...] = Field(
        (), description="Only these strategies (ids or types, shell patterns); empty: all."
    )
    symbols: tuple[str, ...] = Field((), description="Only these symbols; empty: all.")
    daily_loss_limit: float = Field(
        0.05, ge=0, lt=1, description="Halt entries for the UTC day after this loss (0: off)."
    )
    weekly_loss_limit: float = Field(
        0.10, ge=0, lt=1, description="Halt entries for the ISO week after this loss (0: off)."
    )
    max_drawdown: float = Field(
        0.20, ge=0, lt=1, description="Trip the circuit breaker at this drawdown (0: off)."
    )
    breaker_flatten: bool = Field(False, description="Close every position when it trips.")
    aggregation: Aggregation = Field(
        "none", description="none: one book per strategy; vote: one weighted vote per symbol."
    )
    vote_threshold: float = Field(
        0.5, gt=0, le=1, description="|score| needed to act in vote mode (score in -1..1)."
    )
    weights: tuple[tuple[str, float], ...] = Field(
        (), description="(pattern, weight) of strategies in vote mode; unmatched weigh 1."
    )

    @model_validator(mode="after")
    def _consistent(self) -> PortfolioConfig:
        if self.sizing == "risk" and self.stop == "none":
            raise ValueError("sizing=risk needs a stop: --stop pct or --stop atr")
        if self.take_profit_r and self.stop == "none":
            raise ValueError("take_profit_r is a multiple of the stop distance: it needs a stop")
        if self.take_profit_r and self.take_profit_pct:
            raise ValueError("take_profit_pct and take_profit_r: give one of them")
        if self.trailing_stop and self.stop == "none":
            raise ValueError("trailing_stop moves the stop: it needs --stop pct or --stop atr")
        for pattern, weight in self.weights:
            if weight < 0:
                raise ValueError(f"weight of {pattern!r} must be >= 0, got {weight}")
        return self

    @property
    def needs_trades(self) -> bool:
        """ATR stops are built from the trades topic."""
        return self.stop == "atr"

    def wants_strategy(self, strategy_id: str, strategy_type: str) -> bool:
        if not self.strategies:
            return True
        return any(_matches(p, strategy_id, strategy_type) for p in self.strategies)

    def wants_symbol(self, symbol: str) -> bool:
        return not self.symbols or symbol in self.symbols

    def weight_of(self, strategy_id: str, strategy_type: str) -> float:
        """The first matching (pattern, weight), else 1."""
        for pattern, weight in self.weights:
            if _matches(pattern, strategy_id, strategy_type):
                return weight
        return 1.0

    def differences(self, other: PortfolioConfig) -> dict[str, tuple[object, object]]:
        """{field: (other's value, this value)} for fields that differ."""
        mine, theirs = self.model_dump(), other.model_dump()
        return {k: (theirs[k], v) for k, v in mine.items() if theirs.get(k) != v}


def _matches(pattern: str, strategy_id: str, strategy_type: str) -> bool:
    """Whether a --strategy/--weight shell pattern names this strategy (id or type).

    Letter case does not matter, as everywhere a strategy is named (`sma_*` matches
    `SMA_CROSSOVER`); the rest of the pattern is matched exactly.
    """
    folded = pattern.casefold()
    return fnmatchcase(strategy_id.casefold(), folded) or fnmatchcase(
        strategy_type.casefold(), folded
    )
