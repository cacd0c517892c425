"""Trade sources feeding the Kafka `trades` topic (`tradestream ingest`)."""
