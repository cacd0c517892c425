"""Kafka client on the realtime hot paths: kafka-python against confluent-kafka.

Issue 22, target 3. The realtime job reads trades at tens of thousands of records a second,
and the profile of its reading worker showed kafka-python decoding record batches in pure
Python; this bench measured what reading and writing cost with each client, side by side in
one run, and TradeStream moved to confluent-kafka (README, "Which Kafka client"). It still
compares both:

- the same topic (trades from the sample generator, `--partitions` partitions, loaded once);
- each client in a fresh process, assigned every partition, reading from offset 0 to the
  end as the source does: polls of up to 2,000 records, each record's value, offset and
  event time (its Trade's time_ms, parsed as `trade_time_ms` does, so that the figure is
  the source's own work and not only the client's);
- writing: the records a sink sends (150-byte values, acks=all, linger 5 ms, flushed at
  the end), as WriteSignals and the ingest producer do;
- the clients alternate, `--runs` times each, so that a slow spell of the machine falls on
  both; medians are compared. CPU seconds include the client's own threads (librdkafka's,
  kafka-python's network thread).

kafka-python is no longer a TradeStream dependency: it is installed into
`.local/bench-kafka-python/` (pip `--target`, from PyPI) on first use and put on the
measuring processes' path only. The topic is loaded with confluent-kafka.

    .venv/bin/python bench/kafka_client.py [--records 600000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import FastProducer  # noqa: E402
from tradestream.transforms.kafka_io import trade_time_ms  # noqa: E402

MAX_RECORDS = 2000  # records per poll, as KafkaReadConfig.max_poll_records
KAFKA_PYTHON = ["kafka-python==3.0.12", "crc32c==2.9.post0"]
KAFKA_PYTHON_DIR = REPO / ".local" / "bench-kafka-python"


def ensure_kafka_python() -> Path:
    """Installs kafka-python for this bench if needed; returns the directory to import from."""
    if not (KAFKA_PYTHON_DIR / "kafka").is_dir():
        print(f"installing {' '.join(KAFKA_PYTHON)} into {KAFKA_PYTHON_DIR} (this bench only) ...",
              flush=True)  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target",
             str(KAFKA_PYTHON_DIR), *KAFKA_PYTHON],
            check=True,
        )  # fmt: skip
    return KAFKA_PYTHON_DIR


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _read_kafka_python(bootstrap: str, topic: str, partitions: int, records: int) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        max_poll_records=MAX_RECORDS,
    )  # fmt: skip
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, 0)
    seen = newest = 0
    while seen < records:
        for records_of_tp in consumer.poll(timeout_ms=50, max_records=MAX_RECORDS).values():
            values = [r.value for r in records_of_tp]
            times = [trade_time_ms(r.key, r.value) for r in records_of_tp]
            newest = max(newest, records_of_tp[-1].offset, *times)
            seen += len(values)
    consumer.close()
    return seen


def _read_confluent(bootstrap: str, topic: str, partitions: int, records: int) -> int:
    """Polls through the source's own reader (transforms/kafka_source.py: one `consume` call,
    grouped by partition; CRCs checked as kafka-python checks them)."""
    from confluent_kafka import Consumer

    from tradestream.kafka_clients.config import consumer_config
    from tradestream.transforms.kafka_source import _Reader

    reader = _Reader(Consumer(consumer_config({"bootstrap.servers": bootstrap})), topic)
    reader.read_from(dict.fromkeys(range(partitions), 0))
    seen = newest = 0
    while seen < records:
        batches, _ = reader.poll(MAX_RECORDS)
        for messages in batches.values():
            values = [m.value() for m in messages]
            times = [trade_time_ms(m.key(), m.value()) for m in messages]
            newest = max(newest, messages[-1].offset(), *times)
            seen += len(values)
    reader.close()
    return seen


PAYLOAD = bytes(range(150))  # about a Signal's size


def _write_kafka_python(bootstrap: str, topic: str, partitions: int, records: int) -> int:
    """Sends `records` records as WriteSignals does (acks=all, flushed at the end)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for i in range(records):
        producer.send(topic, key=b"S%02d-USD" % (i % 20), value=PAYLOAD)
    producer.flush()
    producer.close()
    return records


