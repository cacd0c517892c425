"""Creates TradeStream's Kafka topics (the chart's topic-init Job).

    TOPICS_JSON='[{"name": "trades", "partitions": 6, "replication_factor": 3,
                   "config": {"retention.ms": "-1"}}]' python create_topics.py

Waits for the brokers (TRADESTREAM_BOOTSTRAP_SERVERS) for up to WAIT_SECONDS, creates the
topics that are missing and raises the partition count of those that have fewer than asked
(Kafka cannot lower it; that is reported, not an error). Existing topics' configs are left
as they are. Exit 0 when every topic exists with at least its partitions.
"""

from __future__ import annotations

import json
import os
import sys
import time


def admin_client(bootstrap: str, deadline: float):
    """A confluent-kafka AdminClient, once the cluster answers (or SystemExit at the deadline)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from tradestream.kafka_clients.config import client_config
    from tradestream.settings import get_settings

    admin = AdminClient(
        {
            **client_config(get_settings(), bootstrap),  # TLS/SASL: TRADESTREAM_KAFKA_*
            "client.id": "tradestream-topic-init",
        }
    )
    while True:
        try:
            admin.list_topics(timeout=15)
            return admin
        except KafkaException as exc:  # the brokers are not up yet (or refuse the login)
            reason = exc.args[0].str()
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"create_topics: Kafka at {bootstrap} did not answer: {reason}"
                ) from exc
            print(f"create_topics: waiting for Kafka at {bootstrap} ({reason})", flush=True)
            time.sleep(5)


def partition_counts(admin) -> dict[str, int]:
    return {
        name: len(t.partitions)
        for name, t in admin.list_topics(timeout=15).topics.items()
        if t.error is None
    }


def _wait(futures: dict) -> None:
    """Waits for each topic's admin request; raises the first failure."""
    for future in futures.values():
        future.result(timeout=90)


def ensure(admin, specs: list[dict]) -> list[str]:
    """Creates or grows the topics; returns one line per topic saying what was done."""
    from confluent_kafka.admin import NewPartitions, NewTopic

    existing = partition_counts(admin)
    report = []
    missing = [s for s in specs if s["name"] not in existing]
    if missing:
        _wait(
            admin.create_topics(
                [
                    NewTopic(
                        s["name"],
                        num_partitions=int(s["partitions"]),
                        replication_factor=int(s["replication_factor"]),
                        config={k: str(v) for k, v in (s.get("config") or {}).items()},
                    )
                    for s in missing
                ],
                operation_timeout=60,
                request_timeout=70,
            )
        )
        report += [f"{s['name']}: created with {s['partitions']} partitions" for s in missing]
    grow = []
    for s in specs:
        have = existing.get(s["name"])
        if have is None:
            continue
        if have < int(s["partitions"]):
            grow.append(NewPartitions(s["name"], int(s["partitions"])))
            report.append(f"{s['name']}: partitions {have} -> {s['partitions']}")
        elif have > int(s["partitions"]):
            report.append(f"{s['name']}: has {have} partitions (> {s['partitions']}; kept)")
        else:
            report.append(f"{s['name']}: exists")
    if grow:
        _wait(admin.create_partitions(grow, operation_timeout=60, request_timeout=70))
    return report


def short_topics(admin, specs: list[dict]) -> list[str]:
    """The topics missing or with fewer partitions than asked, after up to 30 s.

    A broker's metadata can trail the controller that just created or grew a topic.
    """
    settle = time.monotonic() + 30
    while True:
        counts = partition_counts(admin)
        short = [s["name"] for s in specs if counts.get(s["name"], 0) < int(s["partitions"])]
        if not short or time.monotonic() > settle:
            return short
        time.sleep(1)


def main() -> int:
    specs = json.loads(os.environ["TOPICS_JSON"])
    bootstrap = os.environ["TRADESTREAM_BOOTSTRAP_SERVERS"]
    deadline = time.monotonic() + float(os.environ.get("WAIT_SECONDS", "600"))
    admin = admin_client(bootstrap, deadline)
    while True:
        try:
            for line in ensure(admin, specs):
                print(f"create_topics: {line}", flush=True)
            break
        except Exception as exc:  # noqa: BLE001 - e.g. not enough brokers registered yet
            if time.monotonic() > deadline:
                raise
            print(f"create_topics: retrying ({exc})", flush=True)
            time.sleep(5)
    short = short_topics(admin, specs)
    if short:
        print(f"create_topics: still missing or short: {short}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
