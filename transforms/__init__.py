"""Beam PTransforms and DoFns only: thin shells over the domain and engines below.

    parse_trades.py       ParseTrades: bytes -> Trade, dead letters tagged with their reason
    trades_to_candles.py  WindowTradesToCandles: event-time candles per symbol (CandleBook)
    gaps.py               FillCandleGaps: flat candles for intervals without trades
    evaluate.py           EvaluateStrategies: per-symbol strategy state, Signals on transitions
    symbol_signals.py     the realtime graph's stateful step (candles and strategies per symbol)
    kafka_source.py       the Python SDF Kafka source; kafka_io.py: ReadTrades, WriteSignals
    worker_tuning.py      process-wide tuning of the SDK worker
    backtest/, optimize/  the batch steps of the backtest and the optimizer

May import: strategies, tradestream.{market,kafka_clients.tail,backtest,optimize,reports} and
the contracts. Never pipelines/ or the apps, nor settings or Kafka client configuration: the
Kafka transforms take a client factory from the pipeline (`client_config`), so credentials
are read on the worker (`lint-imports` checks all of it).
"""
