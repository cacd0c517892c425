"""Portfolio backtests: every symbol and strategy trading one shared account, with the
portfolio engine of `tradestream paper run` (:mod:`tradestream.portfolio`).

    timelines = [symbol_timeline(series, strategies) for series in all_series]
    run = run_portfolio(config, timelines)

Each symbol's signals are the ones the realtime pipeline emits for its candles (the same
strategies, the same ids, price = the candle's close, confidence 1, the same order intents
of strategies that declare an order); the vectorized evaluator computes them, as it does for
single-symbol backtests (the two evaluators agree, see tests/strategies/test_agreement.py).

Event order (what makes a run reproducible, and what the paper executor must reproduce): the
candle ends in time order; at each end, first every symbol's candle in symbol order
(`PortfolioEngine.on_candle`: stops inside the candle's range, the mark at its close, ATR
candles), then the signals of that end, by symbol and then strategy id. So every position is
marked at the same close before any signal of that time is sized, and no signal can see a
later candle.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from tradestream.backtest.series import CandleSeries
from tradestream.market.signal_messages import signal_id
from tradestream.portfolio.account import Fill
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import (
    EngineState,
    EquityPoint,
    PortfolioEngine,
    RiskEvent,
    SignalEvent,
    SignalRecord,
)
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.vectorized import (
    explain_signals,
    signal_confidences,
    signal_orders,
)

_CANDLE, _SIGNAL = 0, 1
_NO_ORDER = ("", None, 0, None, None)


@dataclass(frozen=True)
class SymbolTimeline:
    """One symbol's candles and the signals its strategies give on them, in time order."""

    series: CandleSeries
    signals: tuple[SignalEvent, ...]

    @property
    def symbol(self) -> str:
        return self.series.symbol

    def events(self) -> Iterator[tuple]:
        """(candle end, kind, symbol, strategy id, payload) in event order."""
        s = self.series
        ends = (s.start_ms + s.interval_ms).tolist()
        signals = iter(self.signals)
        pending = next(signals, None)
        for i, end in enumerate(ends):
            yield (end, _CANDLE, s.symbol, "", i)
            while pending is not None and pending.time_ms == end:
                yield (end, _SIGNAL, s.symbol, pending.strategy_id, pending)
                pending = next(signals, None)


def symbol_timeline(series: CandleSeries, strategies: Sequence[Strategy]) -> SymbolTimeline:
    """The signals of every strategy over one symbol's candles (see the module docstring)."""
    arrays = series.arrays()
    events = []
    for strategy in strategies:
        orders = signal_orders(strategy, arrays)
        confidences = signal_confidences(strategy, arrays)
        for t, action, reason in explain_signals(strategy, arrays):
            start = int(series.start_ms[t])
            kind, price, time_in_force, stop, take_profit = orders.get(t, _NO_ORDER)
            events.append(
                SignalEvent(
                    signal_id=signal_id(strategy.strategy_id, series.symbol, start, action),
                    symbol=series.symbol,
                    action=action,
                    price=float(series.close[t]),
                    candle_start_ms=start,
                    candle_interval_ms=series.interval_ms,
                    strategy_id=strategy.strategy_id,
                    strategy_type=strategy.type_name,
                    reason=reason,
                    confidence=confidences.get(t, 1.0),
                    order_type=kind,
                    order_price=price or 0.0,
                    time_in_force=time_in_force,
                    stop_price=stop or 0.0,
                    take_profit_price=take_profit or 0.0,
                )
            )
    events.sort(key=lambda e: (e.candle_start_ms, e.strategy_id))
    return SymbolTimeline(series, tuple(events))


