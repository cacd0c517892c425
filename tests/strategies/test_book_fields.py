"""Order-book fields in strategy graphs, ORDER_BOOK_IMBALANCE and signal confidence nodes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.strategies.series import random_candles
from tradestream.market.book_features import BookFeatures
from tradestream.strategies import library
from tradestream.strategies import nodes as n
from tradestream.strategies.candle_arrays import BOOK_FIELDS, CandleArrays, book_row
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.incremental import IncrementalEvaluator
from tradestream.strategies.spec import parse_document
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.vectorized import evaluate_vectorized, signal_confidences


def _features(**values) -> BookFeatures:
    base = dict(has_book=True, imbalance=0.25, spread=0.002, microprice=100.1, ofi=3.0,
                bid_depth=5.0, ask_depth=3.0, updates=4, depth_complete=True)  # fmt: skip
    base.update(values)
    return BookFeatures(**base)


def test_book_row_maps_features_and_neutral_values_without_a_book():
    assert book_row(_features(), 99.0) == (0.25, 0.002, 100.1, 3.0, 5.0, 3.0, 1.0)
    # No book yet, or a dropped one: imbalance/spread/ofi/depths 0, microprice the close.
    assert book_row(None, 99.0) == (0.0, 0.0, 99.0, 0.0, 0.0, 0.0, 0.0)
    dropped = _features(has_book=False, imbalance=math.nan, spread=math.nan,
                        microprice=math.nan, ofi=math.nan, bid_depth=math.nan,
                        ask_depth=math.nan)  # fmt: skip
    assert book_row(dropped, 99.0) == (0.0, 0.0, 99.0, 0.0, 0.0, 0.0, 0.0)
    # A live book with an empty side: its undefined figures read neutral, live stays 1.
    one_sided = _features(imbalance=1.0, spread=math.nan, microprice=math.nan, ask_depth=0.0)
    assert book_row(one_sided, 99.0) == (1.0, 0.0, 99.0, 3.0, 5.0, 0.0, 1.0)
    assert len(book_row(None, 1.0)) == len(BOOK_FIELDS)


def _run(strategy: Strategy, candles: CandleArrays) -> tuple[np.ndarray, dict[int, float]]:
    evaluator = IncrementalEvaluator([strategy], interval_ms=candles.interval_ms)
    signals = np.zeros(len(candles), dtype=np.int8)
    confidences = {}
    for t in range(len(candles)):
        for e in evaluator.update(*candles.row(t), int(candles.start_ms[t]),
                                  candles.book_values(t)):  # fmt: skip
            signals[t] = 1 if e.action == "BUY" else -1
            confidences[t] = e.confidence
    return signals, confidences


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    threshold=st.floats(0.05, 0.95),
    lookback=st.integers(1, 6),
    cooldown=st.integers(1, 12),
    min_volume=st.sampled_from([0.0, 300.0, 700.0]),
    integer=st.booleans(),
)
def test_order_book_imbalance_evaluators_agree_on_signals_and_confidence(
    seed, threshold, lookback, cooldown, min_volume, integer
):
    strategy = library.build(
        "ORDER_BOOK_IMBALANCE",
        {"threshold": threshold, "lookback": lookback, "cooldown": cooldown,
         "min_volume": min_volume},
    )  # fmt: skip
    candles = random_candles(seed, 600, integer=integer)
    vectorized = evaluate_vectorized([strategy], candles)[strategy.strategy_id]
    signals, confidences = _run(strategy, candles)
    np.testing.assert_array_equal(vectorized, signals)
    assert signal_confidences(strategy, candles) == confidences


def test_order_book_imbalance_follows_its_rule_on_a_hand_built_book():
    candles = random_candles(3, 40)
    book = {k: v.copy() for k, v in candles.book.items()}
    # Imbalance 0 except: 0.5 on candles 10-12 (a BUY at 10), -0.6 on 20-21 (a SELL at 20);
    # the book is live throughout, volume above 0.
    book["book_imbalance"][:] = 0.0
    book["book_imbalance"][10:13] = 0.5
    book["book_imbalance"][20:22] = -0.6
    book["book_live"][:] = 1.0
    candles = CandleArrays(candles.open, candles.high, candles.low, candles.close,
                           candles.volume, start_ms=candles.start_ms,
                           interval_ms=candles.interval_ms, book=book)  # fmt: skip
    strategy = library.build("ORDER_BOOK_IMBALANCE", {"lookback": 1, "threshold": 0.3})
    signals = evaluate_vectorized([strategy], candles)[strategy.strategy_id]
    assert np.flatnonzero(signals).tolist() == [10, 20]
    assert signals[10] == 1 and signals[20] == -1
    assert signal_confidences(strategy, candles) == {10: 0.5, 20: 0.6}
    # A dead book at the crossing: no signal.
    book["book_live"][10] = 0.0
    dead = CandleArrays(candles.open, candles.high, candles.low, candles.close,
                        candles.volume, start_ms=candles.start_ms,
                        interval_ms=candles.interval_ms, book=book)  # fmt: skip
    assert np.flatnonzero(evaluate_vectorized([strategy], dead)[strategy.strategy_id]).tolist() == [
        20
    ]


def test_book_fields_need_book_data_and_cannot_be_read_on_longer_candles():
    strategy = library.build("ORDER_BOOK_IMBALANCE")
    assert strategy.reads_book and not library.build("SMA_CROSSOVER").reads_book
    plain = random_candles(1, 50)
    plain = CandleArrays(plain.open, plain.high, plain.low, plain.close, plain.volume,
                         start_ms=plain.start_ms, interval_ms=plain.interval_ms)  # fmt: skip
    with pytest.raises(StrategyError, match="book_imbalance needs order-book data"):
        evaluate_vectorized([strategy], plain)
    evaluator = IncrementalEvaluator([strategy], interval_ms=plain.interval_ms)
    with pytest.raises(StrategyError, match="read the order book"):
        evaluator.update(*plain.row(0), int(plain.start_ms[0]))
    hourly = Strategy("H", {}, n.at_interval(n.above(n.book_imbalance, 0.2), 3600),
                      n.below(n.close, 0))  # fmt: skip
    with pytest.raises(StrategyError, match="order book on longer candles"):
        hourly.warmup_at(60_000)


def test_a_strategy_file_reads_book_fields_and_a_confidence_node():
    document = {"strategies": [{
        "name": "MY_BOOK",
        "entry": {"kind": "crosses_above", "inputs": ["book_imbalance", 0.2]},
        "exit": {"kind": "crosses_below", "inputs": ["book_imbalance", -0.2]},
        "confidence": {"kind": "mul", "inputs": ["book_imbalance", 2]},
    }]}  # fmt: skip
    [(stype, values)] = parse_document(document)
    strategy = stype.build(values)
    assert strategy.reads_book and strategy.confidence is not None
    candles = random_candles(9, 400)
    signals, confidences = _run(strategy, candles)
    assert signals.any()
    assert signal_confidences(strategy, candles) == confidences
    assert all(0.0 <= c <= 1.0 for c in confidences.values())
    sells = [t for t in np.flatnonzero(signals) if signals[t] == -1]
    assert all(confidences[t] == 0.0 for t in sells)  # a negative value is clipped to 0
    with pytest.raises(StrategyError, match="shadow candle fields"):
        parse_document({"strategies": [{**document["strategies"][0],
                                         "nodes": {"book_ofi": "close"}}]})  # fmt: skip
