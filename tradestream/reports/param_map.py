"""The parameter heatmaps of report.html: the fitness of every genome a search evaluated.

    panel = parameter_maps(search, records, marks)   # HTML: small SVG maps and their legend

Built from evaluations.json (see :mod:`tradestream.optimize.outputs`), one panel per search:

* **2+ searched parameters**: for each pair of parameters a grid, first parameter across and
  second up. Each axis spans the parameter's search range in at most `MAX_BINS` bins (one per
  value when an int range is that short, else equal widths); each evaluated genome falls in
  one cell, coloured by the *best* fitness among its genomes (grey: none reached a finite
  fitness, e.g. under the min-trades guard; blank: nothing evaluated there, or excluded by a
  constraint such as `fast < slow`). The pairs come most informative first: by how much of
  the fitness variance their cells explain (adjusted for the number of cells, so finer grids
  earn nothing), at most `MAX_PAIRS` of them.
* **1 searched parameter**: fitness against the parameter, one dot per evaluated value.

Marks (the chosen set, walk-forward fold winners) are drawn on the cell or at the value they
fall in. Every cell carries its bin indices, genome count and best fitness as `data-`
attributes and a tooltip, and each map its bin edges, so the page can be checked against
evaluations.json (tests do).
"""

from __future__ import annotations

import html
import itertools
import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tradestream.reports.html import colour_legend as colour_strip
from tradestream.reports.html import format_value, heat_color, nice_ticks, tick_labels

MAX_BINS = 20
MAX_PAIRS = 6
_GRID_PX = 300  # the longer side of a pair's grid
_LEFT, _TOP, _BOTTOM, _RIGHT = 58, 22, 40, 14


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _number(value: Any) -> float:
    """A JSON number as a float; null (no finite fitness) as NaN."""
    return float(value) if isinstance(value, int | float) else math.nan


def _generation(record: Mapping[str, Any]) -> str:
    """The generation that first evaluated a record, counted from 1 as the optimizer's log
    counts them (evaluations.json counts from 0)."""
    generation = record.get("generation")
    return str(generation + 1) if isinstance(generation, int) else "?"


def _data(value: float) -> str:
    """A value for a data- attribute: full precision, `null` when undefined."""
    return repr(value) if math.isfinite(value) else "null"


@dataclass(frozen=True)
class Axis:
    """One parameter's bins: `edges[k] <= value < edges[k + 1]` (the last bin is closed).

    Int axes have integer edges, and bin k holds the integers edges[k] .. edges[k + 1] - 1.
    """

    name: str
    edges: tuple[float, ...]
    integer: bool

    @property
    def bins(self) -> int:
        return len(self.edges) - 1

    def bin(self, value: float) -> int:
        return min(max(bisect_right(self.edges, value) - 1, 0), self.bins - 1)

    def label(self, k: int) -> str:
        """The values of bin k: `7`, `7–9` or `0.25–0.5`."""
        low, high = self.edges[k], self.edges[k + 1]
        if self.integer:
            last = int(high) - 1
            return f"{int(low)}" if last == low else f"{int(low)}–{last}"
        return f"{low:g}–{high:g}"


def make_axis(gene: Mapping[str, Any], values: Sequence[float]) -> Axis:
    """The bins of a gene over its search range (widened to any value outside it).

    Args:
        gene: `{"name", "kind", "low", "high"}` as in evaluations.json.
        values: the gene's evaluated values.
    """
    lows = [v for v in (_number(gene.get("low")), *values) if math.isfinite(v)]
    highs = [v for v in (_number(gene.get("high")), *values) if math.isfinite(v)]
    low, high = min(lows), max(highs)
    name = str(gene["name"])
    if gene.get("kind") == "int":
        low, high = math.floor(low), math.floor(high)
        count = high - low + 1
        width = math.ceil(count / MAX_BINS)
        edges = [low + k * width for k in range(math.ceil(count / width))] + [high + 1]
        return Axis(name, tuple(float(e) for e in edges), True)
    if not high > low:
        return Axis(name, (low, low + 1.0), False)
    step = (high - low) / MAX_BINS
    edges = [low + k * step for k in range(MAX_BINS)] + [high]
    return Axis(name, tuple(edges), False)


@dataclass(frozen=True)
class Cell:
    """The genomes of one grid cell: how many, the best finite fitness and its parameters."""

    count: int
    best: float  # NaN when none has a finite fitness
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Mark:
    """A parameter set drawn over the maps (the chosen set, a fold's winner)."""

    label: str
    params: Mapping[str, Any]
    kind: str  # "chosen" (square outline) or "winner" (circle)


