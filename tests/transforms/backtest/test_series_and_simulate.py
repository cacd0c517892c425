"""CollectCandleSeries and the backtest PTransforms (SimulateTrades, ComputeMetrics, ...)."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.builders import MINUTE, T0, candle
from tests.support.vectorized_signals import signals_for_candles
from tradestream.backtest.chunks import chunk_results, simulate_chunk
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.series import build_series, infer_interval_ms
from tradestream.market.signal_messages import signal_id
from tradestream.strategies import library
from tradestream.transforms.backtest.collect_series import CollectCandleSeries
from tradestream.transforms.backtest.simulate import (
    ComputeMetrics,
    DetailResults,
    SelectTopResults,
    SimulateTrades,
)

DAY = 86_400_000


def _walk(symbol: str, n: int, seed: int):
    rng = np.random.default_rng(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return [candle(T0 + i * MINUTE, float(c), symbol=symbol) for i, c in enumerate(closes)]


STRATEGIES = [
    library.build("SMA_CROSSOVER", {"fast": f, "slow": s}) for f in (3, 5, 8) for s in (13, 21)
]
CONFIG = ExecutionConfig(fee=0.001)
CANDLES = _walk("BTC-USD", 400, 1) + _walk("ETH-USD", 300, 2)


def _keyed(candles):
    return [(c.symbol, c) for c in candles]


def test_series_sorted_deduplicated_highest_revision_kept():
    candles = [
        candle(T0 + MINUTE, 11.0),
        candle(T0, 10.0),
        candle(T0 + MINUTE, 12.0, revision=1),
        candle(T0, 10.0),
    ]
    series = build_series("BTC-USD", candles, 5)
    assert list(series.start_ms) == [T0, T0 + MINUTE]
    assert list(series.close) == [10.0, 12.0]
    assert series.duplicates == 2 and series.interval_ms == MINUTE


def test_series_interval_inferred_from_most_common_gap_of_file_candles():
    weekdays = np.array([0, 1, 2, 3, 4, 7, 8, 9, 10, 11, 14]) * DAY
    assert infer_interval_ms(weekdays, 60_000) == DAY
    assert infer_interval_ms(np.array([5]), 60_000) == 60_000
    file_candles = [candle(T0 + int(t), 1.0, interval_ms=0) for t in weekdays]
    assert build_series("GOOG", file_candles, 60_000).interval_ms == DAY


def test_series_collect_one_series_per_symbol():
    shuffled = list(reversed(CANDLES))
    with TestPipeline() as p:
        series = p | beam.Create(_keyed(shuffled)) | CollectCandleSeries(MINUTE)
        assert_that(
            series | beam.Map(lambda s: (s.symbol, len(s), bool(np.all(np.diff(s.start_ms) > 0)))),
            equal_to([("BTC-USD", 400, True), ("ETH-USD", 300, True)]),
        )


def _expected_results():
    out = []
    for symbol in ("BTC-USD", "ETH-USD"):
        series = build_series(symbol, [c for c in CANDLES if c.symbol == symbol], MINUTE)
        for r in chunk_results(simulate_chunk(series, STRATEGIES, CONFIG), CONFIG):
            out.append(_summary(r))
    return out


def _summary(result):
    m = result.metrics
    return (
        result.symbol,
        result.strategy.strategy_id,
        m.num_trades,
        round(m.total_return, 9),
        round(m.max_drawdown, 9),
        result.candle_count,
    )


@pytest.mark.parametrize("memory_mb", [512, 0.001])  # one chunk; one parameter set per chunk
def test_simulate_and_compute_metrics_match_direct_engine_for_any_chunking(memory_mb):
    expected = _expected_results()
    assert len(expected) == 2 * len(STRATEGIES)
    with TestPipeline() as p:
        results = (
            p
            | beam.Create(_keyed(CANDLES))
            | CollectCandleSeries(MINUTE)
            | SimulateTrades(STRATEGIES, CONFIG, memory_mb=memory_mb)
            | ComputeMetrics(CONFIG)
        )
        assert_that(results | beam.Map(_summary), equal_to(expected))


def test_select_top_results_ranks_per_symbol_and_details_reproduce_signals():
    expected = _expected_results()
    best = {}
    for symbol in ("BTC-USD", "ETH-USD"):
        ranked = sorted(
            (e for e in expected if e[0] == symbol), key=lambda e: (-e[3], e[1])
        )  # by total_return
        best[symbol] = [e[1] for e in ranked[:2]]
    btc = [c for c in CANDLES if c.symbol == "BTC-USD"]
    reference = {
        (s.strategy.strategy_id, s.signal_id) for s in signals_for_candles(STRATEGIES, btc)
    }

    def detail_summary(d):
        starts = d.start_ms[np.flatnonzero(d.signals)]
        actions = ["BUY" if a > 0 else "SELL" for a in d.signals[d.signals != 0]]
        ids = [
            signal_id(d.strategy.strategy_id, d.symbol, int(t), a)
            for t, a in zip(starts, actions, strict=True)
        ]
        return (d.symbol, d.rank, d.strategy.strategy_id, ids)

    with TestPipeline() as p:
        series = p | beam.Create(_keyed(CANDLES)) | CollectCandleSeries(MINUTE)
        results = series | SimulateTrades(STRATEGIES, CONFIG) | ComputeMetrics(CONFIG)
        selected = results | SelectTopResults(2, "total_return")
        assert_that(
            selected | beam.Map(lambda s: (s.symbol, s.rank, s.strategy_id)),
            equal_to(
                [(sym, rank, sid) for sym, ids in best.items() for rank, sid in enumerate(ids)]
            ),
            label="Selected",
        )
        details = series | DetailResults(STRATEGIES, CONFIG, selected)
        summaries = details | beam.Map(detail_summary)

        def check(items):
            assert sorted((s, r, i) for s, r, i, _ in items) == sorted(
                (sym, rank, sid) for sym, ids in best.items() for rank, sid in enumerate(ids)
            )
            for symbol, _, sid, ids in items:
                if symbol == "BTC-USD":  # the streaming-reference ids, signal for signal
                    assert {(sid, i) for i in ids} == {(a, b) for a, b in reference if a == sid}
                    assert ids

        assert_that(summaries, check, label="Details")


def test_select_top_results_rejects_unknown_metric():
    with pytest.raises(ValueError, match="rank_by"):
        SelectTopResults(3, "luck")
