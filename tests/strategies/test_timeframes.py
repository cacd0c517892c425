"""Multi-timeframe graphs: longer candles built from the strategy's own, seen once closed.

Checked against hand-built cases (which longer candle a 1-minute candle sees, the folded
OHLCV), for no look-ahead (a value at candle t never changes when later candles do), and for
agreement of the two evaluators on random graphs that mix intervals, with gaps and a state
round trip.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.strategies.series import MINUTE, random_candles
from tradestream.strategies import nodes as n
from tradestream.strategies.candle_arrays import CandleArrays
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import Node
from tradestream.strategies.incremental import IncrementalEvaluator
from tradestream.strategies.spec import parse_document
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.timeframes import aggregate, lookbacks
from tradestream.strategies.vectorized import compute_nodes, evaluate_vectorized

HOUR = 60 * MINUTE
T9 = 1_700_038_800_000  # 2023-11-15 09:00 UTC


def _minutes(starts_min: list[int], closes: list[float]) -> CandleArrays:
    """1-minute candles starting `starts_min` minutes after 09:00, open = previous close."""
    close = np.asarray(closes, dtype=np.float64)
    open_ = np.concatenate(([close[0]], close[:-1]))
    return CandleArrays(
        open_,
        np.maximum(open_, close) + 0.5,
        np.minimum(open_, close) - 0.5,
        close,
        np.arange(1.0, len(close) + 1.0),
        start_ms=T9 + np.asarray(starts_min, dtype=np.int64) * MINUTE,
        interval_ms=MINUTE,
    )


def _incremental(node: Node, candles: CandleArrays, split: int | None = None) -> list:
    """`node`'s values candle by candle, through a strategy whose exit reads it."""
    probe = n.above(node, -1e300) if node.output == "series" else node
    strategy = Strategy("PROBE", {}, probe, n.not_(probe))
    interval = candles.interval_ms
    evaluator = IncrementalEvaluator([strategy], interval_ms=interval)
    out = []
    for t in range(len(candles)):
        if t == split:
            state = json.loads(json.dumps(evaluator.get_state(), allow_nan=False))
            evaluator = IncrementalEvaluator.from_state([strategy], state, interval_ms=interval)
        evaluator.update(*candles.row(t), start_ms=int(candles.start_ms[t]))
        out.append(evaluator._values[evaluator._slots[node]])
    return out


def test_a_5_minute_close_is_seen_from_the_candle_that_completes_it():
    # 09:00 .. 09:11 one candle a minute, closes 1..12
    candles = _minutes(list(range(12)), [float(i) for i in range(1, 13)])
    node = n.at_interval(n.close, 300)
    got = compute_nodes([node], candles)[node]
    # 09:00-09:05 closes at the 09:04 candle (index 4): close 5; 09:05-09:10 at 09:09: 10;
    # the 09:10 bar has not closed by 09:11.
    expected = [math.nan] * 4 + [5.0] * 5 + [10.0] * 3
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(_incremental(node, candles), expected)


def test_the_hourly_value_at_10_37_is_the_09_00_to_10_00_candle():
    starts = list(range(0, 98))  # 09:00 .. 10:37
    candles = _minutes(starts, [100.0 + i for i in range(len(starts))])
    hourly = n.at_interval(n.close, 3600)
    got = compute_nodes([hourly], candles)[hourly]
    at_1037 = starts.index(97)
    assert got[at_1037] == candles.close[59]  # the 09:59 candle's close ends 09:00-10:00
    assert got[58] != got[58] and got[59] == candles.close[59]  # not before 10:00


def test_longer_candles_fold_the_shorter_ones_and_a_gap_closes_the_open_one():
    # 09:00, 09:01, 09:02 then nothing until 09:07 (09:05-09:10 holds 09:07..09:09)
    candles = _minutes([0, 1, 2, 7, 8, 9], [10.0, 12.0, 11.0, 13.0, 9.0, 14.0])
    bars, closes = aggregate(candles, 300_000)
    assert bars.start_ms.tolist() == [T9, T9 + 5 * MINUTE]
    # 09:00-09:05: open 10 (first open), high max(open,close)+.5 = 12.5, low 9.5, close 11,
    # volume 1+2+3; it closes at 09:07's candle (index 3), before that candle is evaluated.
    assert bars.row(0) == (10.0, 12.5, 9.5, 11.0, 6.0)
    # 09:05-09:10 (09:07, 09:08, 09:09): open 11, high 14.5, low 8.5, close 14, volume 15;
    # complete at 09:09 (index 5).
    assert bars.row(1) == (11.0, 14.5, 8.5, 14.0, 15.0)
    assert closes.tolist() == [3, 5]
    node = n.at_interval(n.volume, 300)
    # Visible from index 3, but a 5m field's lookback is (0 + 1) * 5 - 1 = 4 candles whatever
    # the gaps, so both evaluators show it from index 4.
    expected = [math.nan] * 4 + [6.0, 15.0]
    np.testing.assert_array_equal(compute_nodes([node], candles)[node], expected)
    np.testing.assert_array_equal(_incremental(node, candles), expected)


