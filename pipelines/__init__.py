"""Beam jobs only: `build()` wiring and `run(argv=None)`, with their PipelineOptions.

    realtime.py  Kafka trades -> signals (Flink, streaming)
    backtest.py  trade/candle files -> results and report (batch)
    optimize.py  genetic search, one batch job per generation
    options.py   the options they share

May import everything below (transforms, runtime, engines, strategies, domain); never the
apps (cli, ingest, paper, dashboard, local).
"""
