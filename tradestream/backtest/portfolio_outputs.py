"""The files of a portfolio backtest (`tradestream backtest --portfolio --output DIR`).

    summary.json   the run, the input, `portfolio` (the account at the end: the quantities
                   `paper status --json` shows under `account`), `metrics` of the equity
                   curve, per-symbol `attribution`, the risk events and the settings
    fills.csv      every fill, as the paper executor records it
    trades.csv     closed positions (entry and closing fill), P&L net of both fees
    equity.csv     the account at every candle end: equity, cash, exposure, drawdown
    signals.csv    every signal and what the engine decided (as `paper status` lists them)
    candles.csv    the candles every symbol traded on
    report.html    a page a person can read (:mod:`tradestream.reports.portfolio_report`)
    portfolio.db   the portfolio in the database schema of `paper run` (`--db` writes it to
                   another database instead, PostgreSQL included)

Metrics follow :mod:`tradestream.backtest.metrics` over the portfolio's equity at every candle
end (annualized ones omitted under 30 days, with the reason); trade statistics count the
round trips of trades.csv.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from tradestream.backtest.config import YEAR_MS
from tradestream.backtest.metrics import (
    ANNUALIZED_METRICS,
    annualization_caveat,
    equity_metrics,
)
from tradestream.backtest.outputs import (
    CANDLES_HEADER,
    RejectionSummary,
    SeriesInfo,
    candles_csv,
    csv_field,
    csv_number,
    input_conflict_lines,
    input_json,
    iso_time,
    json_number,
    write_json,
    write_text,
)
from tradestream.backtest.portfolio import PortfolioRun, attribution, round_trips
from tradestream.backtest.series import CandleSeries
from tradestream.ledger.store import PaperStore
from tradestream.portfolio.engine import Changes

FILLS_HEADER = "time,symbol,book,side,qty,price,fee,realized_pnl,kind,cash_after,signal_id"
TRADES_HEADER = (
    "symbol,book,side,entry_time,exit_time,qty,entry_price,exit_price,exit_kind,pnl,return"
)
EQUITY_HEADER = "time,equity,cash,exposure,drawdown"
SIGNALS_HEADER = "time,symbol,strategy,action,price,decision,signal_id"
EVENTS_SHOWN = 5  # risk events listed on the console
PORTFOLIO_MODEL = (
    "One account for every symbol and strategy, traded by the portfolio engine of "
    "`tradestream paper run` with the same settings. At each candle end: every symbol's "
    "candle first (stops inside its high-low range, a gap through a stop fills at the open; "
    "the mark at its close), then that end's signals by symbol and strategy, acted on at the "
    "signal's price (the close)."
)


def portfolio_summary(
    run: PortfolioRun,
    command: str,
    inputs: Sequence[str],
    input_kind: str,
    strategies: int,
    series: Sequence[SeriesInfo],
    rejected: RejectionSummary,
    periods_per_year: float = 0.0,
) -> dict[str, Any]:
    """The summary.json document of a portfolio backtest."""
    snap = run.snapshot
    initial = run.config.initial_cash
    trips = round_trips(run.fills)
    metrics, caveat = _metrics(run, trips, periods_per_year)
    return {
        "run": {
            "command": command,
            "mode": "portfolio",
            "inputs": list(inputs),
            "input_kind": input_kind,
            "parameter_sets": strategies,
            "model": PORTFOLIO_MODEL,
            "settings": run.config.model_dump(mode="json"),
        },
        "input": input_json(series, rejected),
        "portfolio": {
            "initial_cash": initial,
            "final_equity": snap["equity"],
            "cash": snap["cash"],
            "realized_pnl": snap["realized_pnl"],
            "fees_paid": snap["fees_paid"],
            "fills": snap["fills"],
            "signals": snap["signals"],
            "open_positions": [
                {"symbol": s, "book": b, "qty": q, "avg_price": a, "stop_price": stop}
                for s, b, q, a, stop in snap["positions"]
            ],
            "risk": snap["risk"],
            "counters": dict(sorted(run.counters.items())),
        },
        "metrics": metrics,
        "annualized_omitted": caveat,
        "attribution": attribution(run),
        "risk_events": [
            {"time": iso_time(e.time_ms), "kind": e.kind, "message": e.message} for e in run.events
        ],
    }


def _metrics(run: PortfolioRun, trips: list[dict], periods_per_year: float):
    times, equity = run.equity_arrays()
    out: dict[str, Any] = {}
    caveat = None
    if len(equity):
        interval = run.interval_ms
        starts = times - interval
        periods = periods_per_year or YEAR_MS / interval
        curve = equity_metrics(equity[None, :], run.config.initial_cash, starts, interval, periods)
        caveat = annualization_caveat(int(times[-1] - starts[0]))
        for name, values in curve.items():
            value = values[0].item()
            omitted = caveat is not None and name in ANNUALIZED_METRICS
            out[name] = None if omitted else json_number(value)
        exposed = np.array([p.exposure > 0 for p in run.equity])
        out["exposure"] = float(exposed.mean())
    pnl = np.array([t["pnl"] for t in trips], dtype=np.float64)
    wins, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    out["num_trades"] = len(trips)
    out["win_rate"] = json_number(float((pnl > 0).mean())) if len(pnl) else None
    out["profit_factor"] = json_number(float(wins / losses)) if losses > 0 else None
    out["avg_trade_pnl"] = json_number(float(pnl.mean())) if len(pnl) else None
    out["final_equity"] = run.snapshot["equity"]
    return out, caveat


def write_portfolio_outputs(
    out_dir: str,
    run: PortfolioRun,
    series: Sequence[CandleSeries],
    summary: dict[str, Any],
) -> list[str]:
    """Writes the data files of the module docstring (all but report.html) into `out_dir`;
    returns their paths."""

    def path(name: str) -> str:
        return os.path.join(out_dir, name)

    written = [write_json(path("summary.json"), summary)]
    written.append(write_text(path("fills.csv"), fills_csv(run)))
    written.append(write_text(path("trades.csv"), trades_csv(round_trips(run.fills))))
    written.append(write_text(path("equity.csv"), equity_csv(run)))
    written.append(write_text(path("signals.csv"), signals_csv(run)))
    candles = (
        CANDLES_HEADER
        + "\n"
        + "".join(candles_csv(s) for s in sorted(series, key=lambda s: s.symbol))
    )
    written.append(write_text(path("candles.csv"), candles))
    return written


def write_portfolio_db(url: str, run: PortfolioRun) -> None:
    """Writes the run into a paper database at `url` (the schema of `paper run`), in one
    transaction: `paper status --db URL` and the dashboard show it like a paper portfolio.

    Raises:
        StoreUnusableError: the database cannot be used, or already holds a portfolio.
    """
    state = run.state
    if state is None:
        raise ValueError("the run has no final state")
    store = PaperStore(url)
    try:
        store.require_no_portfolio()
        changes = Changes(
            signals={r.event.signal_id: r for r in run.signals},
            new_signal_ids={r.event.signal_id for r in run.signals},
            fills=list(run.fills),
            equity={p.seq: p for p in run.equity},
            events=list(run.events),
            marks=set(state.portfolio.marks),
            votes={(s, k) for s, votes in state.votes.votes.items() for k in votes},
            atr=set(state.atr),
        )
        store.save(state, changes, {}, run.config)
    finally:
        store.close()


def fills_csv(run: PortfolioRun) -> str:
    out = io.StringIO()
    out.write(FILLS_HEADER + "\n")
    for f in run.fills:
        out.write(
            f"{iso_time(f.time_ms)},{f.symbol},{csv_field(f.book)},{f.side},{csv_number(f.qty)},"
            f"{csv_number(f.price)},{csv_number(f.fee)},{csv_number(f.realized_pnl)},{f.kind},"
            f"{csv_number(f.cash_after)},{f.signal_id}\n"
        )
    return out.getvalue()


def trades_csv(trips: list[dict]) -> str:
    out = io.StringIO()
    out.write(TRADES_HEADER + "\n")
    for t in trips:
        out.write(
            f"{t['symbol']},{csv_field(t['book'])},{t['side']},{iso_time(t['entry_ms'])},"
            f"{iso_time(t['exit_ms'])},{csv_number(t['qty'])},{csv_number(t['entry_price'])},"
            f"{csv_number(t['exit_price'])},{t['exit_kind']},{csv_number(t['pnl'])},"
            f"{csv_number(t['return'])}\n"
        )
    return out.getvalue()


def equity_csv(run: PortfolioRun) -> str:
    out = io.StringIO()
    out.write(EQUITY_HEADER + "\n")
    for p in run.equity:
        out.write(
            f"{iso_time(p.time_ms)},{csv_number(p.equity)},{csv_number(p.cash)},"
            f"{csv_number(p.exposure)},{csv_number(p.drawdown)}\n"
        )
    return out.getvalue()


def signals_csv(run: PortfolioRun) -> str:
    out = io.StringIO()
    out.write(SIGNALS_HEADER + "\n")
    for r in run.signals:
        e = r.event
        out.write(
            f"{iso_time(e.time_ms)},{e.symbol},{csv_field(e.strategy_id)},{e.action},"
            f"{csv_number(e.price)},{csv_field(r.decision)},{e.signal_id}\n"
        )
    return out.getvalue()


def console_lines(summary: dict[str, Any], out_dir: str) -> list[str]:
    """What the terminal shows after a portfolio backtest."""
    pf, m = summary["portfolio"], summary["metrics"]

    def pct(value: float | None) -> str:
        return "n/a" if value is None or not math.isfinite(value) else f"{value:+.2%}"

    lines = [f"[backtest] {line}" for line in input_conflict_lines(summary["input"]["symbols"])]
    lines += [
        f"[backtest] portfolio: equity {pf['initial_cash']:,.2f} -> {pf['final_equity']:,.2f} "
        f"({pct(m.get('total_return'))}), {pf['fills']} fills, fees {pf['fees_paid']:,.2f}, "
        f"max drawdown {pct(m.get('max_drawdown'))}, {m['num_trades']} closed trades",
    ]
    for symbol, row in summary["attribution"].items():
        lines.append(
            f"[backtest]   {symbol}: net P&L {row['net_pnl']:+,.2f} over {row['fills']} fills"
        )
    events = summary["risk_events"]
    for event in events[:EVENTS_SHOWN]:
        lines.append(f"[backtest]   {event['time']} {event['kind']}: {event['message']}")
    if len(events) > EVENTS_SHOWN:
        lines.append(
            f"[backtest]   ... {len(events) - EVENTS_SHOWN} more risk events in summary.json"
        )
    if summary["annualized_omitted"]:
        lines.append(f"[backtest]   {summary['annualized_omitted']}")
    lines.append(f"[backtest] wrote {out_dir}/: summary.json, fills.csv, trades.csv, "
                 "equity.csv, signals.csv, candles.csv, report.html, portfolio.db")  # fmt: skip
    return lines
