"""The pieces both HTML reports are drawn with: the page's CSS, number formats and inline SVG.

    svg_figure(body)            an <svg> of the report's width around chart elements
    ChartFrame, polyline        data coordinates -> pixels, a series as a polyline
    nice_ticks, tick_labels     round axis values, and their text with only the decimals the
                                step needs (`45`, not `45.000`)
    time_ticks                  time axis ticks at whole minutes, hours, days or months
    downsample                  per-pixel min/max buckets of a long series
    heat_color, ink_on          a heatmap cell's colour; a text colour readable on it
    colour_legend               a strip of the heatmap colours from low to high
    format_value, cell_number   a metric as the tables show it; as short as a heatmap cell needs
    breakable                   an id that may wrap after its commas and brackets

Used by :mod:`tradestream.reports.backtest_report`, :mod:`tradestream.reports.optimize_report`
and :mod:`tradestream.reports.param_map`.
"""

from __future__ import annotations

import calendar
import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

WIDTH, HEIGHT = 960, 240

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 70, 16, 14, 26

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1240px;padding:0 16px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde}
h3{font-size:15px;margin:18px 0 6px}.meta{color:#556;margin:2px 0}
.kpis{display:flex;flex-wrap:wrap;gap:6px 18px;margin:6px 0}.kpis b{font-weight:600}
svg{display:block;margin:4px 0 10px;max-width:100%;height:auto}.axis{font-size:11px;fill:#556}
.grid{stroke:#eef}.cell-label{font-size:11px;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto;max-width:100%}.scroll.tall{max-height:80vh;overflow-y:auto}
table{border-collapse:collapse;font-size:12px;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:3px 5px;text-align:right;border-bottom:1px solid #eef;white-space:nowrap}
th{background:#f5f6fa;position:sticky;top:0;white-space:normal;vertical-align:bottom}
td.l,th.l{text-align:left}td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:7em}
.nw{white-space:nowrap}
.neg{color:#b3261e}.pos{color:#1b7f3b}.note{color:#667;font-size:12px}
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


def tick_labels(ticks: Sequence[float], scale: float = 1.0, suffix: str = "") -> list[str]:
    """The text of evenly spaced ticks, with as many decimals as their step needs.

    `[40, 45, 50]` reads `40, 45, 50`, `[0.6, 0.8, 1.0]` reads `0.6, 0.8, 1.0` (every label
    of an axis with the same decimals), never `45.000`.

    Args:
        ticks: the values, evenly spaced (e.g. from :func:`nice_ticks`).
        scale: multiplies each value first (100 for a fraction shown as a percentage).
        suffix: appended to each label (`%`).
    """
    values = [t * scale for t in ticks]
    step = abs(values[1] - values[0]) if len(values) > 1 else abs(values[0]) if values else 0.0
    decimals = _decimals(step)
    # `+ 0.0` turns -0.0 into 0.0, so a tick at zero never reads `-0`.
    return [f"{round(v, decimals) + 0.0:,.{decimals}f}{suffix}" for v in values]


def _decimals(step: float) -> int:
    """The fewest decimals that write `step` exactly (2.5 -> 1, 0.25 -> 2, 50 -> 0)."""
    if not (math.isfinite(step) and step > 0):
        return 0
    for decimals in range(0, 10):
        scaled = step * 10**decimals
        if abs(scaled - round(scaled)) <= 1e-6 * scaled:
            return decimals
    return 10


_MINUTE, _HOUR, _DAY = 60_000, 3_600_000, 86_400_000
_TIME_STEPS = (
    _MINUTE, 2 * _MINUTE, 5 * _MINUTE, 10 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE,
    _HOUR, 2 * _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR, _DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY,
)  # fmt: skip
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60, 120)


def time_ticks(start_ms: float, end_ms: float, most: int = 7) -> tuple[list[int], str]:
    """Ticks at round UTC times between two instants, and the strftime format to label them.

    The step is the smallest of 1, 2, 5, 10, 15, 30 minutes, 1, 2, 3, 6, 12 hours, 1, 2, 7, 14
    days or 1, 2, 3, 6, 12 ... months that gives at most `most` ticks; ticks fall on multiples
    of it (minutes and hours on the clock, days at midnight, weeks on Mondays, months on the
    1st).

    Returns:
        (epoch ms of each tick, format): `%m-%d %H:%M` under a day, `%Y-%m-%d` for days,
        `%Y-%m` for months.
    """
    start, end = math.ceil(start_ms), math.floor(end_ms)
    if end < start:
        return [], "%m-%d %H:%M"
    for step in _TIME_STEPS:
        # Weeks start on Mondays (the epoch, 1970-01-01, was a Thursday).
        origin = 4 * _DAY if step % (7 * _DAY) == 0 else 0
        first = -(-(start - origin) // step) * step + origin
        if (end - first) // step + 1 <= most:
            ticks = list(range(first, end + 1, step))
            return ticks, "%m-%d %H:%M" if step < _DAY else "%Y-%m-%d"
    begin = datetime.fromtimestamp(start / 1000, UTC)
    month = begin.year * 12 + begin.month - 1  # months since year 0; ticks on the 1st
    for step in _MONTH_STEPS:
        ticks = []
        for m in range(-(-month // step) * step, month + 12 * 10_000, step):
            tick = calendar.timegm((m // 12, m % 12 + 1, 1, 0, 0, 0)) * 1000
            if tick > end:
                break
            if tick >= start:
                ticks.append(tick)
        if len(ticks) <= most:
            return ticks, "%Y-%m"
    return [], "%Y-%m"


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

    def y_axis(self, scale: float = 1.0, suffix: str = "") -> str:
        """Grid lines and labels at round values of y (labels: :func:`tick_labels`)."""
        ticks = nice_ticks(self.y0, self.y1)
        parts = []
        for tick, label in zip(ticks, tick_labels(ticks, scale, suffix), strict=True):
            y = float(self.py(tick))
            parts.append(
                f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" '
                f'y2="{y:.1f}"/><text class="axis y-tick" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">{html.escape(label)}</text>'
            )
        return "".join(parts)

    def axes(self, scale: float = 1.0, suffix: str = "") -> str:
        """The y axis, and time labels along x (epoch ms) at round times (:func:`time_ticks`)."""
        parts = [self.y_axis(scale, suffix)]
        ticks, time_format = time_ticks(self.x0, self.x1)
        for tick in ticks:
            x = float(self.px(tick))
            label = datetime.fromtimestamp(tick / 1000, UTC).strftime(time_format)
            half = 3.2 * len(label)  # about half the label's width at 11px
            anchor = "end" if x + half > WIDTH else ("start" if x - half < 0 else "middle")
            parts.append(
                f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP}" '
                f'y2="{self.h - PAD_BOTTOM}"/><text class="axis x-tick" x="{x:.1f}" '
                f'y="{self.h - 8}" text-anchor="{anchor}" data-t="{tick}">{label}</text>'
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


def heat_rgb(value: float, low: float, high: float) -> tuple[int, int, int]:
    """Red (low) - white - green (high) when the range spans 0, else light to dark blue;
    grey for an undefined value."""
    if not math.isfinite(value):
        return (217, 219, 227)
    if low < 0 < high:
        if value < 0:
            f = min(value / low, 1.0)
            return (255, round(255 - 150 * f), round(255 - 150 * f))
        f = min(value / high, 1.0)
        return (round(255 - 170 * f), round(255 - 80 * f), round(255 - 150 * f))
    f = 0.5 if high == low else min(max((value - low) / (high - low), 0.0), 1.0)
    return (round(235 - 190 * f), round(240 - 140 * f), round(250 - 60 * f))


def heat_color(value: float, low: float, high: float) -> str:
    """:func:`heat_rgb` as a CSS colour."""
    r, g, b = heat_rgb(value, low, high)
    return f"rgb({r},{g},{b})"


def ink_on(rgb: tuple[int, int, int]) -> str:
    """Dark text on a light fill, white on a dark one: whichever has the higher WCAG contrast."""

    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2])
    # Contrast with white: 1.05 / (L + 0.05); with #1d2330 (L ~ 0.016): (L + 0.05) / 0.066.
    return "#fff" if 1.05 / (luminance + 0.05) > (luminance + 0.05) / 0.066 else "#1d2330"


def cell_number(value: float) -> str:
    """A value as short as a heatmap cell needs: 3 significant digits, thousands as k/M.

    `-103`, `184`, `75.1`, `6.43`, `-0.91`, `0.012`, `12.3k`.
    """
    if not math.isfinite(value):
        return "–"
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.3g}M"
    if size >= 1e4:
        return f"{value / 1e3:.3g}k"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.2g}"


def colour_legend(scale: tuple[float, float], what: str, grey: str, steps: int = 12) -> str:
    """A strip of the :func:`heat_color` colours from `scale`'s low to its high end.

    When the range spans 0 the colours diverge there (red below, green above, each side
    scaled to its own extreme), so the strip gives each side half its length.

    Args:
        scale: (low, high) of the colours.
        what: said after the high end, e.g. `best fitness in the cell`.
        grey: what a grey cell means.
    """
    low, high = scale
    if low < 0 < high:
        half = steps // 2
        values = [low * (1 - k / half) for k in range(half)]
        values += [high * k / (steps - half - 1) for k in range(steps - half)]
    else:
        values = [low + (high - low) * k / (steps - 1) for k in range(steps)]
    swatches = "".join(
        f'<rect x="{70 + 16 * k}" y="4" width="16" height="12" fill="{heat_color(v, low, high)}"/>'
        for k, v in enumerate(values)
    )
    right = 70 + 16 * steps
    zero = ""
    if low < 0 < high:
        zero = (
            f'<text class="axis" x="{70 + 16 * (steps // 2)}" y="28" text-anchor="middle">0</text>'
        )
    high_text = f"{format_value(high, 'num')} ({what})"
    grey_at = right + 16 + round(6.2 * len(high_text))
    width = grey_at + 26 + round(6.2 * len(grey))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="32" '
        f'viewBox="0 0 {width} 32" role="img" aria-label="colour legend">'
        f'<text class="axis" x="64" y="14" text-anchor="end">'
        f"{html.escape(format_value(low, 'num'))}</text>{swatches}{zero}"
        f'<text class="axis" x="{right + 6}" y="14">{html.escape(high_text)}</text>'
        f'<rect x="{grey_at}" y="4" width="16" height="12" fill="{heat_color(math.nan, 0, 1)}"/>'
        f'<text class="axis" x="{grey_at + 20}" y="14">{html.escape(grey)}</text></svg>'
    )


def breakable(text: str) -> str:
    """`text` escaped, with line-break opportunities after `(` and `,` (a strategy id wraps
    between its parameters rather than widening its table)."""
    return html.escape(text).replace("(", "(<wbr>").replace(",", ",<wbr>")
