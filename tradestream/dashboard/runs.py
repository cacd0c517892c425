"""Backtest and optimizer runs under a directory, for the dashboard's runs page.

A run is a directory holding `summary.json` (what `tradestream backtest --output DIR`
writes, with `report.html`), or `best.json` (what `tradestream optimize --output DIR`
writes: a list of the best parameter sets, best first, with `history.json`). Directories are searched to
`MAX_DEPTH` levels below `--runs_dir`; the newest run comes first. Hidden directories are
not searched: they hold a run in progress (`DIR/.staging-*`) or its work files.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

MAX_DEPTH = 3
MAX_RUNS = 500
MARKERS = ("summary.json", "best.json", "report.html")
_SKIP = {".git", ".venv", ".local", "node_modules", "__pycache__", "test-artifacts"}


@dataclass
class Run:
    path: str  # relative to the runs directory ("." for the directory itself)
    kind: str  # backtest | optimize | unknown
    modified: str
    modified_ts: float
    report: str | None  # relative path of report.html
    files: list[str] = field(default_factory=list)
    results: int | None = None
    symbols: list[str] = field(default_factory=list)
    best: dict | None = None  # strategy_id, symbol, total_return, sharpe, ...
    note: str = ""


def _finite(value) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _best_of(entry: dict, rank_by: str) -> dict:
    m = entry.get("metrics") or {}
    return {
        "strategy_id": entry.get("strategy_id"),
        "symbol": entry.get("symbol"),
        "rank_by": rank_by,
        "fitness": _finite(entry.get("fitness")),
        "total_return": _finite(m.get("total_return")),
        "sharpe": _finite(m.get("sharpe")),
        "max_drawdown": _finite(m.get("max_drawdown")),
        "num_trades": m.get("num_trades"),
    }


def describe(directory: Path, root: Path) -> Run | None:
    """The run in `directory`, or None if it holds none of the marker files."""
    present = [m for m in MARKERS if (directory / m).is_file()]
    if not present:
        return None
    mtime = max((directory / m).stat().st_mtime for m in present)
    rel = directory.relative_to(root).as_posix() or "."
    run = Run(
        path=rel,
        kind="unknown",
        modified=datetime.fromtimestamp(mtime, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        modified_ts=mtime,
        report=f"{rel}/report.html" if "report.html" in present else None,
        files=sorted(p.name for p in directory.iterdir() if p.is_file())[:20],
    )
    summary = _read_json(directory / "summary.json") if "summary.json" in present else None
    summary = summary if isinstance(summary, dict) else None
    best = _read_json(directory / "best.json") if "best.json" in present else None
    if isinstance(best, list):  # tradestream optimize: parameter sets, best first
        run.kind = "optimize"
        entries = [e for e in best if isinstance(e, dict)]
        run.results = len(entries)
        run.symbols = sorted({str(e.get("symbol")) for e in entries})
        if entries:
            run.best = _best_of(entries[0], str(entries[0].get("objective") or "fitness"))
    elif summary is not None and isinstance(summary.get("results"), list):
        run.kind = "backtest"
        results = [r for r in summary["results"] if isinstance(r, dict)]
        run.results = len(results)
        run.symbols = sorted({str(r.get("symbol")) for r in results})
        rank_by = str((summary.get("run") or {}).get("rank_by") or "sharpe")
        scored = [r for r in results if _finite((r.get("metrics") or {}).get(rank_by)) is not None]
        if scored:
            run.best = _best_of(max(scored, key=lambda r: r["metrics"][rank_by]), rank_by)
        elif results:
            # No finite rank_by (e.g. a Sharpe left null on a sample too short to annualize):
            # the summary lists each symbol's results best first, so the first is a best.
            run.best = _best_of(results[0], rank_by)
    elif best is not None or summary is not None:
        run.note = "unrecognised summary.json/best.json"
    return run


def list_runs(root: Path) -> list[Run]:
    """Every run under `root`, newest first."""
    root = root.resolve()
    if not root.is_dir():
        return []
    runs: list[Run] = []
    frontier = [(root, 0)]
    while frontier and len(runs) < MAX_RUNS:
        directory, depth = frontier.pop()
        run = describe(directory, root)
        if run is not None:
            runs.append(run)
        if depth < MAX_DEPTH:
            try:
                children = sorted(p for p in directory.iterdir() if p.is_dir())
            except OSError:
                continue
            frontier.extend(
                (c, depth + 1)
                for c in children
                if c.name not in _SKIP and not c.name.startswith(".") and not c.is_symlink()
            )
    return sorted(runs, key=lambda r: (-r.modified_ts, r.path))


SERVED = (".html", ".json", ".csv", ".png", ".svg", ".txt")


def resolve_file(root: Path, relative: str) -> Path | None:
    """A report/result file of a run under `root`; None for anything else: paths leaving
    `root`, hidden names, other extensions, files outside a run directory."""
    base = root.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    parts = target.relative_to(base).parts
    if any(p.startswith(".") for p in parts) or target.suffix.lower() not in SERVED:
        return None
    if not any((target.parent / m).is_file() for m in MARKERS):
        return None
    return target
