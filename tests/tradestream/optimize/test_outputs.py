"""best.json entries: ranking, DSR/PBO of the final search, walk-forward rows; StrategySets."""

from __future__ import annotations

import json

import pytest

from tests.tradestream.optimize.builders import fitness_config, saved, series_from_close, sine_close
from tradestream.backtest.metrics import ANNUALIZED_METRICS
from tradestream.optimize.fitness import evaluate_locally
from tradestream.optimize.ga import GAConfig
from tradestream.optimize.genome import make_space
from tradestream.optimize.outputs import best_entries, console_summary
from tradestream.optimize.overfitting import deflated_sharpe_ratio, moments_from_blocks, pbo_cscv
from tradestream.optimize.search import (
    evaluate_out_of_sample,
    plan_searches,
    run_searches,
    tasks_of,
)
from tradestream.optimize.strategy_sets import strategy_sets
from tradestream.strategies import library

H = 3_600_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("series")
    files = [saved(series_from_close(sine_close(1800, seed=s), symbol=n), directory)
             for s, n in ((1, "AAA"), (2, "BBB"))]  # fmt: skip
    space = make_space(library.get("SMA_CROSSOVER"), bounds={"fast": (2, 40), "slow": (5, 80)})
    config = fitness_config(min_trades=3)
    specs = plan_searches([space], files, train_ms=12 * H, test_ms=6 * H, mode="anchored")
    tasks = tasks_of(specs)
    evaluate = lambda jobs: evaluate_locally(jobs, tasks, config)  # noqa: E731
    outcomes = run_searches(specs, GAConfig(population=10, generations=3, seed=2), evaluate)
    oos = evaluate_out_of_sample(outcomes, evaluate)
    return outcomes, oos, best_entries(outcomes, oos, config, top=3, mode="anchored")


def test_outputs_entries_are_the_best_of_each_final_search_best_first(run):
    outcomes, _, entries = run
    assert len(entries) == 6 and [e["rank"] for e in entries] == list(range(1, 7))
    fitness = [e["fitness"] for e in entries]
    assert fitness == sorted(fitness, reverse=True)
    for symbol in ("AAA", "BBB"):
        final = next(o for o in outcomes if o.spec.fold is None and o.spec.symbol == symbol)
        mine = [e for e in entries if e["symbol"] == symbol]
        assert [e["fitness"] for e in mine] == [r.fitness for r in final.ranked()[:3]]
    json.dumps(entries, allow_nan=False)


def test_outputs_dsr_and_pbo_come_from_the_final_searchs_trials(run):
    outcomes, _, entries = run
    entry = entries[0]
    final = next(o for o in outcomes if o.spec.fold is None and o.spec.symbol == entry["symbol"])
    trials = [r for r in final.ranked() if r.blocks is not None]
    chosen = next(r for r in trials if final.spec.space.build(r.genome).strategy_id
                  == entry["strategy_id"])  # fmt: skip
    dsr = deflated_sharpe_ratio(
        moments_from_blocks(chosen.blocks), [moments_from_blocks(r.blocks).sharpe for r in trials]
    )
    over = entry["overfitting"]
    assert over["deflated_sharpe_ratio"] == pytest.approx(dsr.deflated_sharpe_ratio)
    assert over["trials"] == final.evaluations
    assert over["pbo"] == pytest.approx(pbo_cscv([r.blocks for r in trials]).pbo)


