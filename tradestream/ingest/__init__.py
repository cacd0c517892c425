"""Trade sources feeding the Kafka `trades` topic, and order books the `book` topic
(`tradestream ingest`).

- `producer.py`: TradeProducer, the one way trades and dead letters reach Kafka.
- `replay.py`: a stream of records into the producer, at a speed factor or flat out.
- `accounting.py`: where each record of a replay went (sent, dead-lettered, skipped).
- `ws_client.py`: one self-healing WebSocket connection (backoff, silence detection).
- `coinbase_stream.py`: the live Coinbase source (connections, de-duplication, dead letters).
- `dedup.py`: recent trade ids per symbol, in bounded memory.
- `resume.py`: what the trades topic already holds, so a restarted ingest sends nothing twice.
- `metrics.py`: live counters, the summary log line, Prometheus text over HTTP.
- `ohlc_replay.py`: OHLC bars as trades.
- `fake_coinbase.py`: a local Coinbase-format server for tests, benches and demos (trades,
  and level-2 books with induced gaps, duplicates and out-of-order delivery).

Level-2 order books (`--channel=level2`, into the `book` topic):

- `book_stream.py`: the live Coinbase source; re-subscribes a book for a fresh snapshot.
- `book_replay.py`: recorded book files (JSON lines of Coinbase frames) into the topic.
- `book_metrics.py`: where every record went, the summary line, Prometheus text.

The Coinbase protocol itself (market_trades and level2 parsing, the BookBuilder, reading a
recorded book file) is pure and lives below the pipelines, in `tradestream/exchanges/`.
"""
