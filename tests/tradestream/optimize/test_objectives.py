"""Objectives: the metric itself, the weighted score (hand-computed), the guards."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest

from tradestream.backtest.metrics import MetricArrays
from tradestream.optimize.objectives import objective_values, weighted_score


def _metrics(**values) -> MetricArrays:
    base = {f.name: 0.0 for f in fields(MetricArrays)}
    base.update(num_trades=10, win_rate=0.5, profit_factor=1.0)
    base.update(values)
    return MetricArrays(
        **{k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in base.items()}
    )


def test_objective_plain_metrics_are_the_metric():
    m = _metrics(sharpe=[1.5, -0.2], sortino=[2.0, 1.0], calmar=[3.0, 0.1], total_return=[0.1, 0.2])
    assert objective_values("sharpe", m).tolist() == [1.5, -0.2]
    assert objective_values("sortino", m).tolist() == [2.0, 1.0]
    assert objective_values("calmar", m).tolist() == [3.0, 0.1]
    assert objective_values("total_return", m).tolist() == [0.1, 0.2]


def test_objective_weighted_score_matches_a_hand_computation():
    m = _metrics(sharpe=2.0, max_drawdown=-0.25, win_rate=0.6, cagr=0.5, profit_factor=3.0)
    expected = (
        0.25 * (1 + math.tanh(1.0)) / 2
        + 0.20 * 0.75
        + 0.20 * 0.6
        + 0.20 * (1 + math.tanh(0.5)) / 2
        + 0.15 * 0.75
    )
    assert weighted_score(m)[0] == pytest.approx(expected, rel=1e-12)
    assert objective_values("weighted", m)[0] == pytest.approx(expected, rel=1e-12)


def test_objective_weighted_score_is_bounded_and_ordered():
    m = _metrics(
        sharpe=[-50, 0, 50], max_drawdown=[-1, -0.5, 0], win_rate=[0, 0.5, 1],
        cagr=[-1, 0, 1e9], profit_factor=[0, 1, 1e9],
    )  # fmt: skip
    score = weighted_score(m)
    assert score[0] == pytest.approx(0.2 * (1 + math.tanh(-1)) / 2, abs=1e-9)
    assert score[2] == pytest.approx(1.0, abs=1e-9)
    assert score[0] < score[1] < score[2]


def test_objective_weighted_undefined_terms_count_zero_or_one():
    no_trades = _metrics(sharpe=np.nan, win_rate=np.nan, profit_factor=np.nan, num_trades=0)
    all_wins = _metrics(sharpe=1.0, win_rate=1.0, profit_factor=np.nan, num_trades=3)
    terms_no = weighted_score(no_trades)[0]
    assert terms_no == pytest.approx(0.20 * 1.0 + 0.20 * 0.5)  # drawdown 0, cagr 0
    assert weighted_score(all_wins)[0] == pytest.approx(
        0.25 * (1 + math.tanh(0.5)) / 2 + 0.20 + 0.20 + 0.20 * 0.5 + 0.15
    )


def test_objective_min_trades_and_undefined_values_give_the_worst_fitness():
    m = _metrics(sharpe=[2.0, 2.0, np.nan], num_trades=[4, 5, 9])
    assert objective_values("sharpe", m, min_trades=5).tolist() == [-math.inf, 2.0, -math.inf]
    assert objective_values("weighted", m, min_trades=5)[0] == -math.inf
    with pytest.raises(ValueError, match="objective must be one of"):
        objective_values("profit", m)
