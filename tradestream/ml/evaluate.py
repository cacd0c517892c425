"""Backtests of a trained model's strategy, buy-and-hold and the classic library, per fold.

    signals = model_signals(strategy, features, x, values, candles)  # the strategy file's
    stats = window_stats(signal_matrix, series, first, stop, config)

Everything is the backtest's own code: signals from the strategy's entry/exit rules with the
vectorized evaluator's edge and warm-up semantics (the model node's values given to it,
computed by the node's own batch side, :func:`tradestream.strategies.models.model_values`),
positions and equity from :func:`tradestream.backtest.engine.simulate`, metrics from
:func:`tradestream.backtest.metrics.compute_metrics`. A window is simulated on its own
candles, starting flat with the configured cash; its signals were computed over the whole
series, so indicators are warmed up from candles before the window (never after it).

Per window and strategy: total return, annualized Sharpe (NaN on windows shorter than the
metrics' 30 days, where the backtest does not show it either), the per-candle Sharpe the DSR
uses, closed trades, max drawdown and the power sums of the per-candle returns
(:mod:`tradestream.optimize.overfitting`), which add up over the out-of-sample windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.engine import chunk_size_for, simulate
from tradestream.backtest.metrics import annualization_caveat, compute_metrics
from tradestream.backtest.series import CandleSeries
from tradestream.optimize.overfitting import block_stats, candle_returns, sharpe_from_sums
from tradestream.strategies import library
from tradestream.strategies.graph import Node
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.vectorized import compute_nodes, evaluate_vectorized, signals_from_rules


class _Given:
    """A node store holding precomputed values (the features and the model node's)."""

    def __init__(self, values: Mapping[Node, np.ndarray]) -> None:
        self.values = values

    def get(self, node: Node) -> np.ndarray | None:
        return self.values.get(node)

    def put(self, node: Node, value: np.ndarray) -> None:
        pass


def model_signals(
    strategy: Strategy,
    model: Node,
    features: Sequence[Node],
    x: np.ndarray,
    values: np.ndarray,
    series: CandleSeries,
) -> np.ndarray:
    """The int8 signals of a model strategy over the whole series.

    Args:
        strategy: entry/exit rules reading `model`.
        model: the model node (its inputs are `features`).
        features: the feature nodes; `x` their (n, k) values.
        values: the model node's value per candle.
        series: the candles.
    """
    given = {f: x[:, j] for j, f in enumerate(features)}
    given[model] = values
    candles = series.arrays()
    computed = compute_nodes([strategy.entry, strategy.exit], candles, store=_Given(given))
    warmup = strategy.warmup_at(series.interval_ms)
    return signals_from_rules(computed[strategy.entry], computed[strategy.exit], warmup)


def buy_and_hold(n: int, first: int) -> np.ndarray:
    """Signals that buy at candle `first` and hold."""
    out = np.zeros(n, dtype=np.int8)
    out[first] = 1
    return out


def classic_strategies(interval_ms: int) -> list[Strategy]:
    """Every library strategy with its default parameters that runs on candles alone (no
    order book) at this candle interval."""
    from tradestream.strategies.errors import StrategyError

    out = []
    for name in library.names():
        strategy = library.get(name).build()
        if strategy.reads_book:
            continue
        try:
            strategy.warmup_at(interval_ms)
        except StrategyError:
            continue  # reads longer candles this interval does not divide
        out.append(strategy)
    return out


def classic_signals(strategies: Sequence[Strategy], series: CandleSeries) -> np.ndarray:
    """(k, n) int8 signals of the strategies, in order."""
    signals = evaluate_vectorized(strategies, series.arrays())
    return np.stack([signals[s.strategy_id] for s in strategies]).astype(np.int8)


@dataclass(frozen=True)
class WindowStats:
    """k strategies over one window: one value per strategy (arrays of k)."""

    total_return: np.ndarray
    sharpe: np.ndarray  # annualized; NaN under 30 days
    sharpe_per_candle: np.ndarray
    num_trades: np.ndarray
    max_drawdown: np.ndarray
    sums: np.ndarray  # (k, 5) power sums of the per-candle returns
    equity: np.ndarray | None  # (k, m) when kept
    annualized_omitted: str | None

    def row(self, i: int) -> dict[str, float | int | None]:
        """Strategy i's numbers, JSON-ready (None for undefined)."""

        def clean(value: float) -> float | None:
            return float(value) if np.isfinite(value) else None

        return {
            "total_return": clean(self.total_return[i]),
            "sharpe": clean(self.sharpe[i]),
            "sharpe_per_candle": clean(self.sharpe_per_candle[i]),
            "num_trades": int(self.num_trades[i]),
            "max_drawdown": clean(self.max_drawdown[i]),
        }


def window_stats(
    signals: np.ndarray,
    series: CandleSeries,
    first: int,
    stop: int,
    config: ExecutionConfig,
    keep_equity: bool = False,
    memory_mb: float = 256.0,
) -> WindowStats:
    """Backtests (k, n) signals on the candles [first, stop) (module docstring)."""
    signals = np.atleast_2d(signals)
    k, m = signals.shape[0], stop - first
    times = series.start_ms[first:stop]
    open_, close = series.open[first:stop], series.close[first:stop]
    periods = config.annual_periods(series.interval_ms)
    span = int(times[-1] - times[0]) + series.interval_ms
    caveat = annualization_caveat(span)
    parts: dict[str, list] = {key: [] for key in ("ret", "sharpe", "trades", "dd", "sums", "eq")}
    step = chunk_size_for(m, memory_mb)
    for lo in range(0, k, step):
        sim = simulate(signals[lo : lo + step, first:stop], open_, close, config)
        metrics = compute_metrics(sim, times, series.interval_ms, close, periods)
        parts["ret"].append(metrics.total_return)
        parts["sharpe"].append(metrics.sharpe)
        parts["trades"].append(metrics.num_trades)
        parts["dd"].append(metrics.max_drawdown)
        parts["sums"].append(block_stats(candle_returns(sim.equity, config.cash), 1)[:, 0, :])
        if keep_equity:
            parts["eq"].append(sim.equity)
    sums = np.concatenate(parts["sums"])
    sharpe = np.concatenate(parts["sharpe"])
    return WindowStats(
        total_return=np.concatenate(parts["ret"]),
        sharpe=np.full(k, np.nan) if caveat else sharpe,
        sharpe_per_candle=sharpe_from_sums(sums),
        num_trades=np.concatenate(parts["trades"]),
        max_drawdown=np.concatenate(parts["dd"]),
        sums=sums,
        equity=np.concatenate(parts["eq"]) if keep_equity else None,
        annualized_omitted=caveat,
    )


def best_in_sample(stats: WindowStats) -> int:
    """The strategy with the best per-candle Sharpe (the first on a tie; an undefined Sharpe
    ranks last)."""
    sharpe = np.where(np.isfinite(stats.sharpe_per_candle), stats.sharpe_per_candle, -np.inf)
    return int(np.argmax(sharpe))
