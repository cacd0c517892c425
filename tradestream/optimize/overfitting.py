"""How much of an optimized result is luck: deflated Sharpe ratio and PBO via CSCV.

Both work on per-candle returns r[t] = E[t] / E[t-1] - 1 of the equity curve (as in
:mod:`tradestream.backtest.metrics`), summarised per parameter set as S contiguous *blocks*
of power sums (count, sum r, sum r^2, sum r^3, sum r^4): enough to get the Sharpe ratio of any
union of blocks, and the skewness and kurtosis of the whole window, without keeping curves.

Deflated Sharpe ratio (Bailey & López de Prado, "The Deflated Sharpe Ratio", 2014)
---------------------------------------------------------------------------------
With SR the per-candle Sharpe ratio of the chosen set (not annualized), T its number of
returns, g3 their skewness and g4 their kurtosis (3 for a normal distribution):

    PSR(SR*) = Phi( (SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) )

the probabilistic Sharpe ratio: the probability that the true Sharpe exceeds SR*. The DSR is
PSR(SR0), where SR0 is the Sharpe ratio the best of N unskilled trials is expected to reach:

    SR0 = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e)))

with V the variance of the per-candle Sharpe ratios of the N trials and gamma the
Euler-Mascheroni constant. Here N counts the distinct parameter sets the search evaluated
(with a defined Sharpe). GA trials are correlated, so N overstates the number of independent
trials and the DSR is conservative. With N = 1, SR0 = 0 and DSR = PSR(0).

Probability of backtest overfitting (Bailey, Borwein, López de Prado & Zhu, 2015)
-----------------------------------------------------------------------------------
Combinatorially symmetric cross-validation over the N trials' returns cut into S blocks:
for each of the C(S, S/2) ways to pick half of the blocks as in-sample (IS; the rest are
out-of-sample, OOS), take n* = the trial with the best IS Sharpe, its OOS relative rank
w = rank / (N + 1) among the N OOS Sharpe ratios (rank 1 = worst, ties averaged), and the
logit l = ln(w / (1 - w)). PBO = the fraction of splits with l <= 0: how often the in-sample
winner is at or below the out-of-sample median. Near 0: the selection carries over out of
sample; about 0.5 or more: the choice is no better than picking at random. An undefined
Sharpe (no variance in the blocks) ranks below every defined one and is never picked IS
unless no trial has a defined one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
MOMENTS = 5  # count, sum r, sum r^2, sum r^3, sum r^4
_NORMAL = NormalDist()


# --- returns and blocks ----------------------------------------------------------------------


def candle_returns(equity: np.ndarray, cash: float) -> np.ndarray:
    """(k, n) equity -> (k, n) candle returns (the first against the starting cash).

    After a total loss (equity 0) returns are 0, as in the backtest metrics.
    """
    equity = np.atleast_2d(np.asarray(equity, dtype=np.float64))
    returns = np.empty_like(equity)
    returns[:, 0] = equity[:, 0] / cash
    behind = equity[:, :-1]
    returns[:, 1:] = 1.0
    np.divide(equity[:, 1:], behind, out=returns[:, 1:], where=behind > 0)
    returns -= 1.0
    return returns


def block_edges(n: int, blocks: int) -> np.ndarray:
    """Start index of each of `blocks` contiguous, near-equal blocks of n items (+ n)."""
    if blocks < 1 or n < blocks:
        raise ValueError(f"cannot cut {n} returns into {blocks} blocks")
    return (np.arange(blocks + 1) * n) // blocks


def block_stats(returns: np.ndarray, blocks: int) -> np.ndarray:
    """(k, n) returns -> (k, blocks, 5) power sums per block (module docstring)."""
    returns = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    k, n = returns.shape
    starts = block_edges(n, blocks)[:-1]
    out = np.empty((k, blocks, MOMENTS))
    out[:, :, 0] = np.diff(block_edges(n, blocks))
    power = np.ones_like(returns)
    for p in range(1, MOMENTS):
        power *= returns
        out[:, :, p] = np.add.reduceat(power, starts, axis=1)
    return out


def sharpe_from_sums(sums: np.ndarray) -> np.ndarray:
    """Per-candle Sharpe ratio (std with ddof=1) from (..., >=3) power sums; NaN if undefined."""
    n, s1, s2 = sums[..., 0], sums[..., 1], sums[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        var = (s2 - n * mean * mean) / (n - 1)
        # Below rounding noise of the sums the variance is zero: no Sharpe ratio.
        flat = var <= 1e-14 * np.maximum(s2 / n, np.finfo(float).tiny)
        return np.where((n > 1) & ~flat, mean / np.sqrt(var), np.nan)


@dataclass(frozen=True)
class ReturnMoments:
    """Summary of one parameter set's returns over a whole window."""

    count: int
    sharpe: float  # per candle, NaN when undefined
    skewness: float
    kurtosis: float  # not excess: 3 for a normal distribution


def moments_from_blocks(blocks: np.ndarray) -> ReturnMoments:
    """(S, 5) block sums of one set -> its whole-window moments."""
    n, s1, s2, s3, s4 = np.asarray(blocks, dtype=np.float64).sum(axis=0)
    mean = s1 / n
    e2, e3, e4 = s2 / n, s3 / n, s4 / n
    m2 = e2 - mean**2
    m3 = e3 - 3 * mean * e2 + 2 * mean**3
    m4 = e4 - 4 * mean * e3 + 6 * mean**2 * e2 - 3 * mean**4
    sharpe = float(sharpe_from_sums(np.array([n, s1, s2])))
    if m2 > 1e-14 * max(e2, np.finfo(float).tiny):
        skew, kurt = m3 / m2**1.5, m4 / m2**2
    else:
        skew, kurt = math.nan, math.nan
    return ReturnMoments(int(n), sharpe, float(skew), float(kurt))


