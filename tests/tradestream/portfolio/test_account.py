"""Portfolio accounting: average price, realized P&L, shorts, flips, equity."""

from __future__ import annotations

import pytest

from tradestream.portfolio.account import Portfolio


def test_portfolio_adding_to_a_long_averages_the_price():
    pf = Portfolio(cash=10_000.0)
    pf.apply("X", "s", 10, 100.0, 1.0, 0)
    pf.apply("X", "s", 30, 120.0, 3.0, 1)
    pos = pf.position("X", "s")
    assert pos.qty == 40
    assert pos.avg_price == pytest.approx((10 * 100 + 30 * 120) / 40)  # 115
    assert pf.cash == pytest.approx(10_000 - 1_000 - 1 - 3_600 - 3)
    assert pf.fees_paid == pytest.approx(4.0)


def test_portfolio_partial_close_realizes_pnl_and_keeps_the_average():
    pf = Portfolio(cash=10_000.0)
    pf.apply("X", "s", 40, 115.0, 0.0, 0)
    realized = pf.apply("X", "s", -10, 125.0, 0.0, 1)
    assert realized == pytest.approx(10 * (125 - 115))
    assert pf.position("X", "s").qty == 30
    assert pf.position("X", "s").avg_price == 115.0
    pf.mark("X", 110.0, 2)
    assert pf.unrealized_pnl() == pytest.approx(30 * (110 - 115))
    assert pf.equity() == pytest.approx(10_000 - 4_600 + 1_250 + 30 * 110)


def test_portfolio_short_profits_when_price_falls():
    pf = Portfolio(cash=1_000.0)
    pf.apply("X", "s", -5, 100.0, 0.5, 0)
    assert pf.cash == pytest.approx(1_000 + 500 - 0.5)
    pf.mark("X", 90.0, 1)
    assert pf.equity() == pytest.approx(1_499.5 - 450)  # 1,049.5: +50 - fee
    assert pf.short_liability() == pytest.approx(450.0)
    assert pf.buying_power() == pytest.approx(1_049.5)
    realized = pf.apply("X", "s", 5, 90.0, 0.45, 1)
    assert realized == pytest.approx(50.0)
    assert pf.position("X", "s") is None
    assert pf.cash == pytest.approx(1_000 + 50 - 0.5 - 0.45)


def test_portfolio_fill_through_zero_opens_the_other_side_at_the_fill_price():
    pf = Portfolio(cash=0.0)
    pf.apply("X", "s", 2, 10.0, 0.0, 0)
    realized = pf.apply("X", "s", -5, 12.0, 0.0, 1)
    assert realized == pytest.approx(2 * (12 - 10))
    pos = pf.position("X", "s")
    assert pos.qty == -3 and pos.avg_price == 12.0 and pos.opened_ms == 1


def test_portfolio_rejects_zero_quantity_and_bad_marks():
    pf = Portfolio(cash=0.0)
    with pytest.raises(ValueError):
        pf.apply("X", "s", 0, 10.0, 0.0, 0)
    with pytest.raises(ValueError):
        pf.mark("X", float("nan"), 0)