def test_outputs_walk_forward_rows_put_in_and_out_of_sample_side_by_side(run):
    outcomes, oos, entries = run
    walk = entries[0]["walk_forward"]
    assert walk["mode"] == "anchored"
    folds = [
        o for o in outcomes if o.spec.fold is not None and o.spec.symbol == entries[0]["symbol"]
    ]
    assert len(walk["folds"]) == len(folds) == 3
    for row, outcome in zip(walk["folds"], folds, strict=True):
        assert row["train"]["start"] == walk["folds"][0]["train"]["start"]  # anchored
        assert row["in_sample"]["fitness"] == outcome.best().fitness
        test = oos[outcome.spec.key]
        assert row["out_of_sample"]["metrics"]["num_trades"] == test.metrics["num_trades"]
        assert row["out_of_sample"]["objective"] == pytest.approx(test.metrics["sharpe"])
        if test.metrics["num_trades"] < 3:  # the guard ranks it last: -inf, null in JSON
            assert row["out_of_sample"]["fitness"] is None
        assert row["params"] == outcome.spec.space.params(outcome.best().genome)
    growth = 1.0
    for row in walk["folds"]:
        growth *= 1 + row["out_of_sample"]["metrics"]["total_return"]
    assert walk["summary"]["out_of_sample_total_return"] == pytest.approx(growth - 1)
    assert "walk-forward (anchored, 3 folds)" in console_summary(entries)


def test_outputs_strategy_sets_group_entries_by_symbol(run):
    _, _, entries = run
    sets = strategy_sets(entries, created_ms=123)
    assert set(sets) == {"AAA", "BBB"}
    for symbol, message in sets.items():
        assert message.source == "optimize" and message.created_ms == 123
        expected = [e["strategy_id"] for e in entries if e["symbol"] == symbol]
        assert [s.strategy_id for s in message.strategies] == expected


def test_outputs_windows_under_30_days_withhold_annualized_metrics(run):
    _, _, entries = run
    for entry in entries:
        # 1,800 one-minute candles (1.25 days); anchored folds of 12 h and more, tests of 6 h
        assert entry["annualized_omitted"].startswith("the sample spans 1.25 days, under the 30")
        assert [entry["metrics"][k] for k in ANNUALIZED_METRICS] == [None] * 5
        assert entry["metrics"]["total_return"] is not None and entry["fitness"] is not None
        walk = entry["walk_forward"]
        for row in walk["folds"]:
            assert row["in_sample"]["metrics"]["sharpe"] is None
            assert row["out_of_sample"]["metrics"]["cagr"] is None
            assert row["out_of_sample"]["annualized_omitted"].startswith(
                "the sample spans 0.25 days"
            )
        summary = walk["summary"]
        assert summary["in_sample_sharpe_mean"] is None
        assert summary["out_of_sample_sharpe_mean"] is None
        assert summary["walk_forward_efficiency"] is None  # a ratio of extrapolated CAGRs
        assert summary["in_sample_objective_mean"] is not None  # what the GA ranked by
    assert "sharpe n/a" in console_summary(entries)


def test_outputs_windows_of_30_days_and_more_keep_annualized_metrics(tmp_path):
    day = 24 * H
    series = series_from_close(sine_close(240, period=24.0, seed=3), interval_ms=day)
    space = make_space(library.get("SMA_CROSSOVER"), bounds={"fast": (2, 10), "slow": (5, 30)})
    config = fitness_config(min_trades=0)
    specs = plan_searches([space], [saved(series, tmp_path)], train_ms=90 * day, test_ms=30 * day)
    tasks = tasks_of(specs)
    evaluate = lambda jobs: evaluate_locally(jobs, tasks, config)  # noqa: E731
    outcomes = run_searches(specs, GAConfig(population=6, generations=2, seed=1), evaluate)
    oos = evaluate_out_of_sample(outcomes, evaluate)
    entry = best_entries(outcomes, oos, config, top=1, mode="rolling")[0]
    final = next(o for o in outcomes if o.spec.fold is None)
    assert entry["annualized_omitted"] is None
    assert entry["metrics"]["sharpe"] == final.ranked()[0].metrics["sharpe"]
    for row in entry["walk_forward"]["folds"]:
        assert row["in_sample"]["annualized_omitted"] is None
        assert row["out_of_sample"]["annualized_omitted"] is None  # exactly 30 days
    assert entry["walk_forward"]["summary"]["out_of_sample_sharpe_mean"] is not None
