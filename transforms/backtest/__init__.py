"""The backtest's Beam steps (the engine is :mod:`tradestream.backtest`).

    read_files.py      ReadTradesFromFiles / ReadCandlesFromFiles
    inputs.py          CandlesFromInputs: files -> candles through the realtime transforms
    collect_series.py  CollectCandleSeries: one ordered array series per symbol
    simulate.py        SimulateTrades, RankResults, ComputeMetrics, SelectTopResults, DetailResults
    write_outputs.py   WriteBacktestOutputs: summary.json, CSVs, report.html

The pipeline that wires them is `pipelines/backtest.py` (`tradestream backtest`).
"""
