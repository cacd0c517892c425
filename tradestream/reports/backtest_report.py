"""report.html: a self-contained page (inline SVG and CSS, no script, nothing fetched).

For each symbol, the best result by the run's ranking metric: its equity curve against buy
and hold, its drawdown, and the price with entries (green triangles up) and exits (red
triangles down). Then a heatmap of the ranking metric for 2-parameter grids (one per symbol,
all on one colour scale, so a colour means the same value for every symbol), and a table of
the results (the best 200 per symbol). Long series are drawn from per-pixel
min/max buckets, so the page stays small whatever the number of candles; an axis of more
than 100 values is drawn in buckets of neighbouring values (each cell shows its best), so
the heatmap stays small whatever the grid.

Results come as BacktestResult messages, or as RankedResults (on disk, best first: only the
table's rows are read as messages, and the heatmap's metric as one array).

Annualized metrics of a sample under 30 days are shown as n/a with the reason
(:mod:`tradestream.backtest.metrics`); a heatmap of one says it is extrapolated.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tradestream.backtest.chunks import ResultDetail, rank_value
from tradestream.backtest.metrics import ANNUALIZED_METRICS, annualization_caveat, format_days
from tradestream.backtest.outputs import RejectionSummary, RunInfo, SeriesInfo, iso_time
from tradestream.backtest.ranking import RankedResults
from tradestream.reports.html import (
    CSS,
    PAD_LEFT,
    WIDTH,
    ChartFrame,
    breakable,
    cell_number,
    colour_legend,
    downsample,
    format_duration,
    format_value,
    heat_color,
    heat_rgb,
    ink_on,
    polyline,
    svg_figure,
    triangle,
)

TABLE_ROWS = 200
MAX_MARKERS = 1500
HEATMAP_CELLS = 100  # the most rows or columns of a heatmap; longer axes are bucketed


_COLUMNS = (
    ("total_return", "Return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("annualized_volatility", "Vol", "pct"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("calmar", "Calmar", "num"),
    ("max_drawdown", "Max DD", "pct"),
    ("max_drawdown_duration_ms", "DD duration", "dur"),
    ("win_rate", "Win rate", "pct"),
    ("profit_factor", "Profit f.", "num"),
    ("expectancy", "Expect.", "pct"),
    ("sqn", "SQN", "num"),
    ("exposure", "Exposure", "pct"),
    ("num_trades", "Trades", "int"),
    ("avg_trade_duration_ms", "Avg trade", "dur"),
    ("buy_and_hold_return", "Buy&hold", "pct"),
    ("final_equity", "Final equity", "money"),
)


def equity_chart(detail: ResultDetail) -> str:
    """Equity against buy and hold (the same cash in the asset at the first close)."""
    t = detail.start_ms.astype(float)
    hold = detail.cash * detail.close / detail.close[0]
    low = float(min(detail.equity.min(), hold.min()))
    high = float(max(detail.equity.max(), hold.max()))
    frame = ChartFrame(t[0], t[-1], low, high)
    body = frame.axes()
    body += polyline(frame, t, hold, "#9aa3b5", 1.2, "5 4")
    body += polyline(frame, t, detail.equity, "#2456c8", 1.6)
    return svg_figure(body, label="equity curve")


def drawdown_chart(detail: ResultDetail) -> str:
    t = detail.start_ms.astype(float)
    peak = np.maximum(np.maximum.accumulate(detail.equity), detail.cash)
    dd = detail.equity / peak - 1.0
    height = 150
    frame = ChartFrame(t[0], t[-1], float(min(dd.min(), -1e-4)), 0.0, height)
    xs, ys = downsample(t, dd, WIDTH - PAD_LEFT)
    px, py = frame.px(xs), frame.py(ys)
    zero = float(frame.py(0.0))
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
    body = frame.axes(scale=100, suffix="%")
    body += (
        f'<polygon fill="#e9a0a0" fill-opacity="0.55" stroke="#b3261e" stroke-width="1" '
        f'points="{px[0]:.1f},{zero:.1f} {points} {px[-1]:.1f},{zero:.1f}"/>'
    )
    return svg_figure(body, height, "drawdown")


def price_chart(detail: ResultDetail) -> str:
    """Close price with trade entries (▲ green) and exits (▼ red)."""
    t = detail.start_ms.astype(float)
    close = detail.close
    frame = ChartFrame(t[0], t[-1], float(close.min()), float(close.max()))
    body = frame.axes()
    body += polyline(frame, t, close, "#3b4252", 1.1)
    trades = detail.trades
    shown = min(len(trades), MAX_MARKERS)
    marks = []
    for i in range(shown):
        ex, ey = float(frame.px(t[trades.entry[i]])), float(frame.py(trades.entry_price[i]))
        up = trades.direction[i] > 0
        marks.append(triangle(ex, ey, up, "#1b7f3b" if up else "#b3261e"))
        if trades.closed[i]:
            xx, xy = float(frame.px(t[trades.exit[i]])), float(frame.py(trades.exit_price[i]))
            marks.append(triangle(xx, xy, not up, "#b3261e" if up else "#1b7f3b"))
    body += "".join(marks)
    return svg_figure(body, label="price with entries and exits")


@dataclass(frozen=True)
class SymbolResults:
    """What the report shows of one symbol's results.

    Attributes:
        symbol: the symbol.
        count: how many results it has.
        best: its best TABLE_ROWS results, best first.
        cells: for a 2-parameter grid, the ranking metric by (first, second) axis position,
            NaN where undefined; `present` marks the combinations evaluated.
    """

    symbol: str
    count: int
    best: list
    cells: np.ndarray | None = None
    present: np.ndarray | None = None


def symbol_results(run: RunInfo, results: Sequence) -> list[SymbolResults]:
    """Per symbol (sorted), what the report shows of `results` (messages or RankedResults)."""
    two_axes = run.grid is not None and len(run.grid.axes) == 2
    out = []
    ranked = sorted((r for r in results if isinstance(r, RankedResults)), key=lambda r: r.symbol)
    for r in ranked:
        cells = present = None
        if two_axes:
            (_, values_a), (_, values_b) = run.grid.axes
            cells = np.full((len(values_a), len(values_b)), np.nan)
            present = np.zeros(cells.shape, dtype=bool)
            for rows in r.blocks():
                at = r.names.positions(rows["set"])
                cells[at[:, 0], at[:, 1]] = rows[run.rank_by]
                present[at[:, 0], at[:, 1]] = True
        out.append(SymbolResults(r.symbol, r.count, r.top(TABLE_ROWS), cells, present))
    if ranked:
        return out
    by_symbol: dict[str, list] = {}
    for r in results:
        by_symbol.setdefault(r.symbol, []).append(r)
    for symbol in sorted(by_symbol):
        ordered = sorted(
            by_symbol[symbol],
            key=lambda r: (-rank_value(r, run.rank_by), r.strategy.strategy_id),
        )
        cells = present = None
        if two_axes:
            (name_a, values_a), (name_b, values_b) = run.grid.axes
            index_a = {v: i for i, v in enumerate(values_a)}
            index_b = {v: i for i, v in enumerate(values_b)}
            rows, cols, values = [], [], []
            for r in ordered:
                params = {p.name: (p.int_value if p.WhichOneof("value") == "int_value"
                                   else p.float_value) for p in r.strategy.params}  # fmt: skip
                if params.get(name_a) in index_a and params.get(name_b) in index_b:
                    rows.append(index_a[params[name_a]])
                    cols.append(index_b[params[name_b]])
                    values.append(float(getattr(r.metrics, run.rank_by)))
            cells, present = _grid_matrix(run, np.array(rows), np.array(cols), np.array(values))
        out.append(SymbolResults(symbol, len(ordered), ordered[:TABLE_ROWS], cells, present))
    return out


def _grid_matrix(run: RunInfo, rows, cols, values) -> tuple[np.ndarray, np.ndarray]:
    (_, values_a), (_, values_b) = run.grid.axes
    cells = np.full((len(values_a), len(values_b)), np.nan)
    present = np.zeros(cells.shape, dtype=bool)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    cells[rows, cols] = np.asarray(values, dtype=np.float64)
    present[rows, cols] = True
    return cells, present


def _buckets(count: int) -> list[tuple[int, int]]:
    """[start, stop) of each row or column: one per value, or neighbours together."""
    size = max(1, math.ceil(count / HEATMAP_CELLS))
    return [(i, min(i + size, count)) for i in range(0, count, size)]


def heat_scale(views: Sequence[SymbolResults]) -> tuple[float, float]:
    """(lowest, highest) finite value over every symbol's heatmap cells: one colour scale for
    all of them; (0, 0) when there is none."""
    finite = [v.cells[np.isfinite(v.cells) & v.present] for v in views if v.cells is not None]
    values = np.concatenate(finite) if finite else np.empty(0)
    return (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)


def heatmap(run: RunInfo, view: SymbolResults, scale: tuple[float, float]) -> str:
    """The ranking metric over a 2-parameter grid: rows = first axis, columns = second.

    Args:
        run: the run (its grid's axes and ranking metric).
        view: the symbol's results.
        scale: (low, high) of the colours, shared by every symbol's heatmap.
    """
    (name_a, values_a), (name_b, values_b) = run.grid.axes
    metric = run.rank_by
    rows_a, cols_b = _buckets(len(values_a)), _buckets(len(values_b))
    bucketed = len(rows_a) < len(values_a) or len(cols_b) < len(values_b)
    low, high = scale
    values = np.full((len(rows_a), len(cols_b)), np.nan)
    shown = np.zeros(values.shape, dtype=bool)
    for i, (a0, a1) in enumerate(rows_a):
        for j, (b0, b1) in enumerate(cols_b):
            present = view.present[a0:a1, b0:b1]
            shown[i, j] = present.any()  # else: combinations skipped by a constraint
            block = view.cells[a0:a1, b0:b1][present]
            finite = block[np.isfinite(block)]
            if finite.size:
                values[i, j] = finite.max()
    room = WIDTH - 120
    cell_h = max(6, min(34, room // max(len(cols_b), 1)))
    # A cell is labelled with its value when the longest label fits it at 11px (about 6.5px
    # a character): cells widen to their labels, or stay unlabelled (the tooltip has it).
    longest = max((len(cell_number(v)) for v in values[np.isfinite(values)]), default=0)
    cell_w = max(cell_h, round(6.5 * longest) + 8)
    label_cells = cell_h >= 20 and longest > 0 and cell_w * len(cols_b) <= room
    if not label_cells:
        cell_w = cell_h
    left, top = 90, 30
    width = left + cell_w * len(cols_b) + 10
    height = top + cell_h * len(rows_a) + 8
    parts = [
        f'<text class="axis" x="{left}" y="14">{html.escape(name_b)} →</text>',
        f'<text class="axis" x="6" y="{top + 12}">{html.escape(name_a)} ↓</text>',
    ]
    step_b = max(1, math.ceil(len(cols_b) * 24 / room))  # a label per 24px at least
    for j, (b0, _) in enumerate(cols_b):
        if j % step_b == 0:
            x = left + j * cell_w + cell_w / 2
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{top - 4}" text-anchor="middle">'
                f"{values_b[b0]}</text>"
            )
    step_a = max(1, len(rows_a) // 30)

    def span(axis_values, start: int, stop: int) -> str:
        if stop - start == 1:
            return f"{axis_values[start]}"
        return f"{axis_values[start]}..{axis_values[stop - 1]}"

    for i, (a0, a1) in enumerate(rows_a):
        y = top + i * cell_h
        if i % step_a == 0:
            parts.append(
                f'<text class="axis" x="{left - 6}" y="{y + cell_h / 2 + 4:.1f}" '
                f'text-anchor="end">{values_a[a0]}</text>'
            )
        for j, (b0, b1) in enumerate(cols_b):
            if not shown[i, j]:
                continue
            value = float(values[i, j])
            x = left + j * cell_w
            what = f"best {metric}" if bucketed else metric
            tip = (
                f"{name_a}={span(values_a, a0, a1)}, {name_b}={span(values_b, b0, b1)}: "
                f"{what} = {format_value(value, 'num')}"
            )
            fill = heat_rgb(value, low, high)
            parts.append(
                f'<rect class="cell" x="{x}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" '
                f'fill="{heat_color(value, low, high)}" data-value="{value!r}">'
                f"<title>{html.escape(tip)}</title></rect>"
            )
            if label_cells and math.isfinite(value):
                parts.append(
                    f'<text class="cell-label" x="{x + (cell_w - 1) / 2:.1f}" '
                    f'y="{y + cell_h / 2 + 3.5:.1f}" text-anchor="middle" fill="{ink_on(fill)}">'
                    f"{cell_number(value)}</text>"
                )
    note = ""
    if bucketed:
        note = (
            f'<p class="note">{len(values_a)} x {len(values_b)} values in {len(rows_a)} x '
            f"{len(cols_b)} cells: each cell shows the best of its neighbouring values.</p>"
        )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="heatmap" '
        f'data-symbol="{html.escape(view.symbol)}">{"".join(parts)}</svg>'
    )
    return svg + note


def heatmap_legend(metric: str, scale: tuple[float, float], symbols: int) -> str:
    """What the heatmaps' colours mean: one scale for every symbol, its ends, grey and blank."""
    low, high = scale
    where = "every symbol's heatmap" if symbols > 1 else "the heatmap"
    middle = (
        "red below 0, white at 0, green above (each side scaled to its extreme)"
        if low < 0 < high
        else "light to dark blue"
    )
    return (
        f'<p class="note">One colour scale for {where}: {html.escape(metric)} from '
        f"{format_value(low, 'num')} to {format_value(high, 'num')}, {middle}; grey: undefined; "
        "blank: skipped by a constraint. Hover a cell for its exact value.</p>"
        + colour_legend(scale, f"highest {metric}", "undefined")
    )


def _table(run: RunInfo, views: Sequence[SymbolResults]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in _COLUMNS)
    rows = []
    hidden = 0
    for view in views:
        symbol = view.symbol
        hidden += max(0, view.count - TABLE_ROWS)
        for r in view.best[:TABLE_ROWS]:
            cells = []
            caveat = annualization_caveat(r.end_ms - r.start_ms)
            for name, _, kind in _COLUMNS:
                if caveat is not None and name in ANNUALIZED_METRICS:
                    cells.append(f'<td title="{html.escape(caveat)}">n/a</td>')
                    continue
                value = getattr(r.metrics, name)
                css = ""
                if kind == "pct" and isinstance(value, float) and math.isfinite(value):
                    css = ' class="neg"' if value < 0 else (' class="pos"' if value > 0 else "")
                cells.append(f"<td{css}>{format_value(value, kind)}</td>")
            rows.append(
                f'<tr><td class="l">{html.escape(symbol)}</td>'
                f'<td class="l wrap">{breakable(r.strategy.strategy_id)}</td>{"".join(cells)}</tr>'
            )
    note = (
        f'<p class="note">{hidden} more result(s) in summary.json (the best {TABLE_ROWS} per '
        "symbol are shown).</p>"
        if hidden
        else ""
    )
    return (
        '<div class="scroll tall"><table><thead><tr><th class="l">Symbol</th>'
        f'<th class="l">Strategy</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        f"</div>{note}"
    )


def _kpis(result) -> str:
    m = result.metrics
    short = annualization_caveat(result.end_ms - result.start_ms) is not None
    items = (
        ("Return", format_value(m.total_return, "pct")),
        ("Buy & hold", format_value(m.buy_and_hold_return, "pct")),
        ("CAGR", "n/a" if short else format_value(m.cagr, "pct")),
        ("Sharpe", "n/a" if short else format_value(m.sharpe, "num")),
        ("Max drawdown", format_value(m.max_drawdown, "pct")),
        ("Trades", format_value(m.num_trades, "int")),
        ("Win rate", format_value(m.win_rate, "pct")),
        ("Exposure", format_value(m.exposure, "pct")),
    )
    return (
        '<div class="kpis">' + "".join(f"<span>{k}: <b>{v}</b></span>" for k, v in items) + "</div>"
    )


def _span_text(symbol: str, series: Sequence[SeriesInfo]) -> str:
    info = next(s for s in series if s.symbol == symbol)
    return format_days(info.end_ms - info.start_ms)


def render_report(
    run: RunInfo,
    results: Sequence,
    series: Sequence[SeriesInfo],
    best: Sequence[ResultDetail],
    rejected: RejectionSummary,
) -> str:
    """The whole report.html page.

    Args:
        run: the run's settings.
        results: every BacktestResult, or one RankedResults per symbol.
        series: what each symbol's candles were.
        best: the detail of the best result of each symbol.
        rejected: the rejected input rows.
    """
    c = run.config
    views = symbol_results(run, results)
    by_key = {(v.symbol, r.strategy.strategy_id): r for v in views for r in v.best}
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>TradeStream backtest</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>TradeStream backtest</h1>",
        f'<p class="meta">Inputs ({html.escape(run.input_kind)}): '
        f"{html.escape(', '.join(run.inputs))}</p>",
        f'<p class="meta">Execution: fill at {"the signal candle close" if c.fill == "close" else "the next open"}, '
        f"{'long and short' if c.allow_short else 'long only'}, cash {c.cash:,.2f}, fee "
        f"{100 * c.fee:.3f}% per side, slippage {c.slippage_bps:g} bps. "
        f"{sum(v.count for v in views)} result(s), {run.strategies} parameter set(s); ranked by "
        f"{html.escape(run.rank_by)}.</p>",
    ]
    if run.grid is not None:
        g = run.grid
        axes = ", ".join(f"{name} ({len(values)} values)" for name, values in g.axes)
        out.append(
            f'<p class="meta">Grid over {html.escape(g.type_name)}: {html.escape(axes)}; '
            f"{g.combinations} combinations, {g.skipped} skipped by "
            f"{html.escape(' and '.join(g.constraints) or 'constraints')}.</p>"
        )
    caveats = {s.symbol: annualization_caveat(s.end_ms - s.start_ms) for s in series}
    for s in sorted(series, key=lambda s: s.symbol):
        out.append(
            f'<p class="meta">{html.escape(s.symbol)}: {s.candles:,} candles of '
            f"{format_duration(s.interval_ms)} from {iso_time(s.start_ms)} to {iso_time(s.end_ms)} "
            f"({s.filled:,} filled, {s.duplicates:,} duplicates dropped).</p>"
        )
        if caveats[s.symbol] is not None:
            out.append(
                f'<p class="meta neg">{html.escape(s.symbol)}: n/a for CAGR, Vol, Sharpe, '
                f"Sortino and Calmar: {html.escape(caveats[s.symbol])}.</p>"
            )
    if rejected.total:
        out.append(f'<p class="meta neg">{html.escape(rejected.describe())}; see summary.json.</p>')

    out.append("<h2>Best result per symbol</h2>")
    for detail in sorted(best, key=lambda d: d.symbol):
        result = by_key.get((detail.symbol, detail.strategy.strategy_id))
        out.append(
            f"<h3>{html.escape(detail.symbol)} — {html.escape(detail.strategy.strategy_id)}</h3>"
        )
        if result is not None:
            out.append(_kpis(result))
        out.append(
            '<p class="legend note"><span><i class="sw" style="background:#2456c8"></i>equity'
            '</span><span><i class="sw" style="background:#9aa3b5"></i>buy and hold</span></p>'
        )
        out.append(equity_chart(detail))
        out.append('<p class="note">Drawdown from the running equity peak</p>')
        out.append(drawdown_chart(detail))
        shown = "" if len(detail.trades) <= MAX_MARKERS else f" (first {MAX_MARKERS} trades)"
        out.append(
            f'<p class="note">Close price; ▲ entries, ▼ exits (green: buy, red: sell){shown}</p>'
        )
        out.append(price_chart(detail))

    if run.grid is not None and len(run.grid.axes) == 2:
        scale = heat_scale(views)
        out.append(f"<h2>Heatmap of {html.escape(run.rank_by)}</h2>")
        out.append(heatmap_legend(run.rank_by, scale, len(views)))
        for view in views:
            out.append(f"<h3>{html.escape(view.symbol)}</h3>")
            if run.rank_by in ANNUALIZED_METRICS and caveats.get(view.symbol) is not None:
                out.append(
                    f'<p class="note neg">{html.escape(run.rank_by)} extrapolated from '
                    f"{html.escape(_span_text(view.symbol, series))}: compare the cells with one "
                    "another, not with annual figures.</p>"
                )
            out.append(heatmap(run, view, scale))

    out.append("<h2>Results</h2>")
    out.append(_table(run, views))
    out.append("</body></html>\n")
    return "".join(out)
