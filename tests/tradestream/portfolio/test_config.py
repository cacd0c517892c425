"""The paper executor's configuration: which strategies it follows and how they weigh."""

from __future__ import annotations

from tradestream.portfolio.config import PortfolioConfig

SMA_ID, SMA_TYPE = "SMA_CROSSOVER(fast=10,slow=30)", "SMA_CROSSOVER"
RSI_ID, RSI_TYPE = "RSI_OVERBOUGHT_OVERSOLD(period=14)", "RSI_OVERBOUGHT_OVERSOLD"


def test_config_strategy_patterns_match_type_or_id_in_any_case():
    for pattern in ("sma_crossover", "SMA_*", "sma_*", "Sma_Crossover(fast=10,*"):
        config = PortfolioConfig(strategies=(pattern,))
        assert config.wants_strategy(SMA_ID, SMA_TYPE), pattern
        assert not config.wants_strategy(RSI_ID, RSI_TYPE), pattern


def test_config_strategy_patterns_still_match_the_rest_exactly():
    config = PortfolioConfig(strategies=("sma_crossover(fast=11,*",))
    assert not config.wants_strategy(SMA_ID, SMA_TYPE)
    assert PortfolioConfig().wants_strategy(RSI_ID, RSI_TYPE)  # no pattern: every strategy


def test_config_vote_weights_match_patterns_in_any_case():
    config = PortfolioConfig(aggregation="vote", weights=(("rsi_*", 2.0), ("SMA_*", 0.5)))
    assert config.weight_of(RSI_ID, RSI_TYPE) == 2.0
    assert config.weight_of(SMA_ID, SMA_TYPE) == 0.5
    assert config.weight_of("MACD_CROSSOVER()", "MACD_CROSSOVER") == 1.0
