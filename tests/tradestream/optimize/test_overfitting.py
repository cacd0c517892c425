"""Deflated Sharpe ratio and PBO (CSCV) on published and constructed cases."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from tradestream.optimize.overfitting import (
    block_stats,
    candle_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    moments_from_blocks,
    pbo_cscv,
    pbo_from_returns,
    probabilistic_sharpe_ratio,
    sharpe_from_sums,
)

PHI = NormalDist().cdf


def test_dsr_reproduces_the_papers_example():
    # Bailey & Lopez de Prado (2014), section 5: annualized SR 2.5 on 5 years of daily data
    # (T = 1250), 100 trials whose annualized SRs have variance 0.5, skew -3, kurtosis 10.
    sr, variance = 2.5 / math.sqrt(250), 0.5 / 250
    sr0 = expected_max_sharpe(100, variance)
    assert sr0 == pytest.approx(0.1132, abs=1e-4)  # the paper's SR0, per day
    assert probabilistic_sharpe_ratio(sr, sr0, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=1e-4)


def test_psr_matches_a_hand_computation():
    expected = PHI(0.1 * math.sqrt(100) / math.sqrt(1 + (3 - 1) / 4 * 0.01))
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101, 0.0, 3.0) == pytest.approx(expected)
    assert math.isnan(probabilistic_sharpe_ratio(0.1, 0.0, 1, 0.0, 3.0))


def test_dsr_single_trial_is_psr_of_zero_and_more_trials_deflate_more():
    rng = np.random.default_rng(0)
    returns = 0.001 + 0.01 * rng.standard_normal(2000)
    moments = moments_from_blocks(block_stats(returns, 8)[0])
    one = deflated_sharpe_ratio(moments, [moments.sharpe])
    assert one.expected_max_sharpe == 0.0
    assert one.deflated_sharpe_ratio == pytest.approx(one.probabilistic_sharpe_ratio)
    trials = 0.02 * rng.standard_normal(10)
    many = 0.02 * rng.standard_normal(1000)
    few_dsr = deflated_sharpe_ratio(moments, trials).deflated_sharpe_ratio
    many_dsr = deflated_sharpe_ratio(moments, many).deflated_sharpe_ratio
    assert many_dsr < few_dsr < one.deflated_sharpe_ratio


def test_moments_from_blocks_match_direct_computation():
    rng = np.random.default_rng(1)
    r = rng.standard_t(4, 997) * 0.01 + 0.0005
    m = moments_from_blocks(block_stats(r, 16)[0])
    centered = r - r.mean()
    m2 = np.mean(centered**2)
    assert m.count == 997
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-9)
    assert m.skewness == pytest.approx(np.mean(centered**3) / m2**1.5, rel=1e-6)
    assert m.kurtosis == pytest.approx(np.mean(centered**4) / m2**2, rel=1e-6)


def test_block_stats_cut_returns_into_near_equal_blocks():
    r = np.arange(10, dtype=float)[None, :]
    stats = block_stats(r, 4)
    assert stats[0, :, 0].tolist() == [2, 3, 2, 3]
    assert stats[0, :, 1].tolist() == [1, 9, 11, 24]
    assert stats[0, :, 2].sum() == pytest.approx(np.sum(r**2))
    with pytest.raises(ValueError):
        block_stats(r, 11)


def test_candle_returns_start_from_cash_and_stay_zero_after_ruin():
    returns = candle_returns(np.array([[110.0, 121.0, 0.0, 0.0]]), 100.0)
    assert returns[0].tolist() == pytest.approx([0.1, 0.1, -1.0, 0.0])


def test_sharpe_from_sums_is_undefined_without_variance():
    assert math.isnan(sharpe_from_sums(np.array([5.0, 0.0, 0.0])))
    assert math.isnan(sharpe_from_sums(np.array([4.0, 0.4, 0.04])))  # four returns of 0.1


def _two_blocks(first, second):
    return np.concatenate([first, second])


def test_pbo_hand_computed_two_trials_two_blocks():
    up = np.array([0.03, 0.01, 0.02, 0.04])
    down = np.array([-0.01, 0.01, -0.02, 0.0])
    # A wins the first half and loses the second; B the opposite: whichever half is
    # in-sample, its winner is the out-of-sample loser (rank 1 of 2, w = 1/3).
    a, b = _two_blocks(up, down), _two_blocks(down, up)
    result = pbo_from_returns(np.column_stack([a, b]), blocks=2)
    assert result.splits == 2
    assert result.logits == pytest.approx([math.log(0.5), math.log(0.5)])
    assert result.pbo == 1.0
    # A better in both halves: always picked, always first out of sample (w = 2/3).
    steady = pbo_from_returns(np.column_stack([_two_blocks(up, up), _two_blocks(down, down)]), 2)
    assert steady.logits == pytest.approx([math.log(2), math.log(2)])
    assert steady.pbo == 0.0


def test_pbo_is_zero_when_one_configuration_dominates_every_split():
    rng = np.random.default_rng(7)
    returns = 0.01 * rng.standard_normal((1600, 30))
    returns[:, 4] = 0.004 + 0.001 * rng.standard_normal(1600)
    result = pbo_from_returns(returns, blocks=16)
    assert result.splits == 12870 and result.trials == 30
    assert result.pbo == 0.0
    assert result.logit_median == pytest.approx(math.log(30))  # rank 30 of 30, w = 30/31


def test_pbo_is_about_one_half_for_pure_noise():
    values = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        values.append(pbo_from_returns(0.01 * rng.standard_normal((1000, 40)), blocks=10).pbo)
    assert 0.3 < np.mean(values) < 0.7
    assert all(0.1 < v < 0.9 for v in values)


def test_pbo_needs_two_trials_and_an_even_number_of_blocks():
    with pytest.raises(ValueError):
        pbo_cscv(np.ones((1, 4, 5)))
    with pytest.raises(ValueError):
        pbo_cscv(np.ones((3, 5, 5)))
