"""librdkafka properties that hold no connection or credential: a consumer's and a producer's.

Beam transforms build their clients from these and the connection their client factory gives
them (`WorkerClientConfig`); they may not import `tradestream.kafka_clients.config`, which
reads settings (the import-linter contract on Kafka credentials). Everything else takes them
through `config.consumer_config` and `config.producer_config`.
"""

from __future__ import annotations

import logging
from typing import Any

# librdkafka's log lines (a refused connection, a broker that went away) go here. They show
# where a command has set up logging, in its format and at its level; elsewhere they are
# dropped (the NullHandler keeps Python's last-resort handler from printing them bare).
CLIENT_LOG = logging.getLogger("tradestream.kafka.client")
CLIENT_LOG.addHandler(logging.NullHandler())

# Every client's, whatever its connection and security.
CONNECTION_PROPERTIES: dict[str, Any] = {
    # Reconnect within a second of a broker restart (librdkafka's default backoff grows to
    # 10 s).
    "reconnect.backoff.max.ms": 1000,
    # librdkafka writes its own log lines to stderr; through Python logging they obey the
    # command's log level like every other line.
    "logger": CLIENT_LOG,
}

# A consumer that only reads assigned partitions still needs a group id in librdkafka; it
# never commits under this one (auto-commit off, offsets not stored).
READER_GROUP = "tradestream-reader"

# An idempotent producer (acks=all) batching for throughput with low latency.
PRODUCER_PROPERTIES: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "batch.size": 256 * 1024,
    "max.in.flight.requests.per.connection": 5,
    # The Java client's partitioner (murmur2 of the key): a key lands on the partition it
    # always did, whichever client wrote it before (librdkafka's default is CRC-32).
    "partitioner": "murmur2_random",
}


def consumer_config(base: dict[str, Any], group_id: str | None = None) -> dict[str, Any]:
    """A consumer of assigned partitions on top of `client_config`'s properties.

    Args:
        base: `client_config(...)`, `env_client_config(...)` or a transform's client factory's.
        group_id: The consumer group whose offsets the caller commits itself (None: a
            reader that never commits).

    Offsets are committed only by explicit `commit(...)` calls; a partition without a
    committed offset, or with one outside its records, raises instead of being reset
    silently (`auto.offset.reset=error`): callers seek where they mean to start.
    """
    return {
        **base,
        "group.id": group_id or READER_GROUP,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",
        # Verify each fetched batch's CRC-32C, as the Java client does (librdkafka's default
        # is not to).
        "check.crcs": True,
    }
