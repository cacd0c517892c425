"""The pieces both HTML reports are drawn with: the page's CSS, number formats and inline SVG.

    svg_figure(body)            an <svg> of the report's width around chart elements
    ChartFrame, polyline        data coordinates -> pixels, a series as a polyline
    nice_ticks, downsample      round axis ticks; per-pixel min/max buckets of a long series
    heat_color, format_value    a heatmap cell's colour; a metric as the tables show it

Used by :mod:`tradestream.reports.backtest_report`, :mod:`tradestream.reports.optimize_report`
and :mod:`tradestream.reports.param_map`.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime

import numpy as np

WIDTH, HEIGHT = 960, 240

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 70, 16, 14, 26

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1000px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde}
h3{font-size:15px;margin:18px 0 6px}.meta{color:#556;margin:2px 0}
.kpis{display:flex;flex-wrap:wrap;gap:6px 18px;margin:6px 0}.kpis b{font-weight:600}
svg{display:block;margin:4px 0 10px}.axis{font-size:11px;fill:#667}.grid{stroke:#eef}
table{border-collapse:collapse;font-size:12px;width:100%}th,td{padding:3px 6px;text-align:right;
border-bottom:1px solid #eef;white-space:nowrap}th{background:#f5f6fa;position:sticky;top:0}
td.l,th.l{text-align:left}.neg{color:#b3261e}.pos{color:#1b7f3b}.note{color:#778;font-size:12px}
.legend span{margin-right:14px}.sw{display:inline-block;width:18px;height:3px;vertical-align:middle;
margin-right:4px}
"""


def format_value(value: float, kind: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if kind == "pct":
        # Annualizing a few hours can give astronomic CAGRs: keep them readable.
        return f"{100 * value:.3g}%" if abs(value) >= 1e4 else f"{100 * value:.2f}%"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "dur":
        return format_duration(int(value))
    return f"{value:.4g}" if abs(value) >= 1e6 else f"{value:.3f}"


def format_duration(ms: int) -> str:
    if ms <= 0:
        return "0"
    seconds = ms / 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            amount = seconds / size
            return f"{amount:.0f}{unit}" if amount == int(amount) else f"{amount:.1f}{unit}"
    return f"{seconds:g}s"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def downsample(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most 2 points per bucket (its min and max), in x order."""
    n = y.shape[0]
    if n <= 2 * buckets:
        return x, y
    starts = np.linspace(0, n, buckets + 1).astype(np.int64)[:-1]
    lows = np.minimum.reduceat(y, starts)
    highs = np.maximum.reduceat(y, starts)
    xs = np.repeat(x[starts], 2)
    ys = np.empty(2 * buckets)
    ys[0::2], ys[1::2] = lows, highs
    return xs, ys


class ChartFrame:
    """Maps data coordinates to the pixels of one chart."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float, height: int = HEIGHT):
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1
        pad = (y1 - y0) * 0.04 or abs(y0) * 0.01 or 1.0
        self.y0, self.y1 = y0 - pad, y1 + pad
        self.h = height

    def px(self, x) -> np.ndarray:
        return PAD_LEFT + (np.asarray(x, float) - self.x0) / (self.x1 - self.x0) * (
            WIDTH - PAD_LEFT - PAD_RIGHT
        )

    def py(self, y) -> np.ndarray:
        return PAD_TOP + (self.y1 - np.asarray(y, float)) / (self.y1 - self.y0) * (
            self.h - PAD_TOP - PAD_BOTTOM
        )

    def y_axis(self, y_format) -> str:
        """Grid lines and labels at round values of y (`y_format` turns a value into text)."""
        parts = []
        for tick in nice_ticks(self.y0, self.y1):
            y = float(self.py(tick))
            parts.append(
                f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" '
                f'y2="{y:.1f}"/><text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">{html.escape(str(y_format(tick)))}</text>'
            )
        return "".join(parts)

    def axes(self, y_format) -> str:
        """The y axis, and six time labels along x (epoch ms)."""
        parts = [self.y_axis(y_format)]
        span_days = (self.x1 - self.x0) / 86_400_000
        time_format = "%Y-%m-%d" if span_days > 5 else "%m-%d %H:%M"
        ticks = np.linspace(self.x0, self.x1, 6)
        for i, tick in enumerate(ticks):
            x = float(self.px(tick))
            label = datetime.fromtimestamp(tick / 1000, UTC).strftime(time_format)
            anchor = "start" if i == 0 else ("end" if i == len(ticks) - 1 else "middle")
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{self.h - 8}" text-anchor="{anchor}">'
                f"{label}</text>"
            )
        return "".join(parts)


def polyline(frame: ChartFrame, x, y, color: str, width: float = 1.4, dash: str = "") -> str:
    xs, ys = downsample(np.asarray(x, float), np.asarray(y, float), WIDTH - PAD_LEFT)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(frame.px(xs), frame.py(ys), strict=True))
    style = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<polyline fill="none" stroke="{color}" stroke-width="{width}"{style} points="{points}"/>'
    )


def svg_figure(body: str, height: int = HEIGHT, label: str = "") -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{html.escape(label)}">'
        f"{body}</svg>"
    )


def triangle(x: float, y: float, up: bool, color: str) -> str:
    s = 5.0
    if up:
        pts = f"{x:.1f},{y - s:.1f} {x - s:.1f},{y + s:.1f} {x + s:.1f},{y + s:.1f}"
    else:
        pts = f"{x:.1f},{y + s:.1f} {x - s:.1f},{y - s:.1f} {x + s:.1f},{y - s:.1f}"
    return f'<polygon points="{pts}" fill="{color}" fill-opacity="0.85"/>'


def heat_color(value: float, low: float, high: float) -> str:
    """Red (low) - white - green (high) when the range spans 0, else light to dark blue."""
    if not math.isfinite(value):
        return "#d9dbe3"
    if low < 0 < high:
        if value < 0:
            f = min(value / low, 1.0)
            r, g, b = 255, round(255 - 150 * f), round(255 - 150 * f)
        else:
            f = min(value / high, 1.0)
            r, g, b = round(255 - 170 * f), round(255 - 80 * f), round(255 - 150 * f)
        return f"rgb({r},{g},{b})"
    f = 0.5 if high == low else (value - low) / (high - low)
    return f"rgb({round(235 - 190 * f)},{round(240 - 140 * f)},{round(250 - 60 * f)})"