def test_lookback_on_longer_candles_is_counted_in_the_strategy_candles():
    ema3_hourly = n.at_interval(n.ema(n.close, 3), 3600)
    # EMA(3) is defined at the 3rd hourly candle (index 2): (2 + 1) * 60 - 1 one-minute
    # candles in, however the series is aligned.
    assert lookbacks([ema3_hourly], MINUTE)[ema3_hourly] == 179
    assert lookbacks([ema3_hourly], 5 * MINUTE)[ema3_hourly] == 35
    strategy = Strategy("S", {}, n.above(n.close, ema3_hourly), n.below(n.close, ema3_hourly))
    assert strategy.warmup_at(MINUTE) == 180
    with pytest.raises(StrategyError, match="candle interval"):
        strategy.warmup  # noqa: B018 - the interval is needed
    with pytest.raises(StrategyError, match="candles of 7m cannot build"):
        strategy.warmup_at(7 * MINUTE)
    timeless = random_candles(1, 50)
    timeless = CandleArrays(timeless.open, timeless.high, timeless.low, timeless.close,
                            timeless.volume)  # fmt: skip
    with pytest.raises(StrategyError, match=r"S\(\) reads 1h candles: the candle interval"):
        evaluate_vectorized([strategy], timeless)
    with pytest.raises(StrategyError, match=r"S\(\) reads 1h candles: the candle interval"):
        IncrementalEvaluator([strategy])


def test_values_before_the_lookback_are_undefined_whatever_the_alignment():
    hourly_sma = n.at_interval(n.sma(n.close, 2), 3600)
    for offset in (0, 1, 30, 59):  # the first hour holds 60, 59, 30 or 1 candles
        candles = _minutes(list(range(offset, offset + 300)), list(range(1, 301)))
        got = compute_nodes([hourly_sma], candles)[hourly_sma]
        assert np.isnan(got[:119]).all()
        assert not np.isnan(got[119:]).any()
        np.testing.assert_array_equal(_incremental(hourly_sma, candles), got)


# --- no look-ahead -------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), cut=st.integers(30, 700), gaps=st.booleans())
def test_no_higher_interval_value_is_seen_before_its_candle_closes(seed, cut, gaps):
    """Changing every candle after `cut` changes no value at or before `cut`: a longer
    candle's value that leaked early (before the candle completing it) would."""
    candles = random_candles(seed, 800, gaps=gaps)
    other = random_candles(seed + 1, 800, gaps=gaps)
    mixed = CandleArrays(
        *(np.concatenate((getattr(candles, f)[: cut + 1], getattr(other, f)[cut + 1 :]))
          for f in ("open", "high", "low", "close", "volume")),
        start_ms=candles.start_ms,
        interval_ms=MINUTE,
    )  # fmt: skip
    watched = [
        n.at_interval(n.close, 300),
        n.at_interval(n.high, 900),
        n.at_interval(n.rsi(n.close, 3), 3600),
        n.at_interval(n.crosses_above(n.close, n.sma(n.close, 2)), 900),
        n.at_interval(n.add(n.close, n.at_interval(n.low, 3600)), 900),
    ]
    before = compute_nodes(watched, candles)
    after = compute_nodes(watched, mixed)
    for node in watched:
        np.testing.assert_array_equal(before[node][: cut + 1], after[node][: cut + 1])


# --- the evaluators agree on random graphs mixing intervals ---------------------------------

# Intervals in seconds; a node on one interval may only read a longer (multiple) one.
INTERVALS = (60, 300, 900, 3600)


@st.composite
def series_nodes(draw, context: int = 60, depth: int = 0) -> Node:
    choice = draw(st.integers(0, 6 if depth < 3 else 1))
    if choice <= 1:
        return Node(draw(st.sampled_from(["open", "high", "low", "close", "volume"])))
    if choice == 2:
        longer = draw(st.sampled_from([s for s in INTERVALS if s % context == 0]))
        return n.at_interval(draw(series_nodes(longer, depth + 1)), longer)
    child = draw(series_nodes(context, depth + 1))
    if choice == 3:
        kind = draw(st.sampled_from(["sma", "ema", "rsi", "max", "min", "stddev"]))
        return n.node(kind, child, period=draw(st.integers(2, 6)))
    if choice == 4:
        return n.lag(child, draw(st.integers(1, 3)))
    other = draw(series_nodes(context, depth + 1))
    return n.node(draw(st.sampled_from(["add", "sub", "max2", "min2"])), child, other)


