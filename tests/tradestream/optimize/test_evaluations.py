"""evaluations.json: every distinct genome of every search once, with its fitness and generation."""

from __future__ import annotations

import json
import math

import pytest

from tests.tradestream.optimize.builders import (
    FakeFitness,
    fitness_config,
    saved,
    series_from_close,
    sine_close,
)
from tradestream.optimize.fitness import evaluate_locally
from tradestream.optimize.ga import GAConfig
from tradestream.optimize.genome import make_space
from tradestream.optimize.outputs import history_json, write_evaluations
from tradestream.optimize.search import plan_searches, run_searches, tasks_of
from tradestream.strategies import library

H = 3_600_000
GENERATIONS = 5


def _bumpy(genome) -> float:
    """A made-up fitness with a guarded region (-inf), as the min-trades guard gives."""
    fast, slow = genome
    if slow - fast > 60:
        return -math.inf
    return -((fast - 9) ** 2) - 0.1 * (slow - 30) ** 2 + 0.01 * ((fast * 7 + slow * 13) % 11)


class Recording:
    """Wraps an `evaluate`: which generation (call) first asked for each (task, genome)."""

    def __init__(self, evaluate) -> None:
        self._evaluate = evaluate
        self.calls = 0
        self.first_call: dict[tuple[str, tuple], int] = {}
        self.asked = 0

    def __call__(self, jobs):
        for job in jobs:
            for genome in job.genomes:
                self.asked += 1
                self.first_call.setdefault((job.task, tuple(genome)), self.calls)
        self.calls += 1
        return self._evaluate(jobs)


@pytest.fixture(scope="module")
def series_file(tmp_path_factory):
    return saved(series_from_close(sine_close(1800)), tmp_path_factory.mktemp("series"))


def _run(series_file, tmp_path, shuffle_seed: int, batch_size: int):
    space = make_space(library.get("SMA_CROSSOVER"), bounds={"fast": (2, 40), "slow": (5, 80)})
    specs = plan_searches([space], [series_file], train_ms=12 * H, test_ms=6 * H)
    recording = Recording(FakeFitness(_bumpy, shuffle_seed=shuffle_seed))
    ga = GAConfig(population=12, generations=GENERATIONS, seed=4)
    outcomes = run_searches(specs, ga, recording, batch_size=batch_size)
    path = write_evaluations(str(tmp_path), outcomes, "sharpe")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    return outcomes, recording, json.loads(text), text


def test_evaluations_list_each_genome_asked_for_once_with_its_first_generation(
    series_file, tmp_path
):
    outcomes, recording, document, _ = _run(series_file, tmp_path, shuffle_seed=1, batch_size=5)
    assert recording.calls == GENERATIONS  # one evaluation per generation, as the GA runs it
    records = document["evaluations"]
    # Every genome asked of the evaluator appears once; the cache never asks twice.
    assert recording.asked == len(recording.first_call) == len(records)
    seen = {(r["search"], (r["params"]["fast"], r["params"]["slow"])) for r in records}
    assert seen == set(recording.first_call)
    history = {s["search"]: s for s in history_json(outcomes)["searches"]}
    for search in document["searches"]:
        mine = [r for r in records if r["search"] == search["search"]]
        generations = history[search["search"]]["generations"]
        assert len(mine) == search["evaluations"] == history[search["search"]]["evaluations"]
        assert len(mine) == sum(g["evaluated"] for g in generations)
        for generation in generations:  # the per-generation counts agree too
            first = [r for r in mine if r["generation"] == generation["generation"]]
            assert len(first) == generation["evaluated"]
    for record in records:
        genome = (record["params"]["fast"], record["params"]["slow"])
        assert record["generation"] == recording.first_call[(record["search"], genome)]


def test_evaluations_hold_each_genomes_fitness_and_search_identity(series_file, tmp_path):
    outcomes, _, document, _ = _run(series_file, tmp_path, shuffle_seed=1, batch_size=5)
    assert document["objective"] == "sharpe"
    searches = {s["search"]: s for s in document["searches"]}
    assert [s["fold"] for s in document["searches"]] == [1, 2, 3, None]
    assert searches["SMA_CROSSOVER|SYN|final"]["genes"] == [
        {"name": "fast", "kind": "int", "low": 2, "high": 40},
        {"name": "slow", "kind": "int", "low": 5, "high": 80},
    ]
    guarded = 0
    for record in document["evaluations"]:
        search = searches[record["search"]]
        assert (record["strategy"], record["symbol"]) == ("SMA_CROSSOVER", "SYN")
        assert record["fold"] == search["fold"]
        expected = _bumpy((record["params"]["fast"], record["params"]["slow"]))
        if math.isfinite(expected):
            assert record["fitness"] == expected
        else:
            assert record["fitness"] is None  # -inf is null in strict JSON
            guarded += 1
    assert guarded > 0  # the guarded region was visited, and is listed too
    assert sum(o.evaluations for o in outcomes) == len(document["evaluations"])


def test_evaluations_are_in_generation_order_and_the_same_for_a_seed(series_file, tmp_path):
    _, _, document, text = _run(series_file, tmp_path / "a", shuffle_seed=1, batch_size=5)
    _, _, _, again = _run(series_file, tmp_path / "b", shuffle_seed=9, batch_size=3)
    assert text == again  # arrival order and batching do not show
    for search in document["searches"]:
        mine = [r["generation"] for r in document["evaluations"] if r["search"] == search["search"]]
        assert mine == sorted(mine) and mine[0] == 0
    lines = [line for line in text.splitlines() if '"generation"' in line]
    assert [json.loads(line.rstrip(",")) for line in lines] == document["evaluations"]  # 1/line


def test_evaluations_of_real_backtests_carry_objective_and_metrics(series_file, tmp_path):
    space = make_space(library.get("SMA_CROSSOVER"), bounds={"fast": (2, 30), "slow": (5, 60)})
    config = fitness_config(objective="sortino", min_trades=4)
    (spec,) = plan_searches([space], [series_file])
    tasks = tasks_of([spec])
    (outcome,) = run_searches(
        [spec],
        GAConfig(population=6, generations=2, seed=0),
        lambda jobs: evaluate_locally(jobs, tasks, config),
    )
    path = write_evaluations(str(tmp_path), [outcome], config.objective)
    with open(path, encoding="utf-8") as fh:
        document = json.load(fh)
    records = document["evaluations"]
    assert len(records) == outcome.evaluations
    # 1,800 one-minute candles: 1.25 days, too short to annualize (Sharpe withheld).
    [search] = document["searches"]
    assert search["annualized_omitted"].startswith("the sample spans 1.25 days, under the 30")
    for record in records:
        result = outcome.trials[(record["params"]["fast"], record["params"]["slow"])]
        trades = result.metrics["num_trades"]
        assert record["metrics"]["num_trades"] == trades
        assert record["metrics"]["total_return"] == result.metrics["total_return"]
        assert record["metrics"]["sharpe"] is None
        # objective: the plain sortino; fitness: the same, or null under the guard.
        sortino = result.metrics["sortino"]
        if math.isfinite(sortino):
            assert record["objective"] == pytest.approx(sortino)
        else:
            assert record["objective"] is None
        assert record["fitness"] == (record["objective"] if trades >= 4 else None)
