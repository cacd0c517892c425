"""Position sizing on hand-computed cases."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.sizing import entry_size, fill_price, stop_distance


def cfg(**kw) -> PortfolioConfig:
    return PortfolioConfig(**{"fee": 0.0, **kw})


def test_sizing_fixed_fraction_buys_fraction_of_equity():
    # 10% of 10,000 at 100 -> 1,000 notional -> 10 units.
    size = entry_size(cfg(fraction=0.1), "BUY", 100.0, 10_000.0, 10_000.0)
    assert size.qty == pytest.approx(10.0)
    assert size.stop_price is None


def test_sizing_fixed_fraction_is_capped_by_buying_power_including_fee():
    # Wants 50% of 10,000 = 5,000, but only 500 cash: 500 / (100 * 1.001) units.
    size = entry_size(cfg(fraction=0.5, fee=0.001), "BUY", 100.0, 10_000.0, 500.0)
    assert size.qty == pytest.approx(500.0 / 100.1)


def test_sizing_short_needs_no_cash_but_respects_the_position_cap():
    size = entry_size(cfg(fraction=0.5), "SELL", 100.0, 10_000.0, 0.0)
    assert size.qty == pytest.approx(50.0)


def test_sizing_risk_per_trade_with_percentage_stop():
    # Risk 1% of 10,000 = 100; stop 2% of 100 = 2 -> 50 units; stop at 98 (long), 102 (short).
    c = cfg(sizing="risk", risk_per_trade=0.01, stop="pct", stop_pct=0.02)
    long = entry_size(c, "BUY", 100.0, 10_000.0, 10_000.0)
    short = entry_size(c, "SELL", 100.0, 10_000.0, 10_000.0)
    assert long.qty == pytest.approx(50.0) and long.stop_price == pytest.approx(98.0)
    assert short.qty == pytest.approx(50.0) and short.stop_price == pytest.approx(102.0)


def test_sizing_risk_per_trade_with_atr_stop():
    # ATR 1.5, 2 ATRs -> distance 3; risk 100 -> 33.33 units; stop 97.
    c = cfg(sizing="risk", risk_per_trade=0.01, stop="atr", atr_multiple=2.0)
    size = entry_size(c, "BUY", 100.0, 10_000.0, 10_000.0, atr=1.5)
    assert size.qty == pytest.approx(100.0 / 3.0)
    assert size.stop_price == pytest.approx(97.0)
    assert stop_distance(c, 100.0, 1.5) == pytest.approx(3.0)


def test_sizing_atr_stop_without_atr_is_not_ready():
    c = cfg(sizing="risk", stop="atr")
    assert entry_size(c, "BUY", 100.0, 10_000.0, 10_000.0, atr=None).reason == "atr_not_ready"


def test_sizing_risk_is_capped_by_max_position_fraction_and_cash():
    # Risk 5% = 500 over a 1% stop (1.0) -> 500 units = 50,000 notional: capped at
    # 100% of equity with the entry fee (10,000 / 100.1 = 99.9001), as by cash incl. fee.
    c = cfg(sizing="risk", risk_per_trade=0.05, stop="pct", stop_pct=0.01, fee=0.001)
    size = entry_size(c, "BUY", 100.0, 10_000.0, 10_000.0)
    assert size.qty == pytest.approx(10_000.0 / 100.1)
    capped = entry_size(c.model_copy(update={"max_position_fraction": 0.25}), "BUY", 100.0,
                        10_000.0, 10_000.0)  # fmt: skip
    assert capped.qty == pytest.approx(2_500.0 / 100.1)  # 25% of equity, fee included


def test_sizing_a_short_is_capped_with_its_entry_fee_like_a_long():
    # All-in (fraction 1): notional + fee = equity, so a short and a long of the same price
    # have one size (what the vectorized simulator's all-in entries assume).
    c = cfg(fraction=1.0, fee=0.002, allow_short=True)
    short = entry_size(c, "SELL", 50.0, 8_000.0, 8_000.0)
    long_ = entry_size(c, "BUY", 50.0, 8_000.0, 8_000.0)
    assert short.qty == pytest.approx(8_000.0 / (50.0 * 1.002))
    assert long_.qty == pytest.approx(short.qty)


def test_sizing_quantity_step_floors_and_min_notional_skips():
    size = entry_size(cfg(fraction=0.1, qty_step=0.3), "BUY", 100.0, 10_000.0, 10_000.0)
    assert size.qty == pytest.approx(9.9)  # 10 floored to a multiple of 0.3
    tiny = entry_size(cfg(fraction=0.0001, min_notional=5.0), "BUY", 100.0, 10_000.0, 10_000.0)
    assert tiny.qty == 0 and tiny.reason == "too_small"  # notional 1 < 5


def test_sizing_without_equity_trades_nothing():
    assert entry_size(cfg(), "BUY", 100.0, 0.0, 0.0).reason == "no_equity"


def test_sizing_fill_price_slippage_moves_against_the_trader():
    assert fill_price(100.0, "BUY", 10) == pytest.approx(100.1)
    assert fill_price(100.0, "SELL", 10) == pytest.approx(99.9)


def test_sizing_config_risk_sizing_requires_a_stop():
    with pytest.raises(ValidationError, match="needs a stop"):
        PortfolioConfig(sizing="risk", stop="none")
    with pytest.raises(ValidationError):
        PortfolioConfig(fraction=1.5)
