"""`tradestream signals tail`: read the signals topic, the reference for executor authors.

Each Kafka record on `signals` has key = symbol (UTF-8) and value = a protobuf
`tradestream.v1.Signal`. Decode it with:

    from tradestream.v1 import signal_pb2
    signal = signal_pb2.Signal.FromString(record.value())

De-duplicate on `signal.signal_id`: a replay or a restart may deliver a signal again,
always with the same id.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError

from tradestream.cli_types import hidden_alias, positive_float, positive_int
from tradestream.kafka_clients.config import client_config, consumer_config, require_broker
from tradestream.settings import get_settings
from tradestream.v1 import signal_pb2

_ACTIONS = {signal_pb2.ACTION_BUY: "BUY", signal_pb2.ACTION_SELL: "SELL"}
PARTITION_REFRESH_S = 30.0  # how often partitions added to the topic are looked for
METADATA_TIMEOUT_S = 10.0  # longest wait for the topic's partitions
HEADER = f"{'candle (UTC)':<20} {'symbol':<10} {'action':<5} {'price':>14}  strategy"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_row(signal: signal_pb2.Signal) -> str:
    return (
        f"{iso(signal.candle_start_ms):<20} {signal.symbol:<10} "
        f"{_ACTIONS.get(signal.action, '?'):<5} {signal.price:>14,.4f}  "
        f"{signal.strategy.strategy_id}"
    )


def to_json(signal: signal_pb2.Signal) -> str:
    data = MessageToDict(signal, preserving_proto_field_name=True)
    data["action"] = _ACTIONS.get(signal.action, "UNSPECIFIED")
    return json.dumps(data, sort_keys=True)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    signals = subparsers.add_parser("signals", help="read the signals topic")
    sub = signals.add_subparsers(dest="signals_command", required=True, metavar="COMMAND")
    tail = sub.add_parser(
        "tail",
        help="print signals as they arrive (a table, or JSON lines with --json)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s = get_settings()
    tail.add_argument("--bootstrap_servers", default=s.bootstrap, help="Kafka bootstrap servers")
    tail.add_argument("--signals_topic", default=s.signals_topic, help="topic to read")
    tail.add_argument("--json", action="store_true", help="one JSON object per signal")
    tail.add_argument(
        "--from_beginning", action="store_true", help="start at the oldest retained signal"
    )
    hidden_alias(tail, "--from-beginning", "--from_beginning")
    tail.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        help="stop after this many seconds without a new signal (default: run until Ctrl-C)",
    )
    tail.add_argument("--max", type=positive_int, default=None, help="stop after this many signals")
    tail.set_defaults(handler=run_tail)


def run_tail(args: argparse.Namespace) -> int:
    """Prints signals until Ctrl-C, `--timeout` seconds without one, or `--max` of them.

    Raises:
        KafkaUnavailableError: no broker answers at the bootstrap servers (within seconds;
            `tradestream` prints it as one line, exit 2).
    """
    settings = get_settings()
    require_broker(settings, args.bootstrap_servers)  # not librdkafka's endless retries
    consumer = Consumer(
        consumer_config(client_config(settings, args.bootstrap_servers))
        # Records deleted by retention under a reader: go on from that edge.
        | {"auto.offset.reset": "earliest" if args.from_beginning else "latest"}
    )
    start = OFFSET_BEGINNING if args.from_beginning else OFFSET_END
    assigned: set[int] = set()
    next_check = 0.0
    count = 0
    last_seen = time.monotonic()
    if not args.json:
        print(HEADER, flush=True)
    try:
        while True:
            now = time.monotonic()
            if now >= next_check:
                # The topic may not exist yet, or get more partitions: looked at again each
                # half second until it has partitions, then every PARTITION_REFRESH_S.
                added = [p for p in _partitions(consumer, args.signals_topic) if p not in assigned]
                if added:
                    consumer.incremental_assign(
                        [TopicPartition(args.signals_topic, p, start) for p in added]
                    )
                    assigned.update(added)
                next_check = now + (PARTITION_REFRESH_S if assigned else 0.5)
            got_any = False
            for message in consumer.consume(500, 0.5):
                error = message.error()
                if error is not None:
                    # A lost connection and the like: librdkafka recovers by itself.
                    print(f"[signals] Kafka: {error.str()}", file=sys.stderr)
                    continue
                got_any = True
                try:
                    signal = signal_pb2.Signal.FromString(message.value())
                except DecodeError as exc:
                    print(f"[signals] undecodable record at offset {message.offset()}: {exc}",
                          file=sys.stderr)  # fmt: skip
                    continue
                print(to_json(signal) if args.json else format_row(signal), flush=True)
                count += 1
                if args.max is not None and count >= args.max:
                    return 0
            now = time.monotonic()
            if got_any:
                last_seen = now
            elif args.timeout is not None and now - last_seen >= args.timeout:
                return 0
    except KeyboardInterrupt:
        return 0
    finally:
        consumer.close()


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    """The topic's partitions ([] while it does not exist)."""
    found = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
    return sorted(found.partitions) if found is not None and found.error is None else []
