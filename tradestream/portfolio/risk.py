"""Risk limits: daily and weekly loss limits, and the max-drawdown circuit breaker.

Time is event time: a signal's candle end (UTC). Equity includes open positions at their
marks. At every signal, before deciding:

    new UTC day   (or ISO week, from Monday 00:00 UTC) -> its start equity = the equity just
                  before this signal's price was marked; an earlier day never resets it
    daily loss    = 1 - equity / day start equity;  >= daily_loss_limit  -> entries halted
                    until the next UTC day (latched: a recovery the same day does not lift it)
    weekly loss   = the same per ISO week with weekly_loss_limit
    drawdown      = 1 - equity / peak equity;       >= max_drawdown -> the circuit breaker
                    trips: no entries until `tradestream paper reset-breaker` (which also
                    restarts the peak at the current equity); with breaker_flatten, every
                    position is closed at its mark when it trips

Exits are never blocked: a halted portfolio can still close positions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tradestream.portfolio.config import PortfolioConfig

DAY_MS = 86_400_000


def day_key(time_ms: int) -> int:
    return time_ms // DAY_MS


def week_key(time_ms: int) -> int:
    """ISO weeks: epoch day 0 was a Thursday, so weeks turn on Mondays."""
    return (time_ms // DAY_MS + 3) // 7


@dataclass
class RiskState:
    peak_equity: float
    day_key: int = -1
    day_start_equity: float = 0.0
    week_key: int = -1
    week_start_equity: float = 0.0
    daily_halt_key: int = -1  # the day whose entries are halted
    weekly_halt_key: int = -1
    breaker: bool = False
    breaker_reason: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RiskStatus:
    equity: float
    peak_equity: float
    drawdown: float
    daily_loss: float
    weekly_loss: float
    daily_halted: bool
    weekly_halted: bool
    breaker: bool

    @property
    def halt_reason(self) -> str:
        """Why entries are refused ('' when they are allowed)."""
        if self.breaker:
            return "breaker"
        if self.weekly_halted:
            return "weekly_loss_limit"
        if self.daily_halted:
            return "daily_loss_limit"
        return ""

    def to_json(self) -> dict:
        out = asdict(self)
        out["halt_reason"] = self.halt_reason
        return out


def _hit(value: float, limit: float) -> bool:
    """A limit > 0 is hit at its value (with a 1e-12 allowance for float rounding)."""
    return limit > 0 and value >= limit - 1e-12


def _loss(start: float, equity: float) -> float:
    return 1.0 - equity / start if start > 0 else 0.0


def update_risk(
    state: RiskState, config: PortfolioConfig, equity_before: float, equity: float, time_ms: int
) -> tuple[RiskStatus, list[str]]:
    """Advances the risk state to an event and says what it allows.

    Args:
        state: updated in place.
        equity_before: equity before this event's price was marked (a new period's anchor).
        equity: equity after it.
        time_ms: event time.

    Returns:
        (status, messages for the events log: limits hit, breaker tripped).
    """
    events: list[str] = []
    day, week = day_key(time_ms), week_key(time_ms)
    if day > state.day_key:
        state.day_key, state.day_start_equity = day, equity_before
    if week > state.week_key:
        state.week_key, state.week_start_equity = week, equity_before
    state.peak_equity = max(state.peak_equity, equity)
    drawdown = _loss(state.peak_equity, equity)
    daily, weekly = _loss(state.day_start_equity, equity), _loss(state.week_start_equity, equity)
    if _hit(daily, config.daily_loss_limit):
        if state.daily_halt_key != state.day_key:
            events.append(
                f"daily loss {daily:.2%} >= {config.daily_loss_limit:.2%}: "
                "entries halted until the next UTC day"
            )
        state.daily_halt_key = state.day_key
    if _hit(weekly, config.weekly_loss_limit):
        if state.weekly_halt_key != state.week_key:
            events.append(
                f"weekly loss {weekly:.2%} >= {config.weekly_loss_limit:.2%}: "
                "entries halted until the next ISO week"
            )
        state.weekly_halt_key = state.week_key
    if not state.breaker and (equity <= 0 or _hit(drawdown, config.max_drawdown)):
        state.breaker = True
        state.breaker_reason = f"drawdown {drawdown:.2%} >= {config.max_drawdown:.2%}"
        events.append(f"circuit breaker tripped: {state.breaker_reason}")
    return status_of(state, equity), events


def status_of(state: RiskState, equity: float) -> RiskStatus:
    return RiskStatus(
        equity=equity,
        peak_equity=state.peak_equity,
        drawdown=_loss(state.peak_equity, equity),
        daily_loss=_loss(state.day_start_equity, equity),
        weekly_loss=_loss(state.week_start_equity, equity),
        daily_halted=state.daily_halt_key == state.day_key and state.day_key >= 0,
        weekly_halted=state.weekly_halt_key == state.week_key and state.week_key >= 0,
        breaker=state.breaker,
    )


def reset_breaker(state: RiskState, equity: float) -> None:
    """Re-arms the breaker; the drawdown is measured from the current equity on."""
    state.breaker = False
    state.breaker_reason = ""
    state.peak_equity = equity
