"""Results ranked on disk (RankResults, RankedResults) and streamed into summary.json: the same
order, messages and bytes as sorting every BacktestResult in memory."""

from __future__ import annotations

import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.builders import MINUTE, T0, candle
from tradestream.backtest.chunks import chunk_metrics, chunk_results, rank_value, simulate_chunk
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.grid import expand_grid
from tradestream.backtest.metrics import RECORD_DTYPE
from tradestream.backtest.outputs import (
    GridInfo,
    RunInfo,
    SeriesInfo,
    read_summary,
    summary_json,
    write_json,
    write_summary,
)
from tradestream.backtest.ranking import (
    RankedResults,
    SeriesSpan,
    rank_parts,
    set_names,
    write_part,
)
from tradestream.backtest.series import build_series
from tradestream.strategies import library
from tradestream.transforms.backtest.simulate import (
    ComputeMetrics,
    RankResults,
    SelectTopResults,
    SimulateTrades,
)
from tradestream.transforms.backtest.write_outputs import SummarizeRejectionsCombineFn

CONFIG = ExecutionConfig(fee=0.001)
SPAN = SeriesSpan("BTC-USD", T0, T0 + 300 * MINUTE, 300, MINUTE)


def _series(symbol: str = "BTC-USD", n: int = 300, seed: int = 1):
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return build_series(
        symbol, [candle(T0 + i * MINUTE, float(c), symbol=symbol) for i, c in enumerate(closes)],
        MINUTE,
    )  # fmt: skip


def _expected_order(results, metric: str) -> list[str]:
    ordered = sorted(results, key=lambda r: (-rank_value(r, metric), r.strategy.strategy_id))
    return [r.strategy.strategy_id for r in ordered]


def _ranked(series, strategies, metric, work, chunk=7) -> tuple[RankedResults, list]:
    """Simulates in chunks of `chunk` sets, writes the parts, ranks them; and the messages of
    the same chunks (the engine's last bits depend on the sets simulated together)."""
    parts, messages = [], []
    span = SeriesSpan(
        series.symbol,
        int(series.start_ms[0]),
        int(series.start_ms[-1]) + series.interval_ms,
        len(series),
        series.interval_ms,
    )
    for first in range(0, len(strategies), chunk):
        sim = simulate_chunk(series, strategies[first : first + chunk], CONFIG, first)
        parts.append(write_part(str(work), chunk_metrics(sim, CONFIG).records(first), span))
        messages += chunk_results(sim, CONFIG)
    ranked = rank_parts(reversed(parts), set_names(strategies), CONFIG, metric, str(work))
    return ranked, messages


@pytest.mark.parametrize("metric", ["sharpe", "profit_factor", "total_return", "win_rate"])
def test_ranked_results_order_and_messages_match_sorting_every_result(metric, tmp_path):
    # Ids such as fast=10 < fast=2 (text order) and many ties (no trade: NaN, same return).
    grid = expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=2:12:2", "slow=3:150:9"])
    strategies = grid.strategies
    ranked, messages = _ranked(_series(), strategies, metric, tmp_path)
    assert ranked.count == len(messages) == len(grid)
    results = list(ranked.results())
    assert [r.strategy.strategy_id for r in results] == _expected_order(messages, metric)
    by_id = {m.strategy.strategy_id: m for m in messages}
    wire = [r.SerializeToString(deterministic=True) for r in results]  # every field; NaN too
    assert wire == [
        by_id[r.strategy.strategy_id].SerializeToString(deterministic=True) for r in results
    ]
    assert [r.SerializeToString(deterministic=True) for r in ranked.top(3)] == wire[:3]
    assert [sid for _, sid in ranked.ids(0, 4)] == [r.strategy.strategy_id for r in results[:4]]
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.unranked"))


def test_ranked_results_of_a_listed_selection_tie_break_by_id(tmp_path):
    strategies = [
        library.build("SMA_CROSSOVER", {"fast": 50, "slow": 60}),  # no trade on 40 candles
        library.build("SMA_CROSSOVER", {"fast": 10, "slow": 60}),
        library.build("DOUBLE_EMA_CROSSOVER", {"short": 5, "long": 9}),
        library.build("SMA_CROSSOVER", {"fast": 2, "slow": 60}),
    ]
    ranked, messages = _ranked(_series(n=40), strategies, "sharpe", tmp_path, chunk=3)
    assert [r.strategy.strategy_id for r in ranked.results()] == _expected_order(messages, "sharpe")


