"""The optimizer's report.html: a self-contained page (inline SVG and CSS, nothing fetched).

Built from what `tradestream optimize --output DIR` leaves in DIR (best.json, history.json
and evaluations.json, see :mod:`tradestream.optimize.outputs`), so it can be rebuilt at any
time::

    python -c "from tradestream.reports.optimize_report import write_report; write_report('opt/')"

For each strategy type and symbol: the fitness by generation (best solid, mean dashed, one
colour per search: every walk-forward fold and the final search), parameter heatmaps over
every genome each search evaluated (:mod:`tradestream.reports.param_map`; with walk-forward,
tabs switch between the final search and each fold, drawn with CSS alone), and in-sample vs
out-of-sample results of the walk-forward folds side by side. A table of the best sets with
their overfitting statistics comes first. A directory without evaluations.json (written by
an older version) gets a note instead of the maps.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tradestream.reports.html import (
    CSS,
    HEIGHT,
    PAD_LEFT,
    PAD_RIGHT,
    WIDTH,
    ChartFrame,
    format_value,
    polyline,
    svg_figure,
)
from tradestream.reports.param_map import Mark, parameter_maps

_PALETTE = ("#2456c8", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#e67700")
_IS_COLOR, _OOS_COLOR = "#2456c8", "#e67700"


def _num(value: Any) -> float:
    """A JSON number as a float; null (undefined) as NaN."""
    return float(value) if isinstance(value, int | float) else math.nan


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _short_time(value: Any) -> str:
    """`2023-11-15T22:14:00Z` as `2023-11-15 22:14`."""
    return str(value).replace("T", " ")[:16] if value else "–"


def _window(window: Mapping[str, Any]) -> str:
    """`start → end` that may wrap after the arrow, never inside a time."""
    start, end = _esc(_short_time(window.get("start"))), _esc(_short_time(window.get("end")))
    return f'<span class="nw">{start}</span> → <span class="nw">{end}</span>'


def _params_text(params: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (params or {}).items()) or "–"


def _x_ticks(frame: ChartFrame, ticks: Sequence[float]) -> str:
    return "".join(
        f'<text class="axis x-tick" x="{float(frame.px(t)):.1f}" y="{frame.h - 8}" '
        f'text-anchor="middle">{t:g}</text>'
        for t in ticks
    )


def _finite_runs(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[list, list]]:
    """Consecutive stretches of finite y (an undefined value breaks the line)."""
    runs: list[tuple[list, list]] = []
    current: tuple[list, list] = ([], [])
    for x, y in zip(xs, ys, strict=True):
        if math.isfinite(y):
            current[0].append(x)
            current[1].append(y)
        elif current[0]:
            runs.append(current)
            current = ([], [])
    if current[0]:
        runs.append(current)
    return runs


def _search_label(search: Mapping[str, Any]) -> str:
    return "final" if search.get("fold") is None else f"fold {search['fold']}"


def generations_chart(searches: Sequence[Mapping[str, Any]]) -> str:
    """Best (solid) and mean (dashed) fitness per generation, one colour per search.

    Generations are numbered from 1, as the optimizer's log counts them (`gen 1/15`);
    history.json counts from 0.
    """
    series = []
    for search in searches:
        gens = search.get("generations") or []
        xs = [float(g["generation"]) + 1 for g in gens]
        series.append(
            (xs, [_num(g.get("best")) for g in gens], [_num(g.get("mean")) for g in gens])
        )
    all_x = [x for xs, _, _ in series for x in xs]
    all_y = [y for _, b, m in series for y in (*b, *m) if math.isfinite(y)]
    if not all_x or not all_y:
        return '<p class="note">No finite fitness in any generation.</p>'
    frame = ChartFrame(min(all_x), max(all_x), min(all_y), max(all_y))
    first, last = int(min(all_x)), int(max(all_x))
    step = max(1, math.ceil((last - first + 1) / 12))
    parts = [frame.y_axis(), _x_ticks(frame, range(first, last + 1, step))]
    legend = []
    for i, (search, (xs, best, mean)) in enumerate(zip(searches, series, strict=True)):
        color = _PALETTE[i % len(_PALETTE)]
        for run_x, run_y in _finite_runs(xs, best):
            parts.append(polyline(frame, run_x, run_y, color, width=1.8))
        for run_x, run_y in _finite_runs(xs, mean):
            parts.append(polyline(frame, run_x, run_y, color, width=1.2, dash="5 3"))
        legend.append(
            f'<span><i class="sw" style="background:{color}"></i>{_esc(_search_label(search))}'
            "</span>"
        )
    note = (
        f'<p class="legend note">{"".join(legend)} — solid: best, dashed: mean fitness; '
        "x: generation (from 1, as the log counts them).</p>"
    )
    return svg_figure("".join(parts), label="fitness by generation") + note


def _search_marks(
    search: Mapping[str, Any],
    kept: Sequence[Mapping[str, Any]],
    folds: Sequence[Mapping[str, Any]],
) -> list[Mark]:
    """The sets drawn over a search's maps: the final choice and the fold winners, or the
    fold's own winner."""
    fold = search.get("fold")
    if fold is None:
        marks = [Mark("chosen (rank 1)", kept[0]["params"], "chosen")] if kept else []
        kind = "winner"
    else:
        marks, kind = [], "chosen"
    for f in folds:
        if f.get("params") and (fold is None or f.get("fold") == fold):
            marks.append(Mark(f"fold {f.get('fold')} winner", f["params"], kind))
    return marks


