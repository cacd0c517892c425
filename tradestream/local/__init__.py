"""The local runtime: a JVM toolchain cache, a single-node KRaft Kafka, the Flink runner.

`tradestream local fetch | up | down | status` (see `tradestream local --help`).
"""