def test_rank_parts_reads_and_gathers_in_blocks(tmp_path, monkeypatch):
    from tradestream.backtest import ranking

    monkeypatch.setattr(ranking, "READ_BLOCK", 3)
    rng = np.random.default_rng(4)
    names = set_names(expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=2:9:1", "slow=10:14:1"]).strategies)  # fmt: skip
    records = np.zeros(len(names), dtype=RECORD_DTYPE)
    records["set"] = np.arange(len(names))
    records["sharpe"] = rng.choice([np.nan, np.inf, -1.0, 0.5, 2.0], len(names))
    parts = [write_part(str(tmp_path), records[i : i + 4], SPAN) for i in range(0, 40, 4)]
    progress = []
    ranked = rank_parts(parts, names, CONFIG, "sharpe", str(tmp_path), progress.append)
    assert sum(progress) == 40 and max(progress) == 3
    values = ranked.records()["sharpe"]
    keys = np.where(np.isnan(values), -np.inf, values)
    assert keys.tolist() == sorted(keys.tolist(), reverse=True)  # NaN (as -inf) last
    ids = [sid for _, sid in ranked.ids()]
    for value in np.unique(keys):  # ties: by id as text
        tied = [i for i, k in zip(ids, keys, strict=True) if k == value]
        assert tied == sorted(tied)
    rows = np.concatenate(list(ranked.blocks()))
    assert sorted(rows["set"].tolist()) == list(range(40))
    assert np.array_equal(rows["sharpe"], values, equal_nan=True)


def _run_info(grid, rank_by="sharpe"):
    return RunInfo(
        inputs=("x.csv",),
        input_kind="candles",
        candle_interval_ms=0,
        config=CONFIG,
        strategies=len(grid),
        rank_by=rank_by,
        grid=GridInfo.of(grid),
    )


def _no_rejections():
    fn = SummarizeRejectionsCombineFn()
    return fn.extract_output(fn.create_accumulator())


def test_summary_streamed_from_ranked_results_is_byte_identical_and_read_back_bounded(tmp_path):
    grid = expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=2:12:2", "slow=3:150:9"])
    info = _run_info(grid)
    ranked, messages, infos = [], [], []
    for symbol, seed in (("ETH-USD", 2), ("BTC-USD", 1)):
        series = _series(symbol, seed=seed)
        infos.append(SeriesInfo.of(series))
        symbol_ranked, symbol_messages = _ranked(series, grid.strategies, "sharpe", tmp_path)
        ranked.append(symbol_ranked)
        messages += symbol_messages
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_json(str(tmp_path / "a" / "summary.json"), summary_json(info, messages, infos, _no_rejections()))  # fmt: skip
    write_summary(str(tmp_path / "b" / "summary.json"), info, ranked, infos, _no_rejections())
    text = (tmp_path / "b" / "summary.json").read_text()
    assert text == (tmp_path / "a" / "summary.json").read_text()

    whole = json.loads(text)
    head = read_summary(str(tmp_path / "b"), results_per_symbol=0)
    assert head["results"] == [] and head["input"] == whole["input"] and head["run"] == whole["run"]
    best = read_summary(str(tmp_path / "b"), results_per_symbol=2)["results"]
    btc = [r for r in whole["results"] if r["symbol"] == "BTC-USD"]
    eth = [r for r in whole["results"] if r["symbol"] == "ETH-USD"]
    assert best == btc[:2] + eth[:2]
    assert read_summary(str(tmp_path / "b")) == whole


def test_rank_results_and_select_top_in_a_pipeline_match_the_message_path(tmp_path):
    grid = expand_grid(library.get("SMA_CROSSOVER"), {}, ["fast=2:12:2", "slow=3:60:9"])
    strategies = grid.strategies
    series = [_series("BTC-USD", seed=1), _series("ETH-USD", seed=2)]
    with TestPipeline() as p:
        chunks = (
            p | beam.Create(series) | SimulateTrades(strategies, CONFIG, memory_mb=0.5)
        )  # 0.5 MB: chunks of a few sets
        by_messages = chunks | "Messages" >> ComputeMetrics(CONFIG)
        ranked = chunks | RankResults(strategies, CONFIG, "sharpe", str(tmp_path))
        picked = (
            ranked
            | "TopRanked" >> SelectTopResults(4, "sharpe")
            | "R" >> beam.Map(lambda s: (s.symbol, s.rank, s.strategy_id, s.index))
        )
        expected = (
            by_messages
            | "TopMessages" >> SelectTopResults(4, "sharpe")
            | "M" >> beam.Map(lambda s: (s.symbol, s.rank, s.strategy_id))
        )
        same = (
            p
            | "Once" >> beam.Create([None])
            | "Compare"
            >> beam.Map(
                lambda _, a, b: (len(a), sorted(t[:3] for t in a) == sorted(b)),
                a=beam.pvalue.AsList(picked),
                b=beam.pvalue.AsList(expected),
            )
        )
        assert_that(same, equal_to([(8, True)]), label="SameTop")
        ids = picked | "Ids" >> beam.Map(lambda t: t[2] == strategies[t[3]].strategy_id)
        assert_that(ids, equal_to([True] * 8), label="Index")
