"""Standard backtest metrics of k simulated parameter sets at once (numpy over the set axis).

Definitions (per parameter set; `E` is equity at each candle's close, `cash` the start):
* total_return = E[-1] / cash - 1; final_equity = E[-1].
* cagr = (E[-1] / cash) ** (1 / years) - 1, years = (last start - first start + interval) /
  365 days (-1 when everything is lost).
* Candle returns r[t] = E[t] / E[t-1] - 1 (r[0] against cash). With P candles per year
  (365 days / interval, or `periods_per_year`): annualized_volatility = std(r, ddof=1) *
  sqrt(P); sharpe = mean(r) / std(r) * sqrt(P) (risk-free rate 0); sortino = mean(r) /
  sqrt(mean(min(r, 0)^2)) * sqrt(P).
* max_drawdown = min(E / running peak - 1) (<= 0; the peak starts at cash);
  max_drawdown_duration_ms = the longest time from a peak to the candle that recovers it (or
  to the last candle); calmar = cagr / |max_drawdown|.
* Trade statistics count closed trades only: num_trades, win_rate (return > 0),
  profit_factor = gross profit / gross loss (P&L in cash), expectancy = mean trade return,
  sqn = sqrt(N) * mean(P&L) / std(P&L, ddof=1), avg_trade_duration_ms (exit candle - entry
  candle).
* exposure = fraction of candles that end with a position; buy_and_hold_return =
  close[-1] / close[0] - 1 (no costs).
Undefined values (no trade, no losing trade, zero volatility, fewer than 2 trades for SQN) are
NaN in numbers and null in JSON.

Samples too short to annualize: the annualized figures (`ANNUALIZED_METRICS`: cagr,
annualized_volatility, sharpe, sortino, calmar) of a sample spanning fewer than
`MIN_ANNUALIZED_DAYS` = 30 days (first candle start to last candle end) are not shown:
summary.json has them null with the reason in the entry's `annualized_omitted`, the console
and report.html say n/a and why. Annualizing extrapolates the sample to a year: CAGR raises
the growth to the power 365 / days (a +16% day reads as a CAGR of 3e25 %), and the sampling
error of an annualized Sharpe ratio is about sqrt(365 / days) whatever the candle interval
(about 19 on one day, 3.5 at 30 days, 1 at a year), so below a month the extrapolation
swamps the measurement. The computed values stay in `MetricArrays` and the ranking
records: within one sample every parameter set gets the same annualization (a constant
factor for Sharpe, Sortino and volatility; CAGR grows with total return), so ranking and
the optimizer's sharpe/sortino/total_return objectives order sets as the unannualized
figures would. (The optimizer's `weighted` score maps Sharpe and CAGR through
tanh, so on very short windows those two terms saturate near 1 and the other three terms
decide.)

Big grids keep their metrics as `RECORD_DTYPE` rows (the parameter set's index and every
metric, 144 bytes) on disk rather than as messages in memory (:mod:`tradestream.backtest.ranking`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from tradestream.backtest.config import YEAR_MS
from tradestream.backtest.engine import Simulation
from tradestream.v1 import backtest_pb2

INT_METRICS = ("max_drawdown_duration_ms", "num_trades", "avg_trade_duration_ms")
ANNUALIZED_METRICS = ("cagr", "annualized_volatility", "sharpe", "sortino", "calmar")
MIN_ANNUALIZED_DAYS = 30  # the shortest sample whose annualized metrics are shown
DAY_MS = 86_400_000


def annualization_caveat(span_ms: int) -> str | None:
    """Why the annualized metrics of a sample are not shown; None when they are.

    Args:
        span_ms: the sample's length, first candle start to last candle end.

    Returns:
        One line for people and summary.json (`annualized_omitted`), or None for a sample of
        at least MIN_ANNUALIZED_DAYS days.
    """
    if span_ms >= MIN_ANNUALIZED_DAYS * DAY_MS:
        return None
    return (
        f"the sample spans {format_days(span_ms)}, under the {MIN_ANNUALIZED_DAYS} days needed "
        f"to annualize: {', '.join(ANNUALIZED_METRICS)} not shown"
    )


def format_days(span_ms: int) -> str:
    """A sample's length in days, for people: `0.25 days`, `1 day`, `12.5 days`."""
    days = span_ms / DAY_MS
    return "1 day" if days == 1 else f"{days:.3g} days"


