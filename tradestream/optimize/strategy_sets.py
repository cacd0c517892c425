"""The StrategySet topic's contract: what `tradestream optimize --publish_topic` writes and
`tradestream realtime --strategies_topic` reads.

One protobuf `StrategySet` per symbol, keyed by the symbol, best parameter set first; a reader
keeps the newest set per key (the topic can be compacted) and builds its strategies from the
library by type and parameters.

    sets = strategy_sets(best_entries)                  # symbol -> StrategySet
    publish_strategy_sets(sets, bootstrap, topic)       # waits for the acknowledgements
    strategies = read_strategy_sets(bootstrap, topic)   # the newest set per key, built
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from tradestream.kafka_clients.tail import read_range
from tradestream.market.signal_messages import strategy_proto
from tradestream.strategies import library
from tradestream.strategies.strategy import Strategy
from tradestream.v1 import strategy_pb2


def strategy_sets(
    entries: Sequence[Mapping[str, Any]], created_ms: int | None = None
) -> dict[str, strategy_pb2.StrategySet]:
    """Symbol -> StrategySet of its entries, best first."""
    created = int(time.time() * 1000) if created_ms is None else created_ms
    sets: dict[str, strategy_pb2.StrategySet] = {}
    for entry in entries:
        symbol = entry["symbol"]
        if symbol not in sets:
            sets[symbol] = strategy_pb2.StrategySet(source="optimize", created_ms=created)
        sets[symbol].strategies.append(
            strategy_proto(entry["strategy"], entry["params"], entry["strategy_id"])
        )
    return sets


def publish_strategy_sets(
    sets: Mapping[str, strategy_pb2.StrategySet], bootstrap: str, topic: str
) -> int:
    """Sends each StrategySet keyed by symbol and waits for the acknowledgements.

    Returns:
        The number of messages written.

    Raises:
        RuntimeError: the topic does not exist or the broker is unreachable.
    """
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaError

    from tradestream.kafka_clients.config import client_config, producer_config
    from tradestream.settings import get_settings

    settings = get_settings()
    try:
        lister = KafkaConsumer(**client_config(settings, bootstrap))
        try:
            exists = topic in lister.topics()
        finally:
            lister.close()
        producer = KafkaProducer(**producer_config(settings, bootstrap), max_block_ms=15_000)
    except KafkaError as exc:
        raise RuntimeError(f"cannot reach Kafka at {bootstrap}: {exc}") from None
    try:
        if not exists:
            raise RuntimeError(f"topic {topic!r} is not available on {bootstrap}; create it first")
        for symbol in sorted(sets):
            producer.send(topic, key=symbol.encode(), value=sets[symbol].SerializeToString())
        producer.flush(timeout=30)
    except KafkaError as exc:
        raise RuntimeError(f"writing to {topic!r} on {bootstrap} failed: {exc}") from None
    finally:
        producer.close(timeout=10)
    return len(sets)


def read_strategy_sets(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[Strategy]:
    """The strategies of the newest StrategySet per key on `topic` (read to its end, once)."""
    from kafka import KafkaConsumer, TopicPartition

    from tradestream.kafka_clients.config import env_client_config

    consumer = KafkaConsumer(**env_client_config(bootstrap), enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"--strategies_topic {topic}: no such topic on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = consumer.end_offsets(tps)
        begins = consumer.beginning_offsets(tps)
        try:
            records = read_range(consumer, begins, ends, timeout_s)
        except TimeoutError:
            raise ValueError(f"--strategies_topic {topic}: could not read it to the end") from None
        newest: dict[bytes | None, bytes] = {record.key: record.value for record in records}
    finally:
        consumer.close()
    built = []
    for value in newest.values():
        for proto in strategy_pb2.StrategySet.FromString(value).strategies:
            params = {p.name: getattr(p, p.WhichOneof("value")) for p in proto.params}
            built.append(library.build(proto.type, params))
    if not built:
        raise ValueError(f"--strategies_topic {topic}: no strategies on the topic")
    return built
