"""Risk limits on hand-computed cases: daily/weekly loss limits, the drawdown breaker."""

from __future__ import annotations

import pytest

from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.risk import DAY_MS, RiskState, reset_breaker, update_risk, week_key

T = 1_700_006_400_000  # Wednesday 2023-11-15 00:00 UTC
HOUR = 3_600_000


def limits(**kw) -> PortfolioConfig:
    return PortfolioConfig(**{"daily_loss_limit": 0.05, "weekly_loss_limit": 0.08,
                          "max_drawdown": 0.20, **kw})  # fmt: skip


def test_risk_daily_loss_limit_halts_entries_until_the_next_utc_day():
    cfg, st = limits(), RiskState(peak_equity=10_000.0)
    status, _ = update_risk(st, cfg, 10_000.0, 9_600.0, T + HOUR)  # -4%: allowed
    assert status.daily_loss == pytest.approx(0.04) and not status.halt_reason
    status, events = update_risk(st, cfg, 9_600.0, 9_500.0, T + 2 * HOUR)  # -5%: halted
    assert status.daily_halted and status.halt_reason == "daily_loss_limit"
    assert events and "daily loss 5.00%" in events[0]
    # Recovering the same day does not lift the halt (latched).
    status, events = update_risk(st, cfg, 9_500.0, 9_900.0, T + 3 * HOUR)
    assert status.halt_reason == "daily_loss_limit" and not events
    # Next day: the anchor is the equity before that day's first mark (9,900).
    status, _ = update_risk(st, cfg, 9_900.0, 9_800.0, T + DAY_MS + HOUR)
    assert not status.daily_halted
    assert status.daily_loss == pytest.approx(1 - 9_800 / 9_900)


def test_risk_weekly_loss_limit_spans_days_and_resets_on_monday():
    cfg, st = limits(daily_loss_limit=0.0), RiskState(peak_equity=10_000.0)
    update_risk(st, cfg, 10_000.0, 9_700.0, T)  # Wed -3%
    update_risk(st, cfg, 9_700.0, 9_400.0, T + DAY_MS)  # Thu -6% on the week
    status, _ = update_risk(st, cfg, 9_400.0, 9_200.0, T + 2 * DAY_MS)  # Fri -8%: halted
    assert status.weekly_halted and status.halt_reason == "weekly_loss_limit"
    monday = T + 5 * DAY_MS
    assert week_key(monday) == week_key(T) + 1 and week_key(monday - 1) == week_key(T)
    status, _ = update_risk(st, cfg, 9_200.0, 9_150.0, monday)
    assert not status.weekly_halted
    assert status.weekly_loss == pytest.approx(1 - 9_150 / 9_200)


def test_risk_max_drawdown_trips_the_breaker_until_reset():
    cfg, st = limits(daily_loss_limit=0.0, weekly_loss_limit=0.0), RiskState(10_000.0)
    update_risk(st, cfg, 10_000.0, 12_500.0, T)  # new peak 12,500
    status, _ = update_risk(st, cfg, 12_500.0, 10_100.0, T + HOUR)  # -19.2%
    assert not status.breaker and status.drawdown == pytest.approx(0.192)
    status, events = update_risk(st, cfg, 10_100.0, 10_000.0, T + 2 * HOUR)  # -20%
    assert status.breaker and status.halt_reason == "breaker"
    assert "circuit breaker tripped: drawdown 20.00%" in events[0]
    status, _ = update_risk(st, cfg, 10_000.0, 12_600.0, T + 3 * HOUR)  # new high: still off
    assert status.breaker
    reset_breaker(st, 12_600.0)
    status, _ = update_risk(st, cfg, 12_600.0, 12_000.0, T + 4 * HOUR)
    assert not status.breaker and status.drawdown == pytest.approx(1 - 12_000 / 12_600)


def test_risk_limits_set_to_zero_are_off():
    cfg = limits(daily_loss_limit=0, weekly_loss_limit=0, max_drawdown=0)
    status, events = update_risk(RiskState(10_000.0), cfg, 10_000.0, 5_000.0, T)
    assert not status.halt_reason and not events


def test_risk_an_earlier_event_time_never_resets_the_day():
    cfg, st = limits(), RiskState(10_000.0)
    update_risk(st, cfg, 10_000.0, 9_000.0, T + DAY_MS)  # halted on day 2
    status, _ = update_risk(st, cfg, 9_000.0, 9_000.0, T)  # a late signal of day 1
    assert status.daily_halted and st.day_key == (T + DAY_MS) // DAY_MS
