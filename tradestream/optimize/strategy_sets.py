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
    from confluent_kafka import KafkaException, Producer
    from confluent_kafka.admin import AdminClient

    from tradestream.kafka_clients.config import client_config, producer_config
    from tradestream.settings import get_settings

    settings = get_settings()
    try:
        listed = AdminClient(client_config(settings, bootstrap)).list_topics(timeout=15)
    except KafkaException as exc:
        raise RuntimeError(f"cannot reach Kafka at {bootstrap}: {exc.args[0].str()}") from None
    if topic not in listed.topics:
        raise RuntimeError(f"topic {topic!r} is not available on {bootstrap}; create it first")
    failures = []

    def delivered(error, _message) -> None:
        if error is not None:
            failures.append(error)

    producer = Producer(producer_config(settings, bootstrap))
    try:
        for symbol in sorted(sets):
            producer.produce(
                topic,
                key=symbol.encode(),
                value=sets[symbol].SerializeToString(),
                on_delivery=delivered,
            )
    except KafkaException as exc:
        failures.append(exc.args[0])
    unsent = producer.flush(30)
    if failures or unsent:
        why = failures[0].str() if failures else f"{unsent} not acknowledged within 30 s"
        raise RuntimeError(f"writing to {topic!r} on {bootstrap} failed: {why}")
    return len(sets)


def read_strategy_sets(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[Strategy]:
    """The strategies of the newest StrategySet per key on `topic` (read to its end, once)."""
    from confluent_kafka import Consumer

    from tradestream.kafka_clients.config import consumer_config, env_client_config
    from tradestream.kafka_clients.positions import StalePositionError, read_topic_state

    config = env_client_config(bootstrap)
    try:
        state = read_topic_state(config, topic, None)
    except StalePositionError:
        raise ValueError(f"--strategies_topic {topic}: no such topic on {bootstrap}") from None
    consumer = Consumer(consumer_config(config))
    try:
        try:
            records = read_range(
                consumer,
                {(topic, p): offset for p, offset in state.beginning.items()},
                {(topic, p): offset for p, offset in state.end.items()},
                timeout_s,
            )
        except TimeoutError:
            raise ValueError(f"--strategies_topic {topic}: could not read it to the end") from None
        newest: dict[bytes | None, bytes] = {record.key(): record.value() for record in records}
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
