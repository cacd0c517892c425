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
    """A KafkaAdminClient, retried until the cluster answers or the deadline passes."""
    from kafka.admin import KafkaAdminClient

    from tradestream.kafka_clients.config import client_config
    from tradestream.settings import get_settings

    while True:
        try:
            admin = KafkaAdminClient(
                **client_config(get_settings(), bootstrap),  # TLS/SASL: TRADESTREAM_KAFKA_*
                request_timeout_ms=15000,
                client_id="tradestream-topic-init",
            )
            admin.describe_cluster()
            return admin
        except Exception as exc:  # noqa: BLE001 - any failure means "not up yet"
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"create_topics: Kafka at {bootstrap} did not answer: {exc}"
                ) from exc
            print(f"create_topics: waiting for Kafka at {bootstrap} ({exc})", flush=True)
            time.sleep(5)


def partition_counts(admin) -> dict[str, int]:
    return {
        (t.get("name") or t.get("topic")): len(t["partitions"])
        for t in admin.describe_topics()
        if not t.get("error_code")
    }


def ensure(admin, specs: list[dict]) -> list[str]:
    """Creates or grows the topics; returns one line per topic saying what was done."""
    from kafka.admin import NewPartitions, NewTopic

    existing = partition_counts(admin)
    report = []
    missing = [s for s in specs if s["name"] not in existing]
    if missing:
        admin.create_topics(
            [
                NewTopic(
                    s["name"],
                    num_partitions=int(s["partitions"]),
                    replication_factor=int(s["replication_factor"]),
                    topic_configs={k: str(v) for k, v in (s.get("config") or {}).items()},
                )
                for s in missing
            ],
            timeout_ms=60000,
        )
        report += [f"{s['name']}: created with {s['partitions']} partitions" for s in missing]
    grow = {}
    for s in specs:
        have = existing.get(s["name"])
        if have is None:
            continue
        if have < int(s["partitions"]):
            grow[s["name"]] = NewPartitions(total_count=int(s["partitions"]))
            report.append(f"{s['name']}: partitions {have} -> {s['partitions']}")
        elif have > int(s["partitions"]):
            report.append(f"{s['name']}: has {have} partitions (> {s['partitions']}; kept)")
        else:
            report.append(f"{s['name']}: exists")
    if grow:
        admin.create_partitions(grow, timeout_ms=60000)
    return report


def main() -> int:
    specs = json.loads(os.environ["TOPICS_JSON"])
    bootstrap = os.environ["TRADESTREAM_BOOTSTRAP_SERVERS"]
    deadline = time.monotonic() + float(os.environ.get("WAIT_SECONDS", "600"))
    admin = admin_client(bootstrap, deadline)
    try:
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
        counts = partition_counts(admin)
    finally:
        admin.close()
    short = [s["name"] for s in specs if counts.get(s["name"], 0) < int(s["partitions"])]
    if short:
        print(f"create_topics: still missing or short: {short}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
