"""The dashboard's web application (FastAPI): pages, JSON and a server-sent event stream.

    GET /              the live page (static HTML + JS; updates from /api/stream)
    GET /runs          backtest/optimizer runs under --runs_dir, with links to their reports
    GET /runs/<path>   a file of a run (report.html, summary.json, CSVs)
    GET /api/snapshot  everything the live page shows, as JSON
    GET /api/stream    the same as server-sent events: one `snapshot` event per change
    GET /api/runs      the runs as JSON
    GET /healthz       liveness (never needs the token)

A snapshot is the paper portfolio read from its database in one transaction (account,
positions at their marks, latest signals, recent fills, the equity curve, risk status and
events) plus the pipeline health reading of `health.py`.
"""

from __future__ import annotations

import asyncio
import html
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from tradestream.dashboard.auth import TokenMiddleware
from tradestream.dashboard.health import KafkaHealth
from tradestream.dashboard.runs import list_runs, resolve_file

STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class DashboardConfig:
    db_url: str
    runs_dir: Path
    token: str | None = None
    refresh_s: float = 1.0
    signals: int = 25  # rows of latest signals and of recent fills on the page
    fills: int = 25


class SnapshotSource:
    """Reads the paper database (shared by every client; at most one read per refresh)."""

    def __init__(self, config: DashboardConfig, health: KafkaHealth | None) -> None:
        self.config = config
        self.health = health
        self._store = None
        self._lock = threading.Lock()
        self._cached: tuple[float, dict] | None = None

    def _paper(self) -> dict:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from tradestream.ledger.store import PaperStore, StoreUnusableError, sqlite_path

        path = sqlite_path(self.config.db_url)
        if path is not None and not path.is_file():
            return {"ready": False, "reason": f"no portfolio database at {path} yet"}
        if self._store is None:
            try:
                self._store = PaperStore(self.config.db_url, readonly=True)
            except StoreUnusableError as exc:  # a damaged file: said on the page, not a 500
                return {"ready": False, "reason": str(exc)}
        try:
            return self._store.snapshot(signals=self.config.signals, fills=self.config.fills)
        except (OperationalError, ProgrammingError) as exc:
            return {"ready": False, "reason": f"database not ready: {exc.orig}"}

    def get(self) -> dict:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.config.refresh_s / 2:
                return self._cached[1]
            snap = {
                "paper": self._paper(),
                "health": self.health.latest() if self.health is not None else None,
                "server_ms": int(time.time() * 1000),
            }
            self._cached = (now, snap)
            return snap

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def _dumps(data) -> str:
    return json.dumps(data, default=str, allow_nan=False, separators=(",", ":"))


