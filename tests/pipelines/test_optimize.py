"""`tradestream optimize` end to end on a small constructed candles file (DirectRunner)."""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pytest

from tests.tradestream.optimize.builders import series_from_close, sine_close, write_candles_csv
from tradestream import cli
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.engine import simulate
from tradestream.backtest.metrics import compute_metrics
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades_csv
from tradestream.optimize.objectives import objective_values
from tradestream.strategies import library
from tradestream.strategies.candle_arrays import CandleArrays
from tradestream.strategies.vectorized import evaluate_vectorized

BASE = ["--strategy", "SMA_CROSSOVER", "--bound", "fast=2:40", "--bound", "slow=5:80",
        "--fee", "0.002", "--min_trades", "5", "--population", "10", "--seed", "3"]  # fmt: skip


@pytest.fixture(scope="module")
def candles(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "SYN.csv"
    return write_candles_csv(path, series_from_close(sine_close(2400)))


def _optimize(candles, out, *extra):
    return cli.main(["optimize", "--input", str(candles), "--output", str(out), *BASE, *extra])


@pytest.fixture(scope="module")
def walk_run(candles, tmp_path_factory):
    out = tmp_path_factory.mktemp("walk")
    args = ["--generations", "4", "--train", "16h", "--test", "8h", "--objective", "weighted",
            "--top", "3"]  # fmt: skip
    assert _optimize(candles, out, *args) == 0
    return out


def test_optimize_writes_best_json_best_first_with_every_section(walk_run):
    best = json.loads((walk_run / "best.json").read_text())
    assert isinstance(best, list) and len(best) == 3
    assert [e["rank"] for e in best] == [1, 2, 3]
    assert [e["fitness"] for e in best] == sorted((e["fitness"] for e in best), reverse=True)
    first = best[0]
    assert first["strategy"] == "SMA_CROSSOVER" and first["symbol"] == "SYN"
    assert first["params"]["fast"] < first["params"]["slow"]
    assert 2 <= first["params"]["fast"] <= 40 and 5 <= first["params"]["slow"] <= 80
    assert first["strategy_id"] == "SMA_CROSSOVER(fast={fast},slow={slow})".format(
        **first["params"]
    )
    assert first["objective"] == "weighted" and 0 <= first["fitness"] <= 1
    assert first["metrics"]["num_trades"] >= 5
    assert first["in_sample"]["candles"] == 16 * 60  # rolling: the final choice is on the last 16h
    over = first["overfitting"]
    assert 0 <= over["deflated_sharpe_ratio"] <= 1 and 0 <= over["pbo"] <= 1
    assert over["pbo_splits"] == 12870 and over["trials"] >= 10
    walk = first["walk_forward"]
    assert walk["mode"] == "rolling" and walk["summary"]["folds"] == len(walk["folds"]) == 3
    for fold in walk["folds"]:
        assert fold["train"]["end"] == fold["test"]["start"]
        assert fold["train"]["candles"] == 960 and fold["test"]["candles"] == 480
        assert (
            set(fold["in_sample"])
            == set(fold["out_of_sample"])
            == {"fitness", "objective", "metrics", "annualized_omitted"}
        )
        # 16 h and 8 h windows: too short to annualize
        assert fold["out_of_sample"]["annualized_omitted"].startswith("the sample spans 0.333 days")
    assert not (walk_run / ".work").exists()


def test_optimize_history_has_every_generation_of_every_search(walk_run):
    history = json.loads((walk_run / "history.json").read_text())
    searches = history["searches"]
    assert [s["fold"] for s in searches] == [1, 2, 3, None]
    for search in searches:
        assert [g["generation"] for g in search["generations"]] == [0, 1, 2, 3]
        assert search["generations"][0]["cached"] == 0
        assert sum(g["evaluated"] for g in search["generations"]) == search["evaluations"]
        bests = [g["best_ever"] for g in search["generations"]]
        assert bests == sorted(bests)


def test_optimize_evaluations_list_each_searchs_distinct_genomes_once(walk_run):
    history = {
        s["search"]: s for s in json.loads((walk_run / "history.json").read_text())["searches"]
    }
    document = json.loads((walk_run / "evaluations.json").read_text())
    assert document["objective"] == "weighted"
    assert [s["search"] for s in document["searches"]] == list(history)
    records = document["evaluations"]
    for key, search in history.items():
        mine = [r for r in records if r["search"] == key]
        genomes = [(r["params"]["fast"], r["params"]["slow"]) for r in mine]
        assert len(genomes) == len(set(genomes))  # a cache hit is not listed again
        # The fitness cache's size (history) and the per-generation new evaluations agree.
        assert (
            len(mine) == search["evaluations"] == sum(g["evaluated"] for g in search["generations"])
        )
        for g in search["generations"]:
            assert sum(r["generation"] == g["generation"] for r in mine) == g["evaluated"]
        assert all(r["fold"] == search["fold"] for r in mine)
    best = json.loads((walk_run / "best.json").read_text())
    final = {(r["params"]["fast"], r["params"]["slow"]): r for r in records if r["fold"] is None}
    for entry in best:  # the kept sets are among the final search's evaluations
        assert (
            final[(entry["params"]["fast"], entry["params"]["slow"])]["fitness"] == entry["fitness"]
        )
    for fold in best[0]["walk_forward"]["folds"]:  # each fold's winner is its best evaluation
        mine = [r for r in records if r["fold"] == fold["fold"] and r["fitness"] is not None]
        top = max(r["fitness"] for r in mine)
        assert fold["in_sample"]["fitness"] == top
        assert fold["params"] in [r["params"] for r in mine if r["fitness"] == top]


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _backtest_fitness(params_list, window, objective="weighted", min_trades=5) -> np.ndarray:
    """Fitness recomputed from the candles written to the input file, without the optimizer:
    whole-history signals cut to the window, simulated and scored as `tradestream backtest`."""
    series = series_from_close(sine_close(2400))
    first = int(np.searchsorted(series.start_ms, _ms(window["start"])))
    stop = int(np.searchsorted(series.start_ms, _ms(window["end"])))
    strategies = [library.get("SMA_CROSSOVER").build(p) for p in params_list]
    history = CandleArrays(*(a[:stop] for a in (series.open, series.high, series.low,
                                                 series.close, series.volume)))  # fmt: skip
    actions = evaluate_vectorized(strategies, history)
    signals = np.stack([actions[s.strategy_id][first:] for s in strategies]).astype(np.int8)
    close = series.close[first:stop]
    sim = simulate(signals, series.open[first:stop], close, ExecutionConfig(fee=0.002))
    metrics = compute_metrics(sim, series.start_ms[first:stop], 60_000, close, 525_600)
    return objective_values(objective, metrics, min_trades)


def test_optimize_evaluations_hold_the_backtests_fitness(walk_run):
    document = json.loads((walk_run / "evaluations.json").read_text())
    records = document["evaluations"]
    for search in (document["searches"][0], document["searches"][-1]):  # fold 1 and final
        mine = [r for r in records if r["search"] == search["search"]]
        chosen = [mine[0], mine[-1], max(mine, key=lambda r: r["fitness"] or -math.inf)]
        chosen += [r for r in mine if r["fitness"] is None][:1]  # a guarded one, if any
        expected = _backtest_fitness([r["params"] for r in chosen], search["window"])
        for record, value in zip(chosen, expected, strict=True):
            if math.isfinite(value):
                assert record["fitness"] == pytest.approx(value, rel=1e-9)
            else:
                assert record["fitness"] is None


def test_optimize_same_seed_same_result(candles, tmp_path, capsys):
    assert _optimize(candles, tmp_path / "a", "--generations", "3") == 0
    progress = capsys.readouterr().err
    assert "[optimize] gen 3/3 SMA_CROSSOVER SYN: best" in progress and "cached" in progress
    assert _optimize(candles, tmp_path / "b", "--generations", "3", "--batch_size", "3") == 0
    a = (tmp_path / "a" / "best.json").read_text()
    assert a == (tmp_path / "b" / "best.json").read_text()
    evaluations = (tmp_path / "a" / "evaluations.json").read_text()
    assert evaluations == (tmp_path / "b" / "evaluations.json").read_text()
    assert _optimize(candles, tmp_path / "c", "--generations", "3", "--seed", "4") == 0
    assert json.loads(a) != json.loads((tmp_path / "c" / "best.json").read_text())


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--bound", "fast=1:20"], "outside the declared range"),
        (["--bound", "speed=1:20"], "no selected strategy type"),
        (["--train", "16h"], "both --train and --test"),
        (["--train", "30d", "--test", "1d"], "one walk-forward fold needs"),
        (["--objective", "profit"], "invalid choice"),
        (["--populaton", "5"], "unknown flag"),
        (["--strategies_topic", "strategies"], "does not apply to optimize"),
    ],
)
def test_optimize_bad_arguments_exit_2_with_the_reason(candles, tmp_path, capsys, extra, message):
    args = ["optimize", "--input", str(candles), "--output", str(tmp_path)]
    args += ["--strategy", "SMA_CROSSOVER", *extra]
    if "invalid choice" in message:  # argparse's own errors exit 2 by SystemExit
        with pytest.raises(SystemExit) as exit_info:
            cli.main(args)
        assert exit_info.value.code == 2
    else:
        assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_optimize_no_trading_set_exits_1_and_writes_nothing(candles, tmp_path, capsys):
    out = tmp_path / "out"
    assert _optimize(candles, out, "--generations", "1", "--min_trades", "100000") == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "tradestream optimize: error: no parameter set reached a finite fitness "
        f"(see --min_trades); nothing written to {out}"
    )
    assert not out.exists()