def parameter_section(
    group: int,
    searches: Sequence[Mapping[str, Any]],
    records: Mapping[str, Sequence[Mapping[str, Any]]],
    kept: Sequence[Mapping[str, Any]],
    folds: Sequence[Mapping[str, Any]],
) -> str:
    """The heatmaps of one strategy type and symbol: one panel per search, tabs if several.

    Args:
        group: a number unique in the page (names the tabs' radio buttons).
        searches: the group's entries of evaluations.json `searches`.
        records: evaluations by search key.
        kept: the group's best.json entries, best first.
        folds: the group's walk-forward folds (best.json), if any.
    """
    ordered = sorted(searches, key=lambda s: (s.get("fold") is not None, s.get("fold") or 0))
    panels = []
    for search in ordered:
        window = search.get("window") or {}
        head = (
            f'<p class="meta">{_esc(_search_label(search))} search on '
            f"{_esc(_short_time(window.get('start')))} → {_esc(_short_time(window.get('end')))}"
            "</p>"
        )
        body = parameter_maps(
            search, records.get(search["search"], []), _search_marks(search, kept, folds)
        )
        panels.append((_search_label(search), head + body))
    if len(panels) == 1:
        return panels[0][1]
    out = ['<div class="tabs">']
    for k, (label, _) in enumerate(panels):
        checked = " checked" if k == 0 else ""
        out.append(
            f'<input type="radio" name="pm{group}" id="pm{group}-{k}"{checked}>'
            f'<label for="pm{group}-{k}">{_esc(label)}</label>'
        )
    out.extend(f'<div class="panel">{body}</div>' for _, body in panels)
    out.append("</div>")
    return "".join(out)


def _tabs_css(panels: int) -> str:
    """CSS-only tabs: a checked radio button shows the panel of the same position."""
    show = ",".join(
        f".tabs>input:nth-of-type({k}):checked~.panel:nth-of-type({k})"
        for k in range(1, panels + 1)
    )
    return (
        ".tabs>input{position:absolute;opacity:0}.tabs>label{display:inline-block;"
        "padding:1px 10px;margin:0 4px 6px 0;border:1px solid #ccd;border-radius:3px;"
        "cursor:pointer;font-size:12px}.tabs>input:checked+label{background:#2456c8;"
        "color:#fff;border-color:#2456c8}.tabs>.panel{display:none}"
        + (f"{show}{{display:block}}" if panels else "")
        + ".maps{display:flex;flex-wrap:wrap;gap:4px 18px}.maps svg{margin:0}"
    )


def _side(fold: Mapping[str, Any], side: str) -> tuple[float, Mapping[str, Any]]:
    result = fold.get(side) or {}
    return _num(result.get("objective")), result.get("metrics") or {}


def folds_chart(folds: Sequence[Mapping[str, Any]], objective: str) -> str:
    """Grouped bars per fold: in-sample and out-of-sample objective value."""
    values = [(_side(f, "in_sample")[0], _side(f, "out_of_sample")[0]) for f in folds]
    finite = [v for pair in values for v in pair if math.isfinite(v)]
    if not finite:
        return '<p class="note">No defined objective value in any fold.</p>'
    frame = ChartFrame(0.0, float(len(folds)), min(0.0, *finite), max(0.0, *finite))
    slot = float(frame.px(1.0) - frame.px(0.0))
    bar = min(40.0, slot * 0.3)
    zero = float(frame.py(0.0))
    parts = [frame.y_axis()]
    parts.append(
        f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}" '
        'stroke="#99a"/>'
    )
    for i, (fold, pair) in enumerate(zip(folds, values, strict=True)):
        center = float(frame.px(i + 0.5))
        parts.append(
            f'<text class="axis" x="{center:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
            f"fold {_esc(fold.get('fold'))}</text>"
        )
        for offset, value, color, name in (
            (-bar, pair[0], _IS_COLOR, "in-sample"),
            (0.0, pair[1], _OOS_COLOR, "out-of-sample"),
        ):
            if not math.isfinite(value):
                continue
            top = float(frame.py(value))
            y, h = min(top, zero), abs(zero - top)
            tip = f"fold {fold.get('fold')} {name} {objective}: {format_value(value, 'num')}"
            parts.append(
                f'<rect x="{center + offset:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{max(h, 0.5):.1f}" fill="{color}"><title>{_esc(tip)}</title></rect>'
            )
    note = (
        f'<p class="legend note"><span><i class="sw" style="background:{_IS_COLOR}"></i>'
        f'in-sample</span><span><i class="sw" style="background:{_OOS_COLOR}"></i>'
        f"out-of-sample</span> — {_esc(objective)} (without the min-trades guard) per fold.</p>"
    )
    return svg_figure("".join(parts), label="in-sample vs out-of-sample") + note


