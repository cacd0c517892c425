"""Every library type, on a series built to trigger it, emits both BUY and SELL and nothing
during its warm-up, in both evaluators; the registry validates names and parameters."""

from __future__ import annotations

import numpy as np
import pytest

from tests.strategies.trigger import trigger_candles
from tradestream.strategies import library
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.incremental import IncrementalEvaluator
from tradestream.strategies.vectorized import evaluate_vectorized, explain_signals

CANDLES = trigger_candles()
# Multi-timeframe types warm up on hours of 1-minute candles (NSE_WEIGHTED_VOTE: 34 h).
LONG_CANDLES = trigger_candles(3000)
MULTI_TIMEFRAME = ("MTF_TREND_CROSSOVER", "RSI_TWO_TIMEFRAMES", "NSE_WEIGHTED_VOTE")


def test_library_has_the_sixty_reference_types_plus_canonical_classics_and_multi_timeframe():
    assert len(library.names()) == 67
    for name in ("SMA_CROSSOVER", "RSI_OVERBOUGHT_OVERSOLD", "MICRO_REVERSAL_SCALPER"):
        assert name in library.names()
    reading_longer = [n for n in library.names() if library.build(n).intervals_ms]
    assert sorted(reading_longer) == sorted(MULTI_TIMEFRAME)


@pytest.mark.parametrize("type_name", library.names())
def test_type_on_trigger_series_emits_buy_and_sell_and_nothing_in_warmup(type_name):
    strategy = library.build(type_name)
    candles = LONG_CANDLES if type_name in MULTI_TIMEFRAME else CANDLES
    warmup = strategy.warmup_at(candles.interval_ms)
    signals = evaluate_vectorized([strategy], candles)[strategy.strategy_id]
    assert (signals == 1).any() and (signals == -1).any()
    assert not signals[:warmup].any()
    evaluator = IncrementalEvaluator([strategy], interval_ms=candles.interval_ms)
    indices = [
        e.index
        for t in range(len(candles))
        for e in evaluator.update(
            *candles.row(t), start_ms=int(candles.start_ms[t]), book=candles.book_values(t)
        )
    ]
    assert indices == list(np.flatnonzero(signals))
    assert min(indices) >= warmup


def test_sma_crossover_id_params_and_warmup():
    strategy = library.build("SMA_CROSSOVER", {"slow": 20, "fast": 5})
    assert strategy.strategy_id == "SMA_CROSSOVER(fast=5,slow=20)"
    assert strategy.params == {"fast": 5, "slow": 20}
    assert strategy.warmup == 21  # SMA(20) defined at index 19, a cross needs index 20 too


def test_sma_crossover_constraint_and_unknown_names_are_errors():
    with pytest.raises(StrategyError, match="fast < slow"):
        library.build("SMA_CROSSOVER", {"fast": 30, "slow": 10})
    with pytest.raises(StrategyError, match="unknown parameter"):
        library.build("SMA_CROSSOVER", {"fats": 3})
    with pytest.raises(StrategyError, match="outside its bounds"):
        library.build("SMA_CROSSOVER", {"fast": 0})
    with pytest.raises(StrategyError, match="integer"):
        library.build("SMA_CROSSOVER", {"fast": 2.5})
    with pytest.raises(StrategyError, match="unknown strategy type"):
        library.get("NOPE")


def test_reasons_name_the_rule_that_fired():
    strategy = library.build("ATR_CCI")
    reasons = explain_signals(strategy, CANDLES)
    assert any(r.startswith("entry: crosses_above(cci(") for _, a, r in reasons if a == "BUY")
    sells = {r.split("(")[0] for _, a, r in reasons if a == "SELL"}
    assert sells <= {"exit: crosses_below", "exit: below"}
    evaluator = IncrementalEvaluator([strategy])
    emitted = [
        (e.index, e.action, e.reason)
        for t in range(len(CANDLES))
        for e in evaluator.update(*CANDLES.row(t))
    ]
    assert emitted == reasons


def test_rsi_classic_cooldown_drops_repeats():
    loose = library.build("RSI_OVERBOUGHT_OVERSOLD", {"cooldown": 1})
    strict = library.build("RSI_OVERBOUGHT_OVERSOLD", {"cooldown": 200})
    signals = evaluate_vectorized([loose, strict], CANDLES)
    loose_buys = np.flatnonzero(signals[loose.strategy_id] == 1)
    strict_buys = np.flatnonzero(signals[strict.strategy_id] == 1)
    assert len(strict_buys) < len(loose_buys)
    assert np.all(np.diff(strict_buys) > 200)


def test_library_lookup_takes_a_type_name_in_any_case_and_keeps_the_registered_name():
    for name in ("sma_crossover", "Sma_Crossover", " SMA_CROSSOVER "):
        assert library.get(name) is library.get("SMA_CROSSOVER")
    built = library.build("rsi_overbought_oversold", {"period": 10})
    assert built.strategy_id == library.build("RSI_OVERBOUGHT_OVERSOLD", {"period": 10}).strategy_id
    assert built.strategy_id.startswith("RSI_OVERBOUGHT_OVERSOLD(")


@pytest.mark.parametrize("name", ["nope", "", ["SMA_CROSSOVER"], None])
def test_library_lookup_of_an_unknown_name_or_a_non_name_is_a_strategy_error(name):
    with pytest.raises(StrategyError, match="unknown strategy type"):
        library.get(name)
