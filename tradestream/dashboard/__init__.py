"""`tradestream dashboard`: a local web page watching the paper portfolio and the pipeline.

tradestream dashboard --runs_dir out/        # http://127.0.0.1:8765/

app.py      FastAPI app: the live page, /api/snapshot, /api/stream (server-sent events)
health.py   consumer-group lag (realtime and paper groups) and the dead-letter count
runs.py     backtest/optimizer output directories for the runs page
auth.py     the access token (required when bound beyond loopback)
static/     the page: HTML, CSS and a small script, no external assets
"""