@dataclass
class PortfolioRun:
    """What a portfolio backtest did: the account at the end and everything on the way."""

    config: PortfolioConfig
    snapshot: dict
    fills: list[Fill] = field(default_factory=list)
    equity: list[EquityPoint] = field(default_factory=list)
    events: list[RiskEvent] = field(default_factory=list)
    signals: list[SignalRecord] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    interval_ms: int = 0
    state: EngineState | None = None  # the engine's state at the end (for a database)

    def equity_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(candle end times, equity) of the equity curve, one point per candle end."""
        times = np.array([p.time_ms for p in self.equity], dtype=np.int64)
        values = np.array([p.equity for p in self.equity], dtype=np.float64)
        return times, values


def run_portfolio(
    config: PortfolioConfig,
    timelines: Iterable[SymbolTimeline],
    progress: Callable[[int, int], None] | None = None,
) -> PortfolioRun:
    """Drives one PortfolioEngine over every symbol's candles and signals in event order.

    Args:
        config: the portfolio's settings (the same as `paper run`'s).
        timelines: one per symbol.
        progress: called now and then with (candle ends done, candle ends in all).

    Raises:
        ValueError: timelines of different candle intervals (one account marks every symbol
            at the same candle ends), or of one symbol twice.

    With ATR stops, the ATR is built from these candles (`atr_interval_ms` becomes their
    interval).
    """
    timelines = sorted(timelines, key=lambda tl: tl.symbol)
    symbols = [tl.symbol for tl in timelines]
    if len(set(symbols)) != len(symbols):
        raise ValueError("a symbol appears in two timelines")
    intervals = {tl.series.interval_ms for tl in timelines}
    if len(intervals) > 1:
        listed = ", ".join(f"{tl.symbol} {tl.series.interval_ms} ms" for tl in timelines)
        raise ValueError(f"a portfolio needs one candle interval for every symbol, got {listed}")
    interval = intervals.pop() if intervals else 0
    if config.needs_trades and interval:
        # The ATR of a backtest is built from the candles it trades on.
        config = config.model_copy(update={"atr_interval_ms": interval})
    engine = PortfolioEngine(config, candles=True)
    run = PortfolioRun(config, {}, interval_ms=interval)
    series = {tl.symbol: tl.series for tl in timelines}
    ends = sorted({int(e) for tl in timelines for e in tl.series.start_ms + tl.series.interval_ms})
    seen: set[str] = set()
    done, last_end = 0, None
    merged = heapq.merge(*(tl.events() for tl in timelines), key=lambda e: e[:4])
    for end, kind, symbol, _, payload in merged:
        if end != last_end:
            done += 1
            last_end = end
            if progress is not None and done % 10_000 == 0:
                progress(done, len(ends))
            _collect(run, engine)
        if kind == _CANDLE:
            s = series[symbol]
            i = payload
            engine.on_candle(
                symbol,
                int(s.start_ms[i]),
                s.interval_ms,
                float(s.open[i]),
                float(s.high[i]),
                float(s.low[i]),
                float(s.close[i]),
            )
        else:
            engine.on_signal(payload, seen)
    _collect(run, engine)
    run.snapshot = engine.snapshot()
    run.counters = dict(engine.state.counters)
    run.state = engine.state
    if progress is not None and ends:
        progress(len(ends), len(ends))
    return run


def _collect(run: PortfolioRun, engine: PortfolioEngine) -> None:
    """Moves what the engine changed since the last call into the run."""
    changes = engine.take_changes()
    run.fills.extend(changes.fills)
    run.events.extend(changes.events)
    points = [changes.equity[k] for k in sorted(changes.equity)]
    if points and run.equity and run.equity[-1].seq == points[0].seq:
        run.equity[-1] = points.pop(0)  # a point of the same time, replaced
    run.equity.extend(points)
    run.signals.extend(sorted(changes.signals.values(), key=lambda r: r.seq))


def attribution(run: PortfolioRun) -> dict[str, dict[str, float | int]]:
    """Per symbol: fills, fees, realized P&L, unrealized P&L of open positions, net P&L.

    Net P&L = realized + unrealized - fees; over all symbols it adds up to final equity minus
    the initial cash.
    """
    out: dict[str, dict[str, float | int]] = {}
    for fill in run.fills:
        row = out.setdefault(fill.symbol, _empty_attribution())
        row["fills"] += 1
        row["fees_paid"] += fill.fee
        row["realized_pnl"] += fill.realized_pnl
    marks = run.snapshot.get("marks", {})
    for symbol, _book, qty, avg_price, _stop in run.snapshot.get("positions", []):
        row = out.setdefault(symbol, _empty_attribution())
        row["unrealized_pnl"] += qty * (marks[symbol][0] - avg_price)
        row["open_positions"] += 1
    for row in out.values():
        row["net_pnl"] = row["realized_pnl"] + row["unrealized_pnl"] - row["fees_paid"]
    return dict(sorted(out.items()))


def _empty_attribution() -> dict[str, float | int]:
    return {
        "fills": 0,
        "fees_paid": 0.0,
        "realized_pnl": 0.0,
        "unrealized_pnl": 0.0,
        "net_pnl": 0.0,
        "open_positions": 0,
    }


def round_trips(fills: Sequence[Fill]) -> list[dict]:
    """Closed positions as round trips: entry and closing fill of one (symbol, book).

    The engine opens a position with one fill and closes it with one fill (it never adds to
    or trims a position), so the pairs are exact. P&L is net of both fills' fees.
    """
    open_: dict[tuple[str, str], Fill] = {}
    trips = []
    for fill in fills:
        key = (fill.symbol, fill.book)
        if fill.kind == "entry":
            open_[key] = fill
            continue
        entry = open_.pop(key, None)
        if entry is None:
            continue
        pnl = fill.realized_pnl - entry.fee - fill.fee
        trips.append(
            {
                "symbol": fill.symbol,
                "book": fill.book,
                "side": "LONG" if entry.side == "BUY" else "SHORT",
                "entry_ms": entry.time_ms,
                "exit_ms": fill.time_ms,
                "qty": entry.qty,
                "entry_price": entry.price,
                "exit_price": fill.price,
                "exit_kind": fill.kind,
                "pnl": pnl,
                "return": pnl / (entry.qty * entry.price),
            }
        )
    return trips