def test_optimize_searches_each_symbol_of_a_trades_file(tmp_path):
    trades = tmp_path / "trades.csv"
    write_trades_csv(trades, sample_trades(hours=3, seed=11, rate_per_s=0.2))
    code = cli.main(
        [
            "optimize",
            "--input",
            str(trades),
            "--output",
            str(tmp_path / "out"),
            "--candle_interval",
            "1m",
            "--strategy",
            "SMA_CROSSOVER",
            "--population",
            "4",
            "--generations",
            "1",
            "--top",
            "1",
        ]  # fmt: skip
    )
    assert code == 0
    best = json.loads((tmp_path / "out" / "best.json").read_text())
    assert sorted(e["symbol"] for e in best) == ["BTC-USD", "ETH-USD", "SOL-USD"]
    assert all(e["in_sample"]["candles"] == 180 for e in best)  # 3 h of 1-minute candles


def test_optimize_searches_a_multi_timeframe_type(candles, tmp_path):
    out = tmp_path / "out"
    code = cli.main(
        ["optimize", "--input", str(candles), "--output", str(out), "--strategy",
         "RSI_TWO_TIMEFRAMES", "--bound", "period=2:10", "--bound", "higher_period=2:6",
         "--population", "6", "--generations", "2", "--min_trades", "1", "--seed", "5"]
    )  # fmt: skip
    assert code == 0
    best = json.loads((out / "best.json").read_text())
    assert best and all(e["strategy"] == "RSI_TWO_TIMEFRAMES" for e in best)
    assert all(math.isfinite(e["fitness"]) for e in best)
    strategy = library.build("RSI_TWO_TIMEFRAMES", best[0]["params"])
    assert strategy.intervals_ms == (900_000,)  # the 15-minute RSI it searched with