@dataclass(frozen=True)
class MetricArrays:
    """One array of k values per metric, in BacktestMetrics field order."""

    total_return: np.ndarray
    cagr: np.ndarray
    annualized_volatility: np.ndarray
    sharpe: np.ndarray
    sortino: np.ndarray
    calmar: np.ndarray
    max_drawdown: np.ndarray
    max_drawdown_duration_ms: np.ndarray
    win_rate: np.ndarray
    profit_factor: np.ndarray
    expectancy: np.ndarray
    sqn: np.ndarray
    exposure: np.ndarray
    num_trades: np.ndarray
    avg_trade_duration_ms: np.ndarray
    buy_and_hold_return: np.ndarray
    final_equity: np.ndarray

    def values(self, row: int) -> dict[str, float | int]:
        """Metric name -> value of parameter set `row` (ints for counts and durations)."""
        out: dict[str, float | int] = {}
        for f in fields(self):
            value = getattr(self, f.name)[row]
            out[f.name] = int(value) if f.name in INT_METRICS else float(value)
        return out

    def proto(self, row: int) -> backtest_pb2.BacktestMetrics:
        return backtest_pb2.BacktestMetrics(**self.values(row))

    def records(self, first_set: int = 0) -> np.ndarray:
        """The k sets as RECORD_DTYPE rows, set indices from `first_set`."""
        k = self.final_equity.shape[0]
        out = np.empty(k, dtype=RECORD_DTYPE)
        out["set"] = np.arange(first_set, first_set + k)
        for f in fields(self):
            out[f.name] = getattr(self, f.name)
        return out


def _record_dtype() -> np.dtype:
    columns = [("set", np.int64)]
    for f in fields(MetricArrays):
        columns.append((f.name, np.int64 if f.name in INT_METRICS else np.float64))
    return np.dtype(columns)


RECORD_DTYPE = _record_dtype()  # one parameter set's metrics, in BacktestMetrics field order


def record_proto(record: np.void) -> backtest_pb2.BacktestMetrics:
    """The BacktestMetrics of one RECORD_DTYPE row (the same values as MetricArrays.proto)."""
    values = {}
    for name in RECORD_DTYPE.names[1:]:
        value = record[name]
        values[name] = int(value) if name in INT_METRICS else float(value)
    return backtest_pb2.BacktestMetrics(**values)


def compute_metrics(
    sim: Simulation,
    times_ms: np.ndarray,
    interval_ms: int,
    close: np.ndarray,
    periods_per_year: float,
) -> MetricArrays:
    """Metrics of every parameter set of a simulation (see the module docstring).

    Args:
        sim: the simulation of k parameter sets over n candles.
        times_ms: (n,) candle start times, epoch ms.
        interval_ms: the candle interval.
        close: (n,) candle closes (for buy-and-hold).
        periods_per_year: candles per year for annualization.

    Returns:
        MetricArrays with k values per metric.
    """
    k = sim.equity.shape[0]
    times_ms = np.asarray(times_ms, dtype=np.int64)
    curve = equity_metrics(sim.equity, sim.cash, times_ms, interval_ms, periods_per_year)
    stats = _trade_stats(sim, k, times_ms)
    exposure = sim.exposure()
    buy_hold = np.full(k, float(close[-1] / close[0] - 1.0))
    return MetricArrays(
        exposure=exposure,
        buy_and_hold_return=buy_hold,
        final_equity=sim.equity[:, -1].copy(),
        **curve,
        **stats,
    )


def equity_metrics(
    equity: np.ndarray,
    cash: float,
    times_ms: np.ndarray,
    interval_ms: int,
    periods_per_year: float,
) -> dict[str, np.ndarray]:
    """The metrics of equity curves alone (total return to max drawdown duration).

    Args:
        equity: (k, n) equity at each candle's close; cash: the starting equity.
        times_ms: (n,) candle start times; interval_ms: the candle interval.
        periods_per_year: candles per year for annualization.
    """
    k, n = equity.shape
    times_ms = np.asarray(times_ms, dtype=np.int64)
    final = equity[:, -1]
    growth = final / cash
    years = (int(times_ms[-1] - times_ms[0]) + interval_ms) / YEAR_MS
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cagr = np.where(growth > 0, np.power(np.maximum(growth, 1e-300), 1.0 / years) - 1.0, -1.0)
        mean, std, downside = _return_moments(equity, cash)
        root = math.sqrt(periods_per_year)
        volatility = std * root
        sharpe = np.where(std > 0, mean / std * root, np.nan)
        sortino = np.where(downside > 0, mean / downside * root, np.nan)

        peak = np.maximum.accumulate(equity, axis=1)
        np.maximum(peak, cash, out=peak)
        underwater = equity < peak
        ratio = np.divide(equity, peak, out=peak)  # the peak array is not needed after this
        max_drawdown = ratio.min(axis=1) - 1.0
        del ratio, peak
        calmar = np.where(max_drawdown < 0, cagr / np.abs(max_drawdown), np.nan)
    duration = _max_drawdown_duration(underwater, times_ms)
    return {
        "total_return": growth - 1.0,
        "cagr": cagr,
        "annualized_volatility": volatility,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": calmar,
        "max_drawdown": max_drawdown,
        "max_drawdown_duration_ms": duration,
    }


