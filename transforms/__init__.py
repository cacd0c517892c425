"""Beam PTransforms and DoFns only: thin shells over the domain and engines below.

    parse_trades.py       ParseTrades: bytes -> Trade, dead letters tagged with their reason
    trades_to_candles.py  WindowTradesToCandles: event-time candles per symbol (CandleBook)
    gaps.py               FillCandleGaps: flat candles for intervals without trades
    evaluate.py           EvaluateStrategies: per-symbol strategy state, Signals on transitions
    symbol_signals.py     the realtime graph's stateful step (candles and strategies per symbol)
    kafka_source.py       the Python SDF Kafka source; kafka_io.py: ReadTrades, WriteSignals
    worker_tuning.py      process-wide tuning of the SDK worker
    backtest/, optimize/  the batch steps of the backtest and the optimizer

May import: strategies, tradestream.{market,kafka_clients,backtest,optimize,reports} and the
base. Never pipelines/ or the apps (`lint-imports` checks it).
"""