def test_best_json_of_a_strategy_file_type_names_the_file_and_runs_again(candles, tmp_path):
    """An optimizer result of a strategy of one's own (e.g. one reading a trained model)
    names its strategy file, so `backtest`/`realtime --strategies best.json` load it again."""
    from tradestream.strategies.spec import load_strategy_file

    spec = tmp_path / "mine.yaml"
    spec.write_text(
        "strategies:\n"
        "  - name: MY_CROSS\n"
        "    params:\n"
        "      fast: {kind: int, low: 2, high: 20, default: 5}\n"
        "      slow: {kind: int, low: 21, high: 80, default: 30}\n"
        "    nodes:\n"
        "      f: {kind: sma, inputs: [close], params: {period: $fast}}\n"
        "      s: {kind: sma, inputs: [close], params: {period: $slow}}\n"
        "    entry: {kind: crosses_above, inputs: [f, s]}\n"
        "    exit: {kind: crosses_below, inputs: [f, s]}\n"
    )
    out = tmp_path / "out"
    code = cli.main(["optimize", "--input", str(candles), "--output", str(out), "--strategies",
                     str(spec), "--population", "6", "--generations", "2", "--seed", "2",
                     "--min_trades", "1"])  # fmt: skip
    assert code == 0
    best = json.loads((out / "best.json").read_text())
    assert best[0]["strategy"] == "MY_CROSS"
    assert best[0]["strategy_file"] == str(spec.resolve())
    again = load_strategy_file(out / "best.json")
    assert again[0].strategy_id == best[0]["strategy_id"]
