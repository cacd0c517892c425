"""The backtest engine without Beam: the same candles and strategies, simulated over history.

    files.py       historical data files (trades, candles; CSV, Parquet): formats, row checks
    series.py      CandleSeries: one symbol's ordered arrays, interval inference
    selection.py   which strategies run (--strategy/--param, --strategies, --grid)
    grid.py        parameter grids with constraints, lazy
    config.py      ExecutionConfig: fills, sides, cash, fee, slippage, annualization
    engine.py      the vectorized position simulator (and the execution model)
    metrics.py     the standard metrics, vectorized over parameter sets
    chunks.py      one work item: a chunk of parameter sets simulated and scored on one symbol
    ranking.py     results ranked per symbol on disk
    outputs.py     the output directory: summary.json, CSVs, staging, read_summary
    progress.py    progress on stderr

The Beam steps over them are in `transforms/backtest/`, the job in `pipelines/backtest.py`.
May import: strategies, tradestream.market and below. No Beam, no Kafka clients.
"""