def _sanitize(value):
    """NaN/inf are not JSON: shown as null."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitize(v) for v in value]
    return value


def create_app(config: DashboardConfig, health: KafkaHealth | None = None) -> FastAPI:
    """The ASGI app; `health` (started and stopped by the caller) adds pipeline health.

    On shutdown set `app.state.stopping` (open event streams end) and, once stopped, call
    `app.state.source.close()`; the CLI does both.
    """
    source = SnapshotSource(config, health)
    app = FastAPI(title="TradeStream dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.source = source
    app.state.stopping = threading.Event()  # set on shutdown: event streams end
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(
            (STATIC / "index.html").read_text(), headers={"Cache-Control": "no-store"}
        )

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/api/snapshot")
    def snapshot() -> JSONResponse:
        return JSONResponse(_sanitize(source.get()))

    @app.get("/api/stream")
    async def stream(request: Request) -> StreamingResponse:
        async def events():
            last, last_sent = None, time.monotonic()
            yield "retry: 2000\n\n"
            while not app.state.stopping.is_set():
                if await request.is_disconnected():
                    return
                snap = await asyncio.to_thread(source.get)
                body = _dumps(_sanitize({k: v for k, v in snap.items() if k != "server_ms"}))
                if body != last:
                    last, last_sent = body, time.monotonic()
                    full = _dumps(_sanitize(snap))
                    yield f"event: snapshot\ndata: {full}\n\n"
                elif time.monotonic() - last_sent > 15:
                    last_sent = time.monotonic()
                    yield ": keep-alive\n\n"
                await asyncio.sleep(config.refresh_s)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.get("/api/runs")
    def runs_json() -> list[dict]:
        return [asdict(r) for r in list_runs(config.runs_dir)]

    @app.get("/runs", response_class=HTMLResponse)
    def runs_page() -> HTMLResponse:
        return HTMLResponse(render_runs(config.runs_dir), headers={"Cache-Control": "no-store"})

    @app.get("/runs/{relative:path}")
    def run_file(relative: str) -> FileResponse:
        target = resolve_file(config.runs_dir, relative)
        if target is None:
            raise HTTPException(status_code=404, detail="no such run file")
        return FileResponse(target)

    if config.token:
        app.add_middleware(TokenMiddleware, token=config.token)
    return app


def _pct(value) -> str:
    return f"{value:+.2%}" if isinstance(value, int | float) else "–"


def _path_text(path: str) -> str:
    """A run path escaped, with a line-break opportunity after each slash (a deep path wraps
    between its directories instead of widening the runs table)."""
    return html.escape(path).replace("/", "/<wbr>")


def render_runs(runs_dir: Path) -> str:
    """The runs page: a self-contained table, newest first."""
    runs = list_runs(runs_dir)
    rows = []
    for r in runs:
        link = (
            f'<a href="/runs/{html.escape(r.report)}">report</a>'
            if r.report
            else '<span class="muted">no report</span>'
        )
        files = " ".join(
            f'<a class="file" href="/runs/{html.escape(r.path)}/{html.escape(f)}">{html.escape(f)}</a>'
            for f in r.files
            if f.endswith((".json", ".csv", ".html"))
        )
        best = r.best or {}
        best_text = html.escape(r.note)
        if best:
            parts = [f"return {_pct(best.get('total_return'))}"]
            if best.get("sharpe") is not None:
                parts.append(f"sharpe {best['sharpe']:.2f}")
            if best.get("fitness") is not None:
                parts.append(f"fitness {best['fitness']:.3g} ({html.escape(str(best['rank_by']))})")
            best_text = (
                f"{html.escape(str(best.get('strategy_id')))} on "
                f"{html.escape(str(best.get('symbol')))}: {', '.join(parts)}"
            )
        rows.append(
            "<tr>"
            f'<td class="run-path wrap">{_path_text(r.path)}</td>'
            f'<td><span class="tag {html.escape(r.kind)}">{html.escape(r.kind)}</span></td>'
            f"<td>{html.escape(r.modified)}</td>"
            f"<td class=num>{r.results if r.results is not None else '–'}</td>"
            f'<td class="wrap">{", ".join(f"<span class=nw>{html.escape(s)}</span>" for s in r.symbols)}</td>'
            f'<td class="wrap">{best_text}</td>'
            f"<td>{link}</td>"
            f'<td class="wrap">{files}</td>'
            "</tr>"
        )
    body = (
        "\n".join(rows)
        if rows
        else '<tr><td colspan="8" class="muted">no runs yet: '
        "<code>tradestream backtest --output DIR ...</code> writes one</td></tr>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TradeStream runs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/style.css"></head>
<body>
<header><h1>TradeStream</h1><nav><a href="/">Live</a><a class="active" href="/runs">Runs</a></nav>
<span class="muted">{html.escape(str(runs_dir.resolve()))}</span></header>
<main><section class="panel wide"><h2>Backtest and optimizer runs <span class="muted">({len(runs)})</span></h2>
<table id="runs"><thead><tr><th>run</th><th>kind</th><th>modified</th><th>results</th>
<th>symbols</th><th>best</th><th>report</th><th>files</th></tr></thead>
<tbody>{body}</tbody></table></section></main></body></html>"""
