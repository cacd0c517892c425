"""Fitness is the backtest: same metrics as the backtest transforms, as a Beam transform too."""

from __future__ import annotations

import math

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.tradestream.optimize.builders import (
    fitness_config,
    saved,
    series_from_close,
    sine_close,
    task,
)
from tradestream.backtest.chunks import chunk_results, simulate_chunk
from tradestream.backtest.engine import simulate
from tradestream.backtest.metrics import compute_metrics
from tradestream.optimize.fitness import (
    FitnessJob,
    FitnessResult,
    evaluate_genomes,
    evaluate_locally,
    plan_jobs,
)
from tradestream.optimize.genome import make_space
from tradestream.optimize.objectives import objective_values
from tradestream.optimize.store import load_series
from tradestream.optimize.walk_forward import Window
from tradestream.strategies import library
from tradestream.strategies.vectorized import evaluate_vectorized
from tradestream.transforms.optimize.evaluate_fitness import EvaluateFitness

SMA = library.get("SMA_CROSSOVER")
GENOMES = [(3, 12), (5, 20), (10, 30), (12, 48), (20, 21)]


@pytest.fixture(scope="module")
def series_file(tmp_path_factory):
    return saved(series_from_close(sine_close(1500)), tmp_path_factory.mktemp("series"))


def test_fitness_metrics_equal_the_backtest_on_the_whole_series(series_file):
    space = make_space(SMA)
    series = load_series(series_file.path)
    config = fitness_config(min_trades=0)
    results = evaluate_genomes(task(space, series_file), series, GENOMES, config)
    strategies = [space.build(g) for g in GENOMES]
    backtest = chunk_results(simulate_chunk(series, strategies, config.execution), config.execution)
    for result, expected in zip(results, backtest, strict=True):
        assert result.metrics["sharpe"] == pytest.approx(expected.metrics.sharpe, rel=1e-12)
        assert result.metrics["num_trades"] == expected.metrics.num_trades
        assert result.metrics["final_equity"] == pytest.approx(expected.metrics.final_equity)
        assert result.fitness == pytest.approx(expected.metrics.sharpe, rel=1e-12)
        assert result.blocks.shape == (16, 5) and result.blocks[:, 0].sum() == len(series)


def test_fitness_on_a_window_trades_only_inside_it_with_warmed_up_indicators(series_file):
    space = make_space(SMA)
    series = load_series(series_file.path)
    first, stop = 400, 1100
    window = Window(int(series.start_ms[first]), int(series.start_ms[stop]))
    config = fitness_config(objective="weighted", min_trades=3)
    results = evaluate_genomes(task(space, series_file, window), series, GENOMES, config)
    # SMA has a finite memory: whole-series signals cut to the window are the reference.
    strategies = [space.build(g) for g in GENOMES]
    actions = evaluate_vectorized(strategies, series.arrays())
    signals = np.stack([actions[s.strategy_id][first:stop] for s in strategies])
    close = series.close[first:stop]
    sim = simulate(signals, series.open[first:stop], close, config.execution)
    metrics = compute_metrics(sim, series.start_ms[first:stop], 60_000, close, 525_600)
    expected = objective_values("weighted", metrics, 3)
    for row, result in enumerate(results):
        assert result.metrics == pytest.approx(metrics.values(row), rel=1e-12, nan_ok=True)
        assert result.fitness == pytest.approx(expected[row], rel=1e-12)


def test_fitness_of_a_genome_does_not_depend_on_its_batch(series_file):
    space = make_space(SMA)
    series = load_series(series_file.path)
    config = fitness_config()
    alone = [evaluate_genomes(task(space, series_file), series, [g], config)[0] for g in GENOMES]
    together = evaluate_genomes(task(space, series_file), series, GENOMES[::-1], config)[::-1]
    for a, b in zip(alone, together, strict=True):
        assert a.fitness == b.fitness
        np.testing.assert_equal(a.metrics, b.metrics)
        np.testing.assert_array_equal(a.blocks, b.blocks)


def test_fitness_too_short_window_is_the_worst_fitness(series_file):
    space = make_space(SMA)
    window = Window(series_file.first_ms, series_file.first_ms + 60_000)
    (result,) = evaluate_genomes(
        task(space, series_file, window), load_series(series_file.path), [(5, 20)], fitness_config()
    )
    assert result.fitness == -math.inf and result.metrics == {} and result.blocks is None


def test_fitness_transform_gives_the_same_results_as_local_evaluation(series_file):
    space = make_space(SMA)
    tasks = {"t": task(space, series_file)}
    config = fitness_config()
    jobs = plan_jobs({"t": GENOMES}, batch_size=2)
    expected = [r.to_json() for r in evaluate_locally(jobs, tasks, config)]
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(jobs)
            | EvaluateFitness(tasks, config)
            | beam.Map(lambda r: FitnessResult.from_json(r.to_json()).to_json())
        )
        assert_that(out, equal_to(expected))


def test_fitness_jobs_are_batches_in_a_fixed_order():
    jobs = plan_jobs({"b": [(1,), (2,), (1,), (3,)], "a": [(9,)]}, batch_size=2)
    assert jobs == [
        FitnessJob("a", ((9,),)),
        FitnessJob("b", ((1,), (2,))),
        FitnessJob("b", ((3,),)),
    ]
    with pytest.raises(ValueError):
        plan_jobs({}, 0)


def test_fitness_series_file_round_trips(series_file):
    series = load_series(series_file.path)
    assert series.symbol == "SYN" and len(series) == series_file.candles == 1500
    assert series.interval_ms == 60_000 and series_file.end_ms == int(series.start_ms[-1]) + 60_000
