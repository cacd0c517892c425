"""Waits until the named Kafka topics exist (an init container of the chart's pods).

    python wait_for_topics.py trades signals

Bootstrap servers come from TRADESTREAM_BOOTSTRAP_SERVERS; gives up (exit 1) after
WAIT_SECONDS (default 900), so a pod does not start against a cluster without its topics.
"""

from __future__ import annotations

import os
import sys
import time


def existing_topics(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    from tradestream.kafka_clients.config import client_config
    from tradestream.settings import get_settings

    admin = AdminClient(
        {
            **client_config(get_settings(), bootstrap),  # TLS/SASL: TRADESTREAM_KAFKA_*
            "client.id": "tradestream-wait-for-topics",
        }
    )
    listed = admin.list_topics(timeout=10).topics
    return {name for name, topic in listed.items() if topic.error is None}


def main(argv: list[str]) -> int:
    wanted = set(argv)
    bootstrap = os.environ["TRADESTREAM_BOOTSTRAP_SERVERS"]
    deadline = time.monotonic() + float(os.environ.get("WAIT_SECONDS", "900"))
    while True:
        try:
            missing = wanted - existing_topics(bootstrap)
            problem = f"missing topics {sorted(missing)}" if missing else ""
        except Exception as exc:  # noqa: BLE001 - any failure means "not up yet"
            problem = f"Kafka at {bootstrap} not reachable ({exc})"
        if not problem:
            print(f"wait_for_topics: {sorted(wanted)} present on {bootstrap}", flush=True)
            return 0
        if time.monotonic() > deadline:
            print(f"wait_for_topics: gave up: {problem}", file=sys.stderr)
            return 1
        print(f"wait_for_topics: waiting: {problem}", flush=True)
        time.sleep(5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
