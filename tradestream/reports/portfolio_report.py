"""report.html of a portfolio backtest: a self-contained page (inline SVG and CSS, no script).

    html = render_portfolio_report(summary, run)

Sections: the account (start and end equity, fees, fills, risk state), the metrics of the
equity curve, the equity and drawdown charts, per-symbol attribution, risk events, closed
trades and the settings the engine traded with (those of `tradestream paper run`).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from tradestream.backtest.portfolio import PortfolioRun, round_trips
from tradestream.backtest.portfolio_outputs import PORTFOLIO_MODEL
from tradestream.reports.html import (
    CSS,
    HEIGHT,
    ChartFrame,
    format_value,
    polyline,
    svg_figure,
)

TRADES_SHOWN = 200

_METRIC_KINDS = {
    "total_return": "pct",
    "cagr": "pct",
    "annualized_volatility": "pct",
    "sharpe": "num",
    "sortino": "num",
    "calmar": "num",
    "max_drawdown": "pct",
    "max_drawdown_duration_ms": "dur",
    "exposure": "pct",
    "num_trades": "int",
    "win_rate": "pct",
    "profit_factor": "num",
    "avg_trade_pnl": "money",
    "final_equity": "money",
}


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _cls(value: float | None) -> str:
    if value is None:
        return ""
    return " class='neg'" if value < 0 else (" class='pos'" if value > 0 else "")


def _curve_chart(times: np.ndarray, values: np.ndarray, label: str, scale: float = 1.0,
                 suffix: str = "", color: str = "#2456c8", height: int = HEIGHT) -> str:  # fmt: skip
    t = times.astype(float)
    frame = ChartFrame(t[0], t[-1], float(values.min()), float(values.max()), height)
    body = frame.axes(scale=scale, suffix=suffix) + polyline(frame, t, values, color, 1.6)
    return svg_figure(body, height, label)


def render_portfolio_report(summary: dict[str, Any], run: PortfolioRun) -> str:
    """The page (see the module docstring)."""
    pf, metrics = summary["portfolio"], summary["metrics"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>Portfolio backtest</title><style>{CSS}</style></head><body>",
        "<h1>Portfolio backtest</h1>",
        f"<p class='meta'>{_esc(summary['run']['command'])}</p>",
        f"<p class='note'>{_esc(PORTFOLIO_MODEL)}</p>",
        "<div class='kpis'>",
        f"<span>Equity <b>{format_value(pf['initial_cash'], 'money')}</b> → "
        f"<b>{format_value(pf['final_equity'], 'money')}</b></span>",
        f"<span>Fills <b>{pf['fills']:,}</b></span>",
        f"<span>Fees <b>{format_value(pf['fees_paid'], 'money')}</b></span>",
        f"<span>Signals <b>{pf['signals']:,}</b></span>",
        f"<span>Breaker <b>{'tripped' if pf['risk'].get('breaker') else 'armed'}</b></span>",
        "</div>",
    ]
    if summary["annualized_omitted"]:
        parts.append(f"<p class='note'>{_esc(summary['annualized_omitted'])}</p>")
    parts.append("<h2>Metrics</h2><div class='scroll'><table><tr>")
    shown = [name for name in _METRIC_KINDS if name in metrics]
    parts.append("".join(f"<th>{_esc(name.replace('_', ' '))}</th>" for name in shown))
    parts.append("</tr><tr>")
    for name in shown:
        value = metrics[name]
        text = "n/a" if value is None else format_value(value, _METRIC_KINDS[name])
        parts.append(f"<td>{text}</td>")
    parts.append("</tr></table></div>")

    times, equity = run.equity_arrays()
    if len(equity) > 1:
        peak = np.maximum(np.maximum.accumulate(equity), run.config.initial_cash)
        parts.append("<h2>Equity</h2>")
        parts.append(_curve_chart(times, equity, "portfolio equity"))
        parts.append("<h3>Drawdown</h3>")
        parts.append(_curve_chart(times, equity / peak - 1.0, "drawdown", 100, "%", "#b3261e", 150))

    parts.append("<h2>Attribution by symbol</h2><div class='scroll'><table>")
    parts.append(
        "<tr><th class='l'>symbol</th><th>fills</th><th>realized P&amp;L</th>"
        "<th>unrealized P&amp;L</th><th>fees</th><th>net P&amp;L</th><th>open</th></tr>"
    )
    for symbol, row in summary["attribution"].items():
        parts.append(
            f"<tr><td class='l'>{_esc(symbol)}</td><td>{row['fills']:,}</td>"
            f"<td{_cls(row['realized_pnl'])}>{format_value(row['realized_pnl'], 'money')}</td>"
            f"<td{_cls(row['unrealized_pnl'])}>{format_value(row['unrealized_pnl'], 'money')}"
            f"</td><td>{format_value(row['fees_paid'], 'money')}</td>"
            f"<td{_cls(row['net_pnl'])}>{format_value(row['net_pnl'], 'money')}</td>"
            f"<td>{row['open_positions']}</td></tr>"
        )
    parts.append("</table></div>")

    events = summary["risk_events"]
    parts.append(f"<h2>Risk events ({len(events)})</h2>")
    if events:
        parts.append("<div class='scroll'><table><tr><th class='l'>time</th><th class='l'>kind"
                     "</th><th class='l'>message</th></tr>")  # fmt: skip
        for e in events:
            parts.append(
                f"<tr><td class='l nw'>{_esc(e['time'])}</td><td class='l'>{_esc(e['kind'])}"
                f"</td><td class='l wrap'>{_esc(e['message'])}</td></tr>"
            )
        parts.append("</table></div>")
    else:
        parts.append("<p class='note'>No loss limit or breaker was hit.</p>")

    trips = round_trips(run.fills)
    parts.append(f"<h2>Closed trades ({len(trips):,})</h2>")
    if len(trips) > TRADES_SHOWN:
        parts.append(f"<p class='note'>The last {TRADES_SHOWN}; all are in trades.csv.</p>")
    parts.append(
        "<div class='scroll tall'><table><tr><th class='l'>symbol</th><th class='l'>strategy</th>"
        "<th class='l'>side</th><th>qty</th><th>entry</th><th>exit</th><th class='l'>exit by"
        "</th><th>P&amp;L</th><th>return</th></tr>"
    )
    for t in trips[-TRADES_SHOWN:]:
        parts.append(
            f"<tr><td class='l'>{_esc(t['symbol'])}</td><td class='l wrap'>{_esc(t['book'])}</td>"
            f"<td class='l'>{t['side']}</td><td>{t['qty']:.6g}</td>"
            f"<td>{format_value(t['entry_price'], 'money')}</td>"
            f"<td>{format_value(t['exit_price'], 'money')}</td><td class='l'>{t['exit_kind']}</td>"
            f"<td{_cls(t['pnl'])}>{format_value(t['pnl'], 'money')}</td>"
            f"<td{_cls(t['return'])}>{format_value(t['return'], 'pct')}</td></tr>"
        )
    parts.append("</table></div>")

    parts.append("<h2>Settings</h2><div class='scroll'><table>")
    for key, value in summary["run"]["settings"].items():
        parts.append(
            f"<tr><td class='l'>{_esc(key)}</td><td class='l wrap'>{_esc(value)}</td></tr>"
        )
    parts.append("</table></div></body></html>")
    return "".join(parts)