def _write_confluent(bootstrap: str, topic: str, partitions: int, records: int) -> int:
    producer = FastProducer(bootstrap, acks="all")  # the benches' librdkafka producer
    for i in range(records):
        producer.send(topic, key=b"S%02d-USD" % (i % 20), value=PAYLOAD)
    producer.flush()
    return records


TASKS = {
    "read kafka-python": _read_kafka_python,
    "read confluent-kafka": _read_confluent,
    "write kafka-python": _write_kafka_python,
    "write confluent-kafka": _write_confluent,
}


def _child(args) -> int:
    """One timed read in this process; prints its figures as JSON."""
    import confluent_kafka  # noqa: F401 - imported before the clock starts
    import kafka  # noqa: F401

    task = TASKS[args.child]
    cpu0, t0 = _cpu_s(), time.perf_counter()
    seen = task(args.bootstrap, args.topic, args.partitions, args.records)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    print(json.dumps({"records": seen, "wall_s": wall, "cpu_s": cpu}))
    return 0


def _load(bootstrap: str, topic: str, partitions: int, records: int) -> int:
    """Loads about `records` trades; returns how many."""
    from tradestream.local import kafka as local_kafka
    from tradestream.market.sample_day import sample_trades

    local_kafka.ensure_topics(bootstrap, [topic], partitions)
    symbols = {f"S{i:02d}-USD": 100.0 + i for i in range(20)}
    trades = sample_trades(hours=records / (20 * 3600.0), seed=5, symbols=symbols)
    producer = FastProducer(bootstrap)
    sent = 0
    for trade in trades:
        producer.send(topic, key=trade.symbol.encode(), value=trade.SerializeToString())
        sent += 1
    producer.close()
    return sent


def _timed(client: str, bootstrap: str, topic: str, partitions: int, records: int) -> dict:
    env = {"PYTHONPATH": f"{ensure_kafka_python()}:{REPO}"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", client, "--bootstrap", bootstrap,
         "--topic", topic, "--partitions", str(partitions), "--records", str(records)],
        check=True, capture_output=True, text=True, env={**os.environ, **env},
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=600_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=sorted(TASKS), help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)

    from tradestream.local import kafka as local_kafka
    from tradestream.settings import get_settings

    settings = get_settings()
    local_kafka.up(settings)
    ensure_kafka_python()
    topic = f"bench-client-{uuid.uuid4().hex[:6]}"
    records = _load(settings.bootstrap, topic, args.partitions, args.records)
    out_topic = f"bench-client-out-{uuid.uuid4().hex[:6]}"
    local_kafka.ensure_topics(settings.bootstrap, [out_topic], args.partitions)
    topics = {name: topic if name.startswith("read") else out_topic for name in TASKS}
    results: dict[str, list[dict]] = {name: [] for name in TASKS}
    for name in TASKS:  # untimed warm-up: page cache, .pyc files
        _timed(name, settings.bootstrap, topics[name], args.partitions, records)
    for _ in range(args.runs):
        for name in TASKS:
            results[name].append(
                _timed(name, settings.bootstrap, topics[name], args.partitions, records)
            )
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"\n{records:,} records, {args.partitions} partitions; read: value, offset and event "
          f"time per record, polls of {MAX_RECORDS}; write: 150-byte values, acks=all, "
          f"flushed. Median of {args.runs} runs each, load average {load} "
          f"({time.strftime('%Y-%m-%d')}):")  # fmt: skip
    print(f"{'task':<24}{'records/s wall':>16}{'records/CPU s':>16}{'CPU us/record':>16}")
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(r["records"] / r["wall_s"] for r in runs)
        per_cpu = statistics.median(r["records"] / r["cpu_s"] for r in runs)
        medians[name] = per_cpu
        print(f"{name:<24}{wall:>16,.0f}{per_cpu:>16,.0f}{1e6 / per_cpu:>16.2f}")
    for verb in ("read", "write"):
        ratio = medians[f"{verb} confluent-kafka"] / medians[f"{verb} kafka-python"]
        print(f"{verb}: confluent-kafka does {ratio:.2f}x the records per CPU second of "
              f"kafka-python")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