def grid_cells(
    records: Sequence[Mapping[str, Any]], x: Axis, y: Axis
) -> dict[tuple[int, int], Cell]:
    """(x bin, y bin) -> Cell of the records' genomes (ties: the first record)."""
    cells: dict[tuple[int, int], Cell] = {}
    for record in records:
        params = record["params"]
        key = (x.bin(_number(params[x.name])), y.bin(_number(params[y.name])))
        fitness = _number(record.get("fitness"))
        cell = cells.get(key)
        if cell is None:
            cells[key] = Cell(1, fitness, params)
        elif math.isfinite(fitness) and not fitness <= cell.best:
            cells[key] = Cell(cell.count + 1, fitness, params)
        else:
            cells[key] = Cell(cell.count + 1, cell.best, cell.params)
    return cells


def explained_variance(records: Sequence[Mapping[str, Any]], x: Axis, y: Axis) -> float:
    """The share of the finite fitness variance between the pair's cells, adjusted (epsilon²).

    1 - (within-cell variance per degree of freedom) / (total variance per degree of
    freedom): 0 when the cells explain no more than chance would, NaN when undefined.
    """
    groups: dict[tuple[int, int], list[float]] = {}
    for record in records:
        fitness = _number(record.get("fitness"))
        if math.isfinite(fitness):
            params = record["params"]
            key = (x.bin(_number(params[x.name])), y.bin(_number(params[y.name])))
            groups.setdefault(key, []).append(fitness)
    values = [v for group in groups.values() for v in group]
    n, k = len(values), len(groups)
    if n - k < 1 or n < 3:
        return math.nan
    mean = math.fsum(values) / n
    total = math.fsum((v - mean) ** 2 for v in values)
    if total <= 0:
        return math.nan
    within = math.fsum(
        (v - math.fsum(group) / len(group)) ** 2 for group in groups.values() for v in group
    )
    return max(0.0, 1.0 - (within / (n - k)) / (total / (n - 1)))