def _return_moments(equity: np.ndarray, cash: float):
    """Mean, std (ddof=1) and downside deviation of candle returns, per row."""
    k, n = equity.shape
    returns = np.empty_like(equity)
    returns[:, 0] = equity[:, 0] / cash
    ahead, behind = equity[:, 1:], equity[:, :-1]
    # After a total loss equity stays 0: count those candles as returns of 0.
    returns[:, 1:] = 1.0
    np.divide(ahead, behind, out=returns[:, 1:], where=behind > 0)
    returns -= 1.0
    mean = returns.mean(axis=1)
    if n > 1:
        centered = returns - mean[:, None]
        std = np.sqrt(np.einsum("ij,ij->i", centered, centered) / (n - 1))
        del centered
    else:
        std = np.full(k, np.nan)
    np.minimum(returns, 0.0, out=returns)
    downside = np.sqrt(np.einsum("ij,ij->i", returns, returns) / n)
    return mean, std, downside


def _max_drawdown_duration(underwater: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
    """Longest time from a peak to the candle that recovers it (or to the last candle)."""
    k, n = underwater.shape
    index = np.arange(n, dtype=np.int32)
    at_peak = np.where(underwater, np.int32(0), index)
    np.maximum.accumulate(at_peak, axis=1, out=at_peak)
    # Stretches below the peak end at a recovery (t + 1) or at the last candle.
    rows, cols = np.nonzero(underwater[:, :-1] & ~underwater[:, 1:])
    ends_rows = np.concatenate([rows, np.flatnonzero(underwater[:, -1])])
    ends_cols = np.concatenate([cols + 1, np.full(ends_rows.shape[0] - rows.shape[0], n - 1)])
    peaks = at_peak[ends_rows, np.maximum(ends_cols - 1, 0)]
    spans = times_ms[ends_cols] - times_ms[peaks]
    out = np.zeros(k, dtype=np.int64)
    np.maximum.at(out, ends_rows, spans)
    return out


def _trade_stats(sim: Simulation, k: int, times_ms: np.ndarray) -> dict[str, np.ndarray]:
    trades = sim.trades.select(sim.trades.closed)
    rows = trades.row
    count = np.bincount(rows, minlength=k).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        wins = np.bincount(rows, weights=(trades.ret > 0).astype(np.float64), minlength=k)
        gross_profit = np.bincount(rows, weights=np.maximum(trades.pnl, 0.0), minlength=k)
        gross_loss = -np.bincount(rows, weights=np.minimum(trades.pnl, 0.0), minlength=k)
        pnl_mean = np.bincount(rows, weights=trades.pnl, minlength=k) / count
        deviation = trades.pnl - pnl_mean[rows]
        pnl_var = np.bincount(rows, weights=deviation * deviation, minlength=k) / (count - 1)
        pnl_std = np.sqrt(pnl_var)
        durations = (times_ms[trades.exit] - times_ms[trades.entry]).astype(np.float64)
        avg_duration = np.bincount(rows, weights=durations, minlength=k) / count
        return {
            "num_trades": count,
            "win_rate": np.where(count > 0, wins / count, np.nan),
            "profit_factor": np.where(gross_loss > 0, gross_profit / gross_loss, np.nan),
            "expectancy": np.where(
                count > 0, np.bincount(rows, weights=trades.ret, minlength=k) / count, np.nan
            ),
            "sqn": np.where(
                (count > 1) & (pnl_std > 0), np.sqrt(count) * pnl_mean / pnl_std, np.nan
            ),
            "avg_trade_duration_ms": np.where(count > 0, np.round(avg_duration), 0).astype(
                np.int64
            ),
        }