# --- deflated Sharpe ratio -------------------------------------------------------------------


def expected_max_sharpe(trials: int, variance: float) -> float:
    """SR0: the expected best Sharpe of `trials` unskilled trials with Sharpe variance V."""
    if trials <= 1 or not variance > 0:
        return 0.0
    a = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    b = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, count: int, skewness: float, kurtosis: float
) -> float:
    """PSR(SR*): the probability that the true per-candle Sharpe exceeds `benchmark`.

    Returns NaN when undefined (fewer than 2 returns, NaN inputs, a non-positive variance
    term).
    """
    values = (sharpe, benchmark, skewness, kurtosis)
    if count < 2 or not all(math.isfinite(v) for v in values):
        return math.nan
    denominator = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not denominator > 0:
        return math.nan
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(count - 1) / math.sqrt(denominator))


@dataclass(frozen=True)
class DeflatedSharpe:
    """The DSR of one chosen set and what went into it (per-candle Sharpe ratios)."""

    sharpe: float
    trials: int
    trials_sharpe_variance: float
    expected_max_sharpe: float  # SR0
    returns: int
    skewness: float
    kurtosis: float
    probabilistic_sharpe_ratio: float  # PSR(0)
    deflated_sharpe_ratio: float  # PSR(SR0)


def deflated_sharpe_ratio(
    moments: ReturnMoments, trial_sharpes: np.ndarray | list[float]
) -> DeflatedSharpe:
    """The DSR of a set with `moments`, chosen among trials with these per-candle Sharpes.

    Args:
        moments: the chosen set's return moments.
        trial_sharpes: the per-candle Sharpe ratio of every trial (NaN ones are left out).
    """
    sharpes = np.asarray(trial_sharpes, dtype=np.float64)
    sharpes = sharpes[np.isfinite(sharpes)]
    trials = int(sharpes.size)
    variance = float(np.var(sharpes, ddof=1)) if trials > 1 else 0.0
    sr0 = expected_max_sharpe(trials, variance)
    args = (moments.count, moments.skewness, moments.kurtosis)
    return DeflatedSharpe(
        sharpe=moments.sharpe,
        trials=trials,
        trials_sharpe_variance=variance,
        expected_max_sharpe=sr0,
        returns=moments.count,
        skewness=moments.skewness,
        kurtosis=moments.kurtosis,
        probabilistic_sharpe_ratio=probabilistic_sharpe_ratio(moments.sharpe, 0.0, *args),
        deflated_sharpe_ratio=probabilistic_sharpe_ratio(moments.sharpe, sr0, *args),
    )


# --- probability of backtest overfitting -------------------------------------------------------


@dataclass(frozen=True)
class BacktestOverfitting:
    """PBO of a selection among N trials by CSCV over S blocks."""

    pbo: float
    trials: int
    blocks: int
    splits: int
    logits: np.ndarray  # one per split

    @property
    def logit_median(self) -> float:
        return float(np.median(self.logits))


def _worst_if_nan(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), -np.inf, values)


def _average_ranks_of(chosen: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row: the 1-based rank of values[row, chosen[row]] in its row, ties averaged."""
    pick = values[np.arange(values.shape[0]), chosen][:, None]
    below = (values < pick).sum(axis=1)
    ties = (values == pick).sum(axis=1)  # includes the chosen one
    return below + (ties + 1) / 2.0


def pbo_cscv(blocks: np.ndarray, chunk: int = 512) -> BacktestOverfitting:
    """PBO of picking the best in-sample Sharpe among N trials (module docstring).

    Args:
        blocks: (N, S, >=3) block power sums of the N trials, S even.
        chunk: splits processed at once (bounds memory to ~chunk * N * 16 bytes).

    Raises:
        ValueError: fewer than 2 trials, or S odd or < 2.
    """
    blocks = np.asarray(blocks, dtype=np.float64)
    trials, count = blocks.shape[0], blocks.shape[1]
    if trials < 2:
        raise ValueError("PBO needs at least 2 trials")
    if count < 2 or count % 2:
        raise ValueError(f"CSCV needs an even number of blocks >= 2, got {count}")
    sums = blocks[:, :, :3]  # (N, S, 3)
    total = sums.sum(axis=1)  # (N, 3)
    by_block = np.ascontiguousarray(sums.transpose(1, 0, 2).reshape(count, trials * 3))
    combos = np.array(list(itertools.combinations(range(count), count // 2)), dtype=np.int64)
    logits = np.empty(combos.shape[0])
    for first in range(0, combos.shape[0], chunk):
        part = combos[first : first + chunk]
        mask = np.zeros((part.shape[0], count))
        mask[np.arange(part.shape[0])[:, None], part] = 1.0
        inside = (mask @ by_block).reshape(part.shape[0], trials, 3)
        outside = total[None, :, :] - inside
        is_sharpe = _worst_if_nan(sharpe_from_sums(inside))
        oos_sharpe = _worst_if_nan(sharpe_from_sums(outside))
        chosen = np.argmax(is_sharpe, axis=1)  # the first best on ties
        omega = _average_ranks_of(chosen, oos_sharpe) / (trials + 1)
        logits[first : first + chunk] = np.log(omega / (1.0 - omega))
    return BacktestOverfitting(
        pbo=float(np.mean(logits <= 0)),
        trials=trials,
        blocks=count,
        splits=int(combos.shape[0]),
        logits=logits,
    )


def pbo_from_returns(returns: np.ndarray, blocks: int = 16) -> BacktestOverfitting:
    """PBO from a (T, N) matrix of returns (one column per trial), as in the paper."""
    stats = block_stats(np.asarray(returns, dtype=np.float64).T, blocks)
    return pbo_cscv(stats)
