"""Exchange protocol adapters without Beam or Kafka: an exchange's messages in, our types out.

    coinbase.py          the Coinbase Advanced Trade WebSocket protocol: market_trades -> Trade
    coinbase_level2.py   the `level2` channel's messages -> book events (pure parsing)
    order_book.py        per-symbol books, checked message by message (BookBuilder) -> BookUpdate
    recordings.py        recorded book files (JSON lines of frames) and the BookUpdates in them

Pure but for reading a recorded file: the connections (`tradestream/ingest/`) and the Beam
jobs (`tradestream/pipelines/`) both use these, so live ingest, replay and backtest decode
the same frames the same way.

May import: tradestream.market, tradestream.v1. No Beam, no Kafka.
"""