_FOLD_METRICS = (
    ("sharpe", "Sharpe", "num"),
    ("total_return", "Return", "pct"),
    ("max_drawdown", "Max DD", "pct"),
    ("num_trades", "Trades", "int"),
)


def folds_table(folds: Sequence[Mapping[str, Any]], objective: str) -> str:
    """Each fold's training and test windows and results, in-sample next to out-of-sample."""
    head = [f"{_esc(objective)} IS", f"{_esc(objective)} OOS"]
    for _, label, _ in _FOLD_METRICS:
        head += [f"{label} IS", f"{label} OOS"]
    rows = []
    for fold in folds:
        is_value, is_metrics = _side(fold, "in_sample")
        oos_value, oos_metrics = _side(fold, "out_of_sample")
        cells = [format_value(is_value, "num"), format_value(oos_value, "num")]
        for name, _, kind in _FOLD_METRICS:
            cells += [
                format_value(is_metrics.get(name), kind),
                format_value(oos_metrics.get(name), kind),
            ]
        train, test = fold.get("train") or {}, fold.get("test") or {}
        rows.append(
            f"<tr><td>{_esc(fold.get('fold'))}</td>"
            f'<td class="l wrap">{_window(train)}</td><td class="l wrap">{_window(test)}</td>'
            f'<td class="l wrap">{_esc(_params_text(fold.get("params")))}</td>'
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    return (
        '<div class="scroll"><table><thead><tr><th>Fold</th><th class="l">Train</th>'
        '<th class="l">Test</th><th class="l">Parameters</th>'
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _summary(summary: Mapping[str, Any]) -> str:
    items = (
        ("Mean objective IS", format_value(summary.get("in_sample_objective_mean"), "num")),
        ("Mean objective OOS", format_value(summary.get("out_of_sample_objective_mean"), "num")),
        ("Mean Sharpe IS", format_value(summary.get("in_sample_sharpe_mean"), "num")),
        ("Mean Sharpe OOS", format_value(summary.get("out_of_sample_sharpe_mean"), "num")),
        ("OOS return", format_value(summary.get("out_of_sample_total_return"), "pct")),
        ("WF efficiency", format_value(summary.get("walk_forward_efficiency"), "num")),
    )
    return (
        '<div class="kpis">' + "".join(f"<span>{k}: <b>{v}</b></span>" for k, v in items) + "</div>"
    )


def best_table(entries: Sequence[Mapping[str, Any]]) -> str:
    """Every set of best.json, best first, with its in-sample metrics and DSR/PBO."""
    rows = []
    for e in entries:
        m, over = e.get("metrics") or {}, e.get("overfitting") or {}
        cells = (
            format_value(_num(e.get("fitness")), "num"),
            format_value(m.get("sharpe"), "num"),
            format_value(m.get("total_return"), "pct"),
            format_value(m.get("max_drawdown"), "pct"),
            format_value(m.get("num_trades"), "int"),
            format_value(over.get("deflated_sharpe_ratio"), "num"),
            format_value(over.get("pbo"), "num"),
        )
        rows.append(
            f"<tr><td>{_esc(e.get('rank'))}</td><td class='l'>{_esc(e.get('symbol'))}</td>"
            f"<td class='l'>{_esc(e.get('strategy'))}</td>"
            f"<td class='l wrap'>{_esc(_params_text(e.get('params')))}</td>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    head = ("Fitness", "Sharpe", "Return", "Max DD", "Trades", "DSR", "PBO")
    return (
        '<div class="scroll"><table><thead><tr><th>#</th><th class="l">Symbol</th>'
        '<th class="l">Strategy</th><th class="l">Parameters</th>'
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def render_report(
    entries: Sequence[Mapping[str, Any]],
    history: Mapping[str, Any],
    evaluations: Mapping[str, Any] | None = None,
) -> str:
    """The whole report.html page.

    Args:
        entries: the best.json document (a list, best first).
        history: the history.json document.
        evaluations: the evaluations.json document; None: no parameter maps.
    """
    searches = history.get("searches") or []
    groups: dict[tuple[str, str], dict[str, list]] = {}

    def group_of(item: Mapping[str, Any]) -> dict[str, list]:
        key = (item["strategy"], item["symbol"])
        return groups.setdefault(key, {"searches": [], "entries": [], "evaluated": []})

    for s in searches:
        group_of(s)["searches"].append(s)
    for e in entries:
        group_of(e)["entries"].append(e)
    records: dict[str, list[Mapping[str, Any]]] = {}
    if evaluations is not None:
        for s in evaluations.get("searches") or []:
            group_of(s)["evaluated"].append(s)
        for r in evaluations.get("evaluations") or []:
            records.setdefault(r["search"], []).append(r)
    most_panels = max((len(g["evaluated"]) for g in groups.values()), default=0)
    objective = entries[0]["objective"] if entries else "fitness"
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>TradeStream optimize</title>",
        f"<style>{CSS}{_tabs_css(most_panels)}</style></head><body>",
        "<h1>TradeStream optimize</h1>",
        f'<p class="meta">{len(searches)} search(es) over {len(groups)} strategy type(s) x '
        f"symbol(s); objective {_esc(objective)}; {len(entries)} set(s) with a finite fitness "
        f"in best.json; {sum(len(v) for v in records.values())} distinct parameter set(s) "
        "evaluated.</p>",
        "<h2>Best parameter sets</h2>",
        best_table(entries) if entries else '<p class="note">No set reached a finite fitness.</p>',
    ]
    short = next((e["annualized_omitted"] for e in entries if e.get("annualized_omitted")), None)
    if short is not None:
        out.append(
            f'<p class="note">Sharpe –: {_esc(short)} (the fitness is the computed objective '
            "the search ranked by).</p>"
        )
    for number, ((strategy, symbol), group) in enumerate(sorted(groups.items())):
        kept, walk = group["entries"], None
        if kept:
            walk = kept[0].get("walk_forward")
        folds = (walk or {}).get("folds") or []
        out.append(f"<h2>{_esc(strategy)} — {_esc(symbol)}</h2>")
        if kept:
            out.append(
                f'<p class="meta">Best: <b>{_esc(_params_text(kept[0]["params"]))}</b>, fitness '
                f"{format_value(_num(kept[0]['fitness']), 'num')} on {_esc(kept[0]['in_sample']['start'])}"
                f" → {_esc(kept[0]['in_sample']['end'])}.</p>"
            )
        out.append("<h3>Fitness by generation</h3>")
        out.append(generations_chart(group["searches"]))
        out.append("<h3>Parameter map</h3>")
        if evaluations is None:
            out.append(
                '<p class="note">No evaluations.json in this directory (written by an older '
                "version): no parameter map.</p>"
            )
        else:
            out.append(parameter_section(number, group["evaluated"], records, kept, folds))
        out.append("<h3>In-sample vs out-of-sample</h3>")
        if folds:
            out.append(
                f'<p class="meta">Walk-forward ({_esc(walk.get("mode"))}), {len(folds)} fold(s).'
                "</p>"
            )
            out.append(_summary(walk.get("summary") or {}))
            out.append(folds_chart(folds, objective))
            out.append(folds_table(folds, objective))
            if any(
                (f.get(side) or {}).get("annualized_omitted")
                for f in folds
                for side in ("in_sample", "out_of_sample")
            ):
                out.append(
                    '<p class="note">–: windows under 30 days are too short to annualize, so '
                    "their Sharpe (and the means and walk-forward efficiency built on it and on "
                    "CAGR) are not shown.</p>"
                )
        else:
            out.append(
                '<p class="note">No walk-forward (run with --train and --test): the metrics '
                "above are in-sample only.</p>"
            )
    out.append("</body></html>\n")
    return "".join(out)


def write_report(output_dir: str | Path) -> Path:
    """Reads DIR/best.json, DIR/history.json and (if present) DIR/evaluations.json and
    writes DIR/report.html.

    Returns:
        The report's path.
    """
    directory = Path(output_dir)
    entries = json.loads((directory / "best.json").read_text())
    history = json.loads((directory / "history.json").read_text())
    evaluations_path = directory / "evaluations.json"
    evaluations = json.loads(evaluations_path.read_text()) if evaluations_path.exists() else None
    path = directory / "report.html"
    path.write_text(render_report(entries, history, evaluations), encoding="utf-8")
    return path
