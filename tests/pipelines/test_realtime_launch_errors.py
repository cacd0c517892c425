"""`tradestream realtime` refuses to start, in seconds and in one line, what could not run.

No broker (the job would otherwise restart its workers forever), and a consumer group whose
committed offsets lie outside the topic's records (reading would skip records or wait at
offsets the topic does not have).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.support.kafka import create_topics, free_port, produce
from tests.support.realtime import REPO
from tradestream.kafka_clients.positions import read_topic_state, settle_committed


def _realtime(args: list[str], env: dict[str, str] | None = None):
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tradestream.cli", "realtime", *args],
        cwd=REPO,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - started


def test_realtime_without_a_broker_fails_in_seconds_with_one_line(tmp_path):
    env = dict(os.environ, TRADESTREAM_STATE_DIR=str(tmp_path))
    done, took = _realtime([f"--bootstrap_servers=127.0.0.1:{free_port()}"], env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no Kafka broker answers" in lines[0] and "tradestream local up" in lines[0]
    assert took < 10


def _commit_beyond_end(bootstrap: str, topic: str, group: str, offset: int) -> None:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
    consumer.close()


@pytest.mark.integration
def test_realtime_refuses_committed_offsets_beyond_the_end_then_moves_them_on_request(
    kafka_broker, tmp_path
):
    topic = f"trades-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [topic], partitions=1)
    produce(kafka_broker.bootstrap, topic, [(b"k", b"v")] * 5)
    _commit_beyond_end(kafka_broker.bootstrap, topic, "g-beyond", 50)
    env = dict(os.environ, TRADESTREAM_STATE_DIR=str(tmp_path))

    done, took = _realtime(
        [
            f"--bootstrap_servers={kafka_broker.bootstrap}",
            f"--trades_topic={topic}",
            "--consumer_group=g-beyond",
            "--checkpoint_interval=0",
        ],
        env,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "ends at offset 5, before the stored offset 50" in lines[0]
    assert "--on_topic_reset=start_over" in lines[0]
    assert took < 30

    # The policy a user can choose: the offset moves to --start_from, with a warning.
    options = {"bootstrap_servers": [kafka_broker.bootstrap]}
    state = read_topic_state(options, topic, "g-beyond")
    warnings = settle_committed(options, state, "g-beyond", "earliest", "start_over")
    assert len(warnings) == 1 and "moved to the earliest offsets {0: 0}" in warnings[0]
    assert read_topic_state(options, topic, "g-beyond").committed == {0: 0}