def _ticks(axis: Axis, length: float) -> list[tuple[float, str]]:
    """(pixel offset along the axis, text) for a readable subset of bin labels."""
    cell = length / axis.bins
    every = max(1, math.ceil(axis.bins / max(1, int(length // 34))))
    if axis.integer and all(b - a == 1 for a, b in itertools.pairwise(axis.edges)):
        return [(cell * (k + 0.5), f"{int(axis.edges[k])}") for k in range(0, axis.bins, every)]
    edges = list(range(0, axis.bins + 1, every))
    # An int axis' last edge is one past its range: its bins are labelled by where they start.
    last = axis.bins - 1 if axis.integer else axis.bins
    if edges[-1] < last and last - edges[-1] >= every / 2:
        edges.append(last)
    return [(cell * k, f"{axis.edges[k]:.4g}") for k in edges if k <= last]


def pair_map(
    records: Sequence[Mapping[str, Any]],
    x: Axis,
    y: Axis,
    scale: tuple[float, float],
    marks: Sequence[Mark] = (),
    caption: str = "",
) -> str:
    """One pair's heatmap as an SVG (module docstring)."""
    cells = grid_cells(records, x, y)
    size = max(8, min(24, _GRID_PX // max(x.bins, y.bins)))
    grid_w, grid_h = size * x.bins, size * y.bins
    width, height = _LEFT + grid_w + _RIGHT, _TOP + grid_h + _BOTTOM
    bottom = _TOP + grid_h
    low, high = scale
    parts = [
        f'<text class="axis" x="{_LEFT}" y="14">{_esc(caption)}</text>',
        f'<rect x="{_LEFT}" y="{_TOP}" width="{grid_w}" height="{grid_h}" fill="none" '
        'stroke="#ccd"/>',
        f'<text class="axis" x="{_LEFT + grid_w / 2:.1f}" y="{height - 4}" '
        f'text-anchor="middle">{_esc(x.name)} →</text>',
        f'<text class="axis" transform="rotate(-90)" x="{-(_TOP + grid_h / 2):.1f}" y="12" '
        f'text-anchor="middle">{_esc(y.name)} →</text>',
    ]
    for offset, text in _ticks(x, grid_w):
        parts.append(
            f'<text class="axis" x="{_LEFT + offset:.1f}" y="{bottom + 14}" '
            f'text-anchor="middle">{_esc(text)}</text>'
        )
    for offset, text in _ticks(y, grid_h):
        parts.append(
            f'<text class="axis" x="{_LEFT - 4}" y="{bottom - offset + 4:.1f}" '
            f'text-anchor="end">{_esc(text)}</text>'
        )
    for (i, j), cell in sorted(cells.items()):
        left, top = _LEFT + i * size, bottom - (j + 1) * size
        best = (
            "no finite fitness"
            if math.isnan(cell.best)
            else f"best {format_value(cell.best, 'num')}"
        )
        at = ", ".join(f"{k}={v}" for k, v in cell.params.items())
        tip = (
            f"{x.name} {x.label(i)}, {y.name} {y.label(j)}: {best} of {cell.count} "
            f"genome(s); best at {at}"
        )
        parts.append(
            f'<rect class="cell" data-i="{i}" data-j="{j}" data-n="{cell.count}" '
            f'data-best="{_data(cell.best)}" x="{left}" y="{top}" width="{size - 1}" '
            f'height="{size - 1}" fill="{heat_color(cell.best, low, high)}">'
            f"<title>{_esc(tip)}</title></rect>"
        )
    for mark in marks:
        if x.name not in mark.params or y.name not in mark.params:
            continue
        i, j = x.bin(_number(mark.params[x.name])), y.bin(_number(mark.params[y.name]))
        cx, cy = _LEFT + (i + 0.5) * size - 0.5, bottom - (j + 0.5) * size - 0.5
        tip = f"{mark.label}: " + ", ".join(f"{k}={v}" for k, v in mark.params.items())
        if mark.kind == "chosen":
            parts.append(
                f'<rect class="mark" x="{cx - size / 2:.1f}" y="{cy - size / 2:.1f}" '
                f'width="{size}" height="{size}" fill="none" stroke="#111" stroke-width="2">'
                f"<title>{_esc(tip)}</title></rect>"
            )
        else:
            parts.append(
                f'<circle class="mark" cx="{cx:.1f}" cy="{cy:.1f}" r="{size * 0.42:.1f}" '
                f'fill="none" stroke="#e67700" stroke-width="1.6"><title>{_esc(tip)}</title>'
                "</circle>"
            )
    edges_x = ",".join(f"{e!r}" for e in x.edges)
    edges_y = ",".join(f"{e!r}" for e in y.edges)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="parameter map" '
        f'data-x="{_esc(x.name)}" data-y="{_esc(y.name)}" data-x-edges="{edges_x}" '
        f'data-y-edges="{edges_y}">{"".join(parts)}</svg>'
    )


_LINE_W, _LINE_H = 640, 240


def fitness_chart(
    records: Sequence[Mapping[str, Any]],
    x: Axis,
    scale: tuple[float, float],
    marks: Sequence[Mark] = (),
) -> str:
    """Fitness against the only searched parameter: a dot per evaluated value.

    Genomes without a finite fitness are grey ticks under the axis.
    """
    points = sorted(
        ((_number(r["params"][x.name]), _number(r.get("fitness")), r) for r in records),
        key=lambda point: point[0],
    )
    low, high = scale
    if not math.isfinite(low):
        low, high = 0.0, 1.0
    pad = (high - low) * 0.06 or abs(low) * 0.05 or 1.0
    y0, y1 = low - pad, high + pad
    x0, x1 = x.edges[0], x.edges[-1]
    plot_w, plot_h = _LINE_W - 70 - 16, _LINE_H - 18 - 48
    bottom = 18 + plot_h

    def px(value: float) -> float:
        return 70 + (value - x0) / ((x1 - x0) or 1.0) * plot_w

    def py(value: float) -> float:
        return 18 + (y1 - value) / (y1 - y0) * plot_h

    parts = [
        f'<line x1="70" x2="{70 + plot_w}" y1="{bottom}" y2="{bottom}" stroke="#99a"/>',
        f'<text class="axis" x="{70 + plot_w / 2:.1f}" y="{_LINE_H - 4}" '
        f'text-anchor="middle">{_esc(x.name)} →</text>',
        f'<text class="axis" transform="rotate(-90)" x="{-(18 + plot_h / 2):.1f}" y="12" '
        'text-anchor="middle">fitness →</text>',
    ]
    y_ticks = nice_ticks(y0, y1)
    for tick, label in zip(y_ticks, tick_labels(y_ticks), strict=True):
        y = py(tick)
        parts.append(
            f'<line class="grid" x1="70" x2="{70 + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis y-tick" x="64" y="{y + 4:.1f}" text-anchor="end">'
            f"{_esc(label)}</text>"
        )
    for tick in nice_ticks(x0, x1):
        parts.append(
            f'<text class="axis" x="{px(tick):.1f}" y="{bottom + 26}" text-anchor="middle">'
            f"{tick:g}</text>"
        )
    finite = [(v, f) for v, f, _ in points if math.isfinite(f)]
    if len(finite) > 1:
        line = " ".join(f"{px(v):.1f},{py(f):.1f}" for v, f in finite)
        parts.append(f'<polyline fill="none" stroke="#aab" stroke-width="1" points="{line}"/>')
    for value, fitness, record in points:
        tip = f"{x.name}={record['params'][x.name]}: "
        if math.isfinite(fitness):
            tip += f"fitness {format_value(fitness, 'num')} (generation {_generation(record)})"
            parts.append(
                f'<circle class="point" data-x="{value!r}" data-fitness="{fitness!r}" '
                f'cx="{px(value):.1f}" cy="{py(fitness):.1f}" r="3" '
                f'fill="{heat_color(fitness, low, high)}" stroke="#556" stroke-width="0.6">'
                f"<title>{_esc(tip)}</title></circle>"
            )
        else:
            tip += "no finite fitness"
            parts.append(
                f'<line class="point" data-x="{value!r}" data-fitness="null" '
                f'x1="{px(value):.1f}" x2="{px(value):.1f}" y1="{bottom + 2}" '
                f'y2="{bottom + 9}" stroke="#99a" stroke-width="1.5"><title>{_esc(tip)}</title>'
                "</line>"
            )
    for mark in marks:
        if x.name in mark.params:
            cx = px(_number(mark.params[x.name]))
            color = "#111" if mark.kind == "chosen" else "#e67700"
            parts.append(
                f'<line class="mark" x1="{cx:.1f}" x2="{cx:.1f}" y1="18" y2="{bottom}" '
                f'stroke="{color}" stroke-dasharray="3 3"><title>{_esc(mark.label)}: '
                f"{x.name}={_esc(mark.params[x.name])}</title></line>"
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_LINE_W}" height="{_LINE_H}" '
        f'viewBox="0 0 {_LINE_W} {_LINE_H}" role="img" aria-label="fitness by parameter" '
        f'data-x="{_esc(x.name)}">{"".join(parts)}</svg>'
    )


def colour_legend(scale: tuple[float, float]) -> str:
    """A strip of the fitness colours from low to high, and what grey means (see
    :func:`tradestream.reports.html.colour_legend`)."""
    if not math.isfinite(scale[0]):
        return '<p class="note">No evaluated genome reached a finite fitness.</p>'
    return colour_strip(scale, "best fitness in the cell", "no finite fitness")


def fitness_scale(records: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """(lowest, highest) finite fitness of the records; (NaN, NaN) when there is none."""
    finite = [f for f in (_number(r.get("fitness")) for r in records) if math.isfinite(f)]
    return (min(finite), max(finite)) if finite else (math.nan, math.nan)


def parameter_maps(
    search: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    marks: Sequence[Mark] = (),
) -> str:
    """The maps of one search (module docstring) with their colour legend, as HTML.

    Args:
        search: the search's entry of evaluations.json `searches` (its genes).
        records: the search's evaluations.
        marks: parameter sets to draw over the maps.
    """
    if not records:
        return '<p class="note">This search evaluated no genome.</p>'
    axes = []
    for gene in search.get("genes") or []:
        values = [_number(r["params"].get(gene["name"])) for r in records]
        if not all(math.isfinite(v) for v in values):
            continue
        axis = make_axis(gene, values)
        if len(set(values)) > 1 or axis.bins > 1:
            axes.append(axis)
    scale = fitness_scale(records)
    guarded = sum(1 for r in records if not math.isfinite(_number(r.get("fitness"))))
    count = (
        f"{len(records)} distinct genome(s) evaluated"
        + (f", {guarded} without a finite fitness" if guarded else "")
        + "."
    )
    if not axes:
        return f'<p class="note">{count} No numeric parameter is searched: no map.</p>'
    if len(axes) == 1:
        chart = fitness_chart(records, axes[0], scale, marks)
        return (
            f'<p class="note">{count} Each dot is one evaluated value; grey ticks under the '
            f"axis: no finite fitness. Dashed lines: chosen set and fold winners.</p>"
            f"{chart}{colour_legend(scale)}"
        )
    pairs = list(itertools.combinations(axes, 2))
    scored = [(explained_variance(records, x, y), n, x, y) for n, (x, y) in enumerate(pairs)]
    scored.sort(key=lambda s: (-(s[0] if math.isfinite(s[0]) else -1.0), s[1]))
    shown = scored[:MAX_PAIRS]
    maps = []
    for explained, _, x, y in shown:
        share = "–" if math.isnan(explained) else f"{100 * explained:.0f}%"
        maps.append(pair_map(records, x, y, scale, marks, f"{x.name} × {y.name}: {share}"))
    note = (
        f'<p class="note">{count} One map per parameter pair'
        + (
            f" (the {len(shown)} most informative of {len(pairs)})"
            if len(pairs) > len(shown)
            else ""
        )
        + ", most informative first: the percentage is the share of fitness variance the "
        "pair's cells explain (adjusted for their number). A cell's colour is the best fitness "
        "of the genomes in it; blank: not evaluated (or excluded by a constraint). Black "
        "square: the chosen set; orange circles: walk-forward fold winners. Hover a cell for "
        "its range, count and best set.</p>"
    )
    return f'{note}<div class="maps">{"".join(maps)}</div>{colour_legend(scale)}'
