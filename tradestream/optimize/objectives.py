"""What the optimizer maximizes: a backtest metric, or a weighted score of several.

    fitness = objective_values("weighted", metrics, min_trades=5)   # (k,) float64

Objectives (`--objective`), computed from :class:`tradestream.backtest.metrics.MetricArrays`:

* `sharpe`, `sortino`, `calmar`, `total_return`: the metric itself (annualized as in the
  backtest; see :mod:`tradestream.backtest.metrics`).
* `weighted`: the reference platform's score, each term first mapped to [0, 1]:

      0.25 * sharpe_n + 0.20 * (1 - max_drawdown_n) + 0.20 * win_rate
      + 0.20 * annual_return_n + 0.15 * profit_factor_n

  with sharpe_n = (1 + tanh(sharpe / 2)) / 2 (0 -> 0.5, 1 -> 0.73, 2 -> 0.88, -2 -> 0.12);
  max_drawdown_n = |max drawdown| (a fraction, already in [0, 1]); win_rate as is;
  annual_return_n = (1 + tanh(CAGR)) / 2 (0% -> 0.5, +50% -> 0.73, +100% -> 0.88,
  -50% -> 0.27); profit_factor_n = PF / (1 + PF) (1 -> 0.5, 3 -> 0.75; 1 when there are
  winning trades and no losing one). tanh and PF/(1+PF) are strictly increasing, so the score
  keeps ordering everywhere (no plateau for the GA) while bounding each term; an undefined
  term (no closed trade: win rate, profit factor; zero volatility: Sharpe) counts 0. The
  score is in [0, 1].

Guards: fewer closed trades than `min_trades`, or an undefined objective (NaN: a Sharpe
without volatility, a Calmar without drawdown), give the worst fitness, -inf (`null` in JSON).
"""

from __future__ import annotations

import numpy as np

from tradestream.backtest.metrics import MetricArrays

OBJECTIVES = ("sharpe", "sortino", "calmar", "total_return", "weighted")
WEIGHTS = {
    "sharpe": 0.25,
    "drawdown": 0.20,
    "win_rate": 0.20,
    "annual_return": 0.20,
    "profit_factor": 0.15,
}
WORST = -np.inf


def weighted_terms(m: MetricArrays) -> dict[str, np.ndarray]:
    """The five normalised terms of the weighted score, each (k,) in [0, 1]."""
    trades = np.asarray(m.num_trades)
    wins = np.nan_to_num(np.asarray(m.win_rate, dtype=np.float64), nan=0.0)
    pf = np.asarray(m.profit_factor, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        pf_n = np.where(np.isnan(pf), np.where((trades > 0) & (wins > 0), 1.0, 0.0), pf / (1 + pf))
    pf_n = np.where(np.isposinf(pf), 1.0, pf_n)
    return {
        "sharpe": np.nan_to_num(0.5 * (1.0 + np.tanh(np.asarray(m.sharpe) / 2.0)), nan=0.0),
        "drawdown": np.clip(1.0 - np.abs(np.nan_to_num(m.max_drawdown, nan=1.0)), 0.0, 1.0),
        "win_rate": wins,
        "annual_return": np.nan_to_num(0.5 * (1.0 + np.tanh(np.asarray(m.cagr))), nan=0.0),
        "profit_factor": pf_n,
    }


def weighted_score(m: MetricArrays) -> np.ndarray:
    """The weighted score of k parameter sets (module docstring), in [0, 1]."""
    terms = weighted_terms(m)
    return sum(WEIGHTS[name] * terms[name] for name in WEIGHTS)


def objective_values(objective: str, m: MetricArrays, min_trades: int = 0) -> np.ndarray:
    """Fitness of k parameter sets: the objective, -inf where guarded (module docstring).

    Args:
        objective: one of OBJECTIVES.
        m: the sets' metrics.
        min_trades: fewest closed trades for a finite fitness.

    Returns:
        (k,) float64, higher is better.

    Raises:
        ValueError: an unknown objective.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if objective == "weighted":
        values = weighted_score(m)
    else:
        values = np.asarray(getattr(m, objective), dtype=np.float64).copy()
    values = np.where(np.isnan(values), WORST, values)
    return np.where(np.asarray(m.num_trades) < min_trades, WORST, values)
