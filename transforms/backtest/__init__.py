"""Batch backtests: the same candles and strategies as realtime, simulated over history.

    files.py       ReadTradesFromFiles / ReadCandlesFromFiles (CSV, Parquet), rejected rows
    series.py      CollectCandleSeries: one ordered array series per symbol
    selection.py   which strategies run (--strategy/--param, --strategies, --grid)
    grid.py        parameter grids with constraints
    config.py      ExecutionConfig: fills, sides, cash, fee, slippage, annualization
    engine.py      the vectorized position simulator (and the execution model)
    metrics.py     the standard metrics, vectorized over parameter sets
    transforms.py  SimulateTrades, ComputeMetrics, SelectTopResults, DetailResults
    outputs.py     summary.json, trades/signals/equity/candles CSVs: WriteBacktestOutputs
    report.py      report.html (inline SVG)
    progress.py    progress on stderr

The pipeline that wires them is `pipelines/backtest.py` (`tradestream backtest`).
"""