@st.composite
def rule_nodes(draw, context: int = 60, depth: int = 0) -> Node:
    choice = draw(st.integers(0, 4 if depth < 2 else 1))
    if choice <= 1:
        kind = draw(st.sampled_from(["above", "below", "crosses_above", "crosses_below"]))
        return n.node(kind, draw(series_nodes(context)), draw(series_nodes(context)))
    if choice == 2:
        longer = draw(st.sampled_from([s for s in INTERVALS if s % context == 0]))
        return n.at_interval(draw(rule_nodes(longer, depth + 1)), longer)
    if choice == 3:
        return n.rising(draw(series_nodes(context)), draw(st.integers(1, 3)))
    return Node(draw(st.sampled_from(["and", "or"])),
                (draw(rule_nodes(context, depth + 1)), draw(rule_nodes(context, depth + 1))))  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    entry=rule_nodes(),
    exit_=rule_nodes(),
    seed=st.integers(0, 2**32 - 1),
    length=st.integers(1, 1500),
    gaps=st.booleans(),
    split=st.floats(0, 1),
)
def test_evaluators_agree_on_random_mixed_interval_graphs(entry, exit_, seed, length, gaps,
                                                          split):  # fmt: skip
    strategy = Strategy("RANDOM", {}, entry, exit_)
    candles = random_candles(seed, length, integer=seed % 2 == 0, gaps=gaps)
    vectorized = evaluate_vectorized([strategy], candles)[strategy.strategy_id]
    at = int(split * length)
    evaluator = IncrementalEvaluator([strategy], interval_ms=MINUTE)
    incremental = np.zeros(length, dtype=np.int8)
    for t in range(length):
        if t == at:
            state = json.loads(json.dumps(evaluator.get_state(), allow_nan=False))
            evaluator = IncrementalEvaluator.from_state([strategy], state, interval_ms=MINUTE)
        for emission in evaluator.update(*candles.row(t), start_ms=int(candles.start_ms[t])):
            incremental[t] = 1 if emission.action == "BUY" else -1
    np.testing.assert_array_equal(vectorized, incremental)
    assert not vectorized[: strategy.warmup_at(MINUTE)].any()


def test_node_values_agree_on_five_minute_candles_too():
    node = n.at_interval(n.sub(n.ema(n.close, 3), n.at_interval(n.sma(n.close, 2), 3600)), 900)
    base = random_candles(4, 3000, gaps=True)
    bars, _ = aggregate(base, 300_000)
    got = compute_nodes([node], bars)[node]
    assert not np.isnan(got[-100:]).any()
    np.testing.assert_array_equal(_incremental(node, bars, split=len(bars) // 2), got)


# --- strategy files -------------------------------------------------------------------------


def test_a_strategy_file_node_with_an_interval_reads_longer_candles():
    document = {
        "strategies": [
            {
                "name": "HOURLY_FILTER",
                "params": {"trend": {"kind": "int", "low": 2, "high": 50, "default": 3}},
                "nodes": {
                    "trend_up": {
                        "kind": "above",
                        "inputs": [
                            "close",
                            {"kind": "ema", "inputs": ["close"], "params": {"period": "$trend"}},
                        ],
                        "interval": "1h",
                    },  # fmt: skip
                    "cross": {
                        "kind": "crosses_above",
                        "inputs": [
                            "close",
                            {"kind": "sma", "inputs": ["close"], "params": {"period": 5}},
                        ],
                    },  # fmt: skip
                },
                "entry": {"kind": "and", "inputs": ["cross", "trend_up"]},
                "exit": {
                    "kind": "crosses_below",
                    "inputs": ["close", {"kind": "close", "interval": 900}],
                },  # fmt: skip
            }
        ]
    }
    [(stype, values)] = parse_document(document)
    strategy = stype.build(values)
    assert strategy.intervals_ms == (900_000, 3_600_000)
    assert "above(close,ema(close,3))@1h" in str(strategy.entry)
    assert "close@15m" in str(strategy.exit)
    assert strategy.warmup_at(MINUTE) == 180


@pytest.mark.parametrize(
    ("interval", "message"),
    [("90 minutes", "invalid duration"), ("1500ms", "whole seconds"), (True, "invalid")],
)
def test_a_bad_interval_in_a_strategy_file_is_a_clear_error(interval, message):
    document = {
        "strategies": [{
            "name": "BAD",
            "entry": {"kind": "above", "inputs": ["close", "open"], "interval": interval},
            "exit": {"kind": "below", "inputs": ["close", "open"]},
        }]
    }  # fmt: skip
    with pytest.raises(StrategyError, match=message):
        parse_document(document)
