"""The market domain without Beam: trades, candles, signals as data, the files that hold them.

    candle_math.py       candle arithmetic (windows, OHLCV + VWAP accumulation, merges)
    trade_validation.py  what makes a trade usable, and the reason when it is not
    trade_files.py       trade files (CSV, Parquet): reading and writing rows
    durations.py         `1m`, `4h`, `1d` <-> milliseconds
    dead_letters.py      the dead-letter reasons and their message
    signal_messages.py   protobuf Signal/StrategySet messages, the deterministic signal id
    sample_day.py        the deterministic sample day of trades
    book_features.py     per-candle order-book features (imbalance, spread, microprice, OFI,
                         depth) from level-2 BookUpdates: BookTracker, realtime and backtest

May import: tradestream.v1, tradestream.settings, tradestream.cli_types. No Beam, no Kafka.
"""
