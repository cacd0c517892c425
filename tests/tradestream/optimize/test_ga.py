"""The genetic algorithm and its driver on fake fitness functions: optimum, seeds, cache, stop."""

from __future__ import annotations

import math
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tradestream.optimize.builders import FakeFitness
from tradestream.optimize.fitness import FitnessTask
from tradestream.optimize.ga import GAConfig, GeneticSearch
from tradestream.optimize.genome import make_space
from tradestream.optimize.search import SearchSpec, run_searches
from tradestream.optimize.walk_forward import Window
from tradestream.strategies import library

SMA = library.get("SMA_CROSSOVER")


def _spec(space, key="SMA|SYN|final"):
    task = FitnessTask(key, space, "SYN", "unused.npz", Window(0, 1))
    return SearchSpec(key, space, "SYN", task)


def _bowl(genome):
    """A smooth landscape whose only optimum is fast=17, slow=63."""
    fast, slow = genome
    return -((fast - 17) ** 2) - 0.25 * (slow - 63) ** 2


def _run(space, config, fitness, key="SMA|SYN|final"):
    return run_searches([_spec(space, key)], config, fitness)[0]


def test_ga_finds_the_known_optimum_in_few_evaluations():
    space = make_space(SMA)  # 100 x 298 values, about 25,000 valid pairs
    fitness = FakeFitness(_bowl)
    outcome = _run(space, GAConfig(population=30, generations=25, seed=3), fitness)
    assert outcome.best().genome == (17, 63)
    assert outcome.evaluations <= 30 * 25  # a few percent of the space


def test_ga_same_seed_same_result_whatever_the_result_order():
    space = make_space(SMA)
    config = GAConfig(population=12, generations=6, seed=11)
    first = _run(space, config, FakeFitness(_bowl))
    second = _run(space, config, FakeFitness(_bowl, shuffle_seed=99))
    assert [r.stats for r in first.history] == [r.stats for r in second.history]
    assert first.trials.keys() == second.trials.keys()
    other = _run(space, GAConfig(population=12, generations=6, seed=12), FakeFitness(_bowl))
    assert other.trials.keys() != first.trials.keys()


def test_ga_searches_with_different_keys_draw_different_populations():
    space = make_space(SMA)
    config = GAConfig(population=10, generations=1, seed=1)
    a = GeneticSearch("SMA|BTC-USD|final", space, config).start()
    b = GeneticSearch("SMA|ETH-USD|final", space, config).start()
    assert a[0] == b[0] == (10, 30)  # the defaults come first
    assert a[1:] != b[1:]


def test_ga_cache_never_evaluates_a_genome_twice():
    space = make_space(SMA, bounds={"fast": (2, 8), "slow": (3, 10)})  # 42 valid pairs
    fitness = FakeFitness(_bowl)
    outcome = _run(space, GAConfig(population=10, generations=12, seed=5), fitness)
    assert len(fitness.asked) == len(set(fitness.asked)) == outcome.evaluations
    assert outcome.evaluations <= 42
    cached = sum(r.cached for r in outcome.history)
    assert cached == 10 * len(outcome.history) - outcome.evaluations
    assert outcome.history[-1].cached > 0


def test_ga_early_stop_after_generations_without_improvement():
    space = make_space(SMA)
    fitness = FakeFitness(lambda genome: 1.0)  # nothing ever improves on generation 0
    outcome = _run(space, GAConfig(population=6, generations=50, seed=0, early_stop=3), fitness)
    assert outcome.search.stopped_early
    assert len(outcome.history) == 4  # generation 0, then 3 without improvement
    assert [r.stats.improved for r in outcome.history] == [True, False, False, False]
    no_stop = _run(space, GAConfig(population=6, generations=5, seed=0), FakeFitness(lambda g: 1))
    assert len(no_stop.history) == 5 and not no_stop.search.stopped_early


def test_ga_elites_survive_into_the_next_generation():
    space = make_space(SMA)
    search = GeneticSearch("k", space, GAConfig(population=8, generations=3, seed=2, elite=2))
    population = search.start()
    fitness = {g: _bowl(g) for g in population}
    top = sorted(population, key=lambda g: -fitness[g])[:2]
    search.tell(fitness)
    assert search.population[:2] == top
    assert len(search.population) == len(set(search.population)) == 8


def test_ga_worst_fitness_genomes_are_handled():
    space = make_space(SMA)
    fitness = FakeFitness(lambda g: -math.inf if g[0] % 2 else _bowl(g))
    outcome = _run(space, GAConfig(population=10, generations=5, seed=4), fitness)
    assert math.isfinite(outcome.best().fitness) and outcome.best().genome[0] % 2 == 0
    assert all(math.isfinite(r.stats.mean) for r in outcome.history)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"population": 1},
        {"generations": 0},
        {"elite": 30},
        {"tournament": 0},
        {"crossover_rate": 1.5},
        {"mutation_rate": -0.1},
        {"mutation_scale": 0},
        {"early_stop": -1},
        {"seed": -1},
    ],
)
def test_ga_config_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        GAConfig(**kwargs)


def _hashed(genome) -> float:
    return zlib.crc32(repr(genome).encode()) / 2**32


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(
        ["SMA_CROSSOVER", "TRIPLE_EMA_CROSSOVER", "KST_OSCILLATOR", "PARABOLIC_SAR", "FRAMA"]
    ),
    seed=st.integers(0, 10_000),
    population=st.integers(2, 12),
    lows=st.tuples(st.floats(0, 0.5), st.floats(0.5, 1)),
)
def test_ga_every_individual_respects_bounds_and_constraints(name, seed, population, lows):
    stype = library.get(name)
    first = stype.params[0]
    span = first.high - first.low
    low, high = first.low + lows[0] * span, first.low + lows[1] * span
    if first.kind == "int":
        low, high = math.ceil(low), math.floor(high)
    try:
        space = make_space(stype, bounds={first.name: (low, high)})
    except ValueError:
        return  # bounds that leave no valid genome are rejected up front
    fitness = FakeFitness(_hashed)
    config = GAConfig(population=population, generations=4, seed=seed, elite=1)
    outcome = _run(space, config, fitness)
    assert fitness.asked
    for _, genome in fitness.asked:
        assert space.valid(genome)
        assert low <= genome[0] <= high
    assert outcome.search.population and all(space.valid(g) for g in outcome.search.population)
