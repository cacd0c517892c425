"""The driver on real backtests: the GA finds a constructed problem's best SMA pair."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tradestream.optimize.builders import fitness_config, saved, series_from_close, sine_close
from tradestream.optimize.fitness import evaluate_genomes, evaluate_locally
from tradestream.optimize.ga import GAConfig
from tradestream.optimize.genome import make_space
from tradestream.optimize.search import (
    evaluate_out_of_sample,
    plan_searches,
    run_searches,
    tasks_of,
)
from tradestream.optimize.store import load_series
from tradestream.strategies import library

H = 3_600_000


@pytest.fixture(scope="module")
def sine_file(tmp_path_factory):
    # A 120-candle cycle with noise and 0.2% fees: the best pair by Sharpe is interior.
    return saved(series_from_close(sine_close(3000)), tmp_path_factory.mktemp("series"))


def _local(tasks, config):
    return lambda jobs: evaluate_locally(jobs, tasks, config)


def test_search_ga_finds_the_grid_optimum_with_a_fraction_of_the_evaluations(sine_file):
    space = make_space(library.get("SMA_CROSSOVER"), bounds={"fast": (2, 40), "slow": (5, 80)})
    config = fitness_config(min_trades=5)
    (spec,) = plan_searches([space], [sine_file])
    grid = [(f, s) for f in range(2, 41) for s in range(5, 81) if f < s]
    exhaustive = evaluate_genomes(spec.train, load_series(sine_file.path), grid, config)
    ranked = sorted(exhaustive, key=lambda r: -r.fitness)
    best, runner_up = ranked[0], ranked[1]
    assert best.genome == (10, 29) and best.fitness > runner_up.fitness * 1.03  # clearly best

    ga = GAConfig(population=20, generations=15, seed=0)
    (outcome,) = run_searches([spec], ga, _local(tasks_of([spec]), config), batch_size=7)
    assert outcome.best().genome == best.genome
    assert outcome.best().fitness == best.fitness
    assert outcome.evaluations <= 300 < len(grid) / 7  # 20 x 15 at most, of 2,298 pairs


def test_search_plans_folds_and_a_final_search_per_type_and_symbol(tmp_path):
    a = saved(series_from_close(sine_close(600), symbol="AAA"), tmp_path)
    b = saved(series_from_close(sine_close(600), symbol="BBB"), tmp_path)
    spaces = [make_space(library.get("SMA_CROSSOVER")), make_space(library.get("SMA_RSI"))]
    specs = plan_searches(spaces, [a, b], train_ms=4 * H, test_ms=2 * H, mode="rolling")
    keys = [s.key for s in specs]
    assert keys[:4] == [
        "SMA_CROSSOVER|AAA|fold0",
        "SMA_CROSSOVER|AAA|fold1",
        "SMA_CROSSOVER|AAA|fold2",
        "SMA_CROSSOVER|AAA|final",
    ]
    assert len(specs) == 2 * 2 * 4
    final = specs[3]
    assert final.train.window.end_ms == a.end_ms
    assert final.train.window.end_ms - final.train.window.start_ms == 4 * H
    assert set(tasks_of(specs)) == set(keys) | {k + "|test" for k in keys if "fold" in k}
    with pytest.raises(ValueError, match="AAA"):
        plan_searches(spaces, [a], train_ms=9 * H, test_ms=2 * H)
    with pytest.raises(ValueError, match="both --train and --test"):
        plan_searches(spaces, [a], train_ms=4 * H)


def test_search_out_of_sample_backtests_each_folds_best_on_its_test_window(sine_file):
    space = make_space(library.get("SMA_CROSSOVER"), bounds={"fast": (2, 40), "slow": (5, 80)})
    config = fitness_config(min_trades=1)
    specs = plan_searches([space], [sine_file], train_ms=16 * H, test_ms=8 * H)
    tasks = tasks_of(specs)
    outcomes = run_searches(
        specs, GAConfig(population=8, generations=3, seed=1), _local(tasks, config)
    )
    oos = evaluate_out_of_sample(outcomes, _local(tasks, config))
    folds = [o for o in outcomes if o.spec.fold is not None]
    assert len(folds) == 4 and set(oos) == {o.spec.key for o in folds}
    series = load_series(sine_file.path)
    for o in folds:
        test = oos[o.spec.key]
        assert test.genome == o.best().genome and test.task == o.spec.test.key
        (expected,) = evaluate_genomes(o.spec.test, series, [test.genome], config)
        assert test.fitness == expected.fitness
        np.testing.assert_equal(test.metrics, expected.metrics)
