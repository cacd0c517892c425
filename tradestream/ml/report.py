"""`tradestream train`'s report.html: is the model any better than what it is compared to?

A self-contained page (inline SVG and CSS, :mod:`tradestream.reports.html`) drawn from the
manifest `tradestream train` writes (its walk-forward record) and the out-of-sample equity
curves: per fold, the in-sample (training window) and out-of-sample (test window) return and
Sharpe ratio of the model strategy, buy-and-hold, and the classic library strategy that was
best in-sample; the out-of-sample equity of the three, fold after fold, compounded; and the
deflated Sharpe ratio of the model and of the classic pick over every trial.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tradestream.reports.html import (
    CSS,
    ChartFrame,
    breakable,
    format_value,
    polyline,
    svg_figure,
)

_COLORS = {"model": "#2456c8", "buy_and_hold": "#868e96", "classic_pick": "#e67700"}
_NAMES = {
    "model": "model strategy",
    "buy_and_hold": "buy-and-hold",
    "classic_pick": "best classic (in-sample pick)",
}


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, kind: str = "num") -> str:
    return format_value(float(value) if isinstance(value, int | float) else None, kind)


def _signed(value: Any) -> str:
    text = _num(value, "pct")
    if not isinstance(value, int | float):
        return text
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<span class="{css}">{text}</span>' if css else text


def _when(text: str) -> str:
    return _esc(str(text).replace("T", " ")[:16])


def _fold_table(folds: Sequence[Mapping[str, Any]]) -> str:
    """Per fold: the windows, then in- and out-of-sample return and Sharpe of each strategy.

    Sharpe is annualized when every window is long enough to annualize (30 days, as the
    backtest's metrics); otherwise the whole table shows the per-candle Sharpe ratio, which
    is defined on any window (and is what the DSR uses)."""
    who = [w for w in ("model", "buy_and_hold", "classic_pick") if folds and w in folds[0]]
    annualized = not any(f.get("annualized_omitted") for f in folds)
    key = "sharpe" if annualized else "sharpe_per_candle"
    what = "Sharpe" if annualized else "Sharpe /candle"
    head = "".join(f'<th colspan="4">{_esc(_NAMES[w])}</th>' for w in who)
    sub = "".join(
        f"<th>IS return</th><th>OOS return</th><th>IS {what}</th><th>OOS {what}</th>" for _ in who
    )
    rows = []
    for fold in folds:
        train, test = fold["train"], fold["test"]
        cells = [
            f"<td>{fold['fold'] + 1}</td>",
            f'<td class="l">{_when(train["start"])} →<br>{_when(train["end"])}</td>',
            f'<td class="l">{_when(test["start"])} →<br>{_when(test["end"])}</td>',
        ]
        for w in who:
            is_, oos = fold[w]["in_sample"], fold[w]["out_of_sample"]
            cells += [
                f"<td>{_signed(is_['total_return'])}</td>",
                f"<td>{_signed(oos['total_return'])}</td>",
                f"<td>{_num(is_[key])}</td>",
                f"<td>{_num(oos[key])}</td>",
            ]
        cells.append(f"<td>{fold['model']['out_of_sample']['num_trades']}</td>")
        pick = fold.get("classic_pick", {}).get("strategy")
        if pick is not None:
            cells.append(f'<td class="l wrap">{breakable(pick)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    pick_head = '<th rowspan="2" class="l">classic pick</th>' if "classic_pick" in who else ""
    return (
        '<div class="scroll"><table><thead><tr><th rowspan="2">fold</th>'
        '<th rowspan="2" class="l">training window</th><th rowspan="2" class="l">test window'
        f'</th>{head}<th rowspan="2">model OOS closed trades</th>{pick_head}</tr>'
        f"<tr>{sub}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _equity_chart(curves: Sequence[tuple[np.ndarray, list[np.ndarray]]], who: list[str]) -> str:
    """Out-of-sample equity, each fold's growth chained onto the previous folds'."""
    if not curves:
        return ""
    times = np.concatenate([t for t, _ in curves]).astype(np.float64)
    lines = []
    for i, _name in enumerate(who):
        level, parts = 1.0, []
        for _, equity in curves:
            growth = equity[i] / equity[i][0] if equity[i][0] > 0 else np.ones_like(equity[i])
            # The first candle of a fold already holds its entry costs: start from the
            # previous fold's level times the fold's own first candle against its cash.
            parts.append(level * growth)
            level = float(parts[-1][-1])
        lines.append(np.concatenate(parts))
    low = min(float(line.min()) for line in lines)
    high = max(float(line.max()) for line in lines)
    frame = ChartFrame(float(times[0]), float(times[-1]), low, high)
    body = [frame.axes(100.0, "%")]
    for name, line in zip(who, lines, strict=True):
        body.append(polyline(frame, times, line, _COLORS[name]))
    legend = " ".join(
        f'<span><span class="sw" style="background:{_COLORS[w]}"></span>{_esc(_NAMES[w])}</span>'
        for w in who
    )
    return (
        svg_figure("".join(body), label="out-of-sample equity")
        + f'<p class="legend note">{legend} (growth of 1, test windows chained)</p>'
    )


def _dsr_table(overfitting: Mapping[str, Any]) -> str:
    rows = []
    for who in ("model", "classic_pick"):
        d = overfitting.get(who)
        if not d:
            continue
        rows.append(
            f'<tr><td class="l">{_esc(_NAMES[who])}</td><td>{_num(d["sharpe"])}</td>'
            f"<td>{d['returns']:,}</td><td>{_num(d['expected_max_sharpe'])}</td>"
            f"<td>{_num(d['probabilistic_sharpe_ratio'])}</td>"
            f"<td>{_num(d['deflated_sharpe_ratio'])}</td></tr>"
        )
    return (
        '<table><thead><tr><th class="l">out of sample</th><th>Sharpe per candle</th>'
        "<th>returns</th><th>SR₀ (best of the trials by luck)</th><th>PSR(0)</th><th>DSR</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<p class="note">{overfitting["trials"]} trials: {_esc(overfitting["what"])}. DSR: '
        "the probability that the true Sharpe ratio beats the best the trials would reach by "
        "luck (Bailey &amp; López de Prado 2014); below 0.95 the result is not significant.</p>"
    )


def _rules_text(manifest: Mapping[str, Any]) -> str:
    if manifest["kind"] == "dqn":
        return "The strategy buys on the agent's buy action and sells on its sell action"
    threshold = manifest["threshold"]
    return (
        f"The strategy buys when the predicted return crosses above {threshold:.3g} and sells "
        f"when it crosses below {-threshold:.3g}"
    )


def render_report(
    manifest: Mapping[str, Any], curves: Sequence[tuple[np.ndarray, list[np.ndarray]]]
) -> str:
    """The page for a manifest (:mod:`tradestream.ml.train`) and its out-of-sample curves."""
    data, wf = manifest["data"], manifest["walk_forward"]
    folds, summary = wf["folds"], wf["summary"]
    who = [w for w in ("model", "buy_and_hold", "classic_pick") if w in summary]
    kpis = "".join(
        f"<span>{_esc(_NAMES[w])}: <b>{_signed(summary[w]['out_of_sample_compounded_return'])}"
        "</b></span>"
        for w in who
    )
    dsr = manifest["overfitting"].get("model", {}).get("deflated_sharpe_ratio")
    kpis += f"<span>model DSR: <b>{_num(dsr)}</b></span>"
    omitted = next((f["annualized_omitted"] for f in folds if f.get("annualized_omitted")), None)
    note = (
        f'<p class="note">Sharpe per candle (not annualized): {_esc(omitted)} (a test window).</p>'
        if omitted
        else ""
    )
    training = manifest["training"]
    final_is = training["in_sample"]
    settings = ", ".join(f"{k}={v}" for k, v in manifest["model"].items() if k != "library")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tradestream train: {_esc(manifest["kind"])}
on {_esc(data["symbol"])}</title><style>{CSS}</style></head><body>
<h1>Trained {_esc(manifest["kind"])} model on {_esc(data["symbol"])}</h1>
<p class="meta">{data["candles"]:,} candles of {data["candle_interval_ms"] // 1000} s,
{_when(data["first_candle"])} → {_when(data["end"])}; {len(manifest["features"])} features;
seed {manifest["seed"]}; model.npz sha256 <code>{_esc(manifest["sha256"])}</code></p>
<p class="meta">{_esc(manifest["model"]["library"])}: {_esc(settings)}</p>
<p class="meta">Fee {manifest["execution"]["fee"]} per side, fills at the {
        _esc(manifest["execution"]["fill"])
    }; training {manifest["training_seconds"]} s
(versions: {_esc(", ".join(f"{k} {v}" for k, v in manifest["versions"].items()))})</p>
<h2>Out of sample, all folds</h2>
<div class="kpis">{kpis}</div>
{_equity_chart(curves, who)}
<h2>Walk-forward folds ({_esc(wf["mode"])})</h2>
<p class="note">Each fold's model is trained on its training window only and trades its test
window, which follows it; IS = in-sample (training window), OOS = out-of-sample (test window).
The classic pick is the library strategy (default parameters) with the best in-sample Sharpe
on that fold.</p>
{_fold_table(folds)}
{note}
<h2>Overfitting</h2>
{_dsr_table(manifest["overfitting"])}
<h2>The model in DIR</h2>
<p>Trained on {_when(training["window"]["start"])} → {_when(training["window"]["end"])}
({training["rows"]:,} rows), in-sample return {_signed(final_is["total_return"])},
{final_is["num_trades"]} trades. {_rules_text(manifest)} (strategy.yaml).</p>
<p class="note">Features: {_esc(", ".join(manifest["features"]))}</p>
</body></html>
"""


def write_report(
    path: Path,
    manifest: Mapping[str, Any],
    curves: Sequence[tuple[np.ndarray, list[np.ndarray]]],
    first_ms: int = 0,
) -> None:
    """Writes report.html."""
    Path(path).write_text(render_report(manifest, curves), encoding="utf-8")
