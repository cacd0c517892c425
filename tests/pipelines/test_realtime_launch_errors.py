"""`tradestream realtime` refuses to start, in seconds and in one line, what could not run.

No broker (the job would otherwise restart its workers forever), and a consumer group whose
committed offsets lie outside the topic's records (reading would skip records or wait at
offsets the topic does not have).
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.cli import closed_bootstrap, timed_tradestream
from tests.support.kafka import create_topics, produce
from tradestream.kafka_clients.positions import (
    commit_offsets,
    read_topic_state,
    settle_committed,
)


def _realtime(args: list[str], env: dict[str, str]):
    return timed_tradestream("realtime", *args, env=env, timeout=120)


def _startup_s(env: dict[str, str]) -> float:
    """Seconds the interpreter and imports take before `realtime` does anything (its --help).

    The bounds below are about waiting on the broker, not about start-up, which alone takes
    several seconds on a loaded 2-core machine.
    """
    shown, took = _realtime(["--help"], env)
    assert shown.returncode == 0, shown.stderr
    return took


def test_realtime_without_a_broker_fails_in_seconds_with_one_line(tmp_path):
    env = dict(os.environ, TRADESTREAM_STATE_DIR=str(tmp_path))
    startup = _startup_s(env)
    done, took = _realtime([f"--bootstrap_servers={closed_bootstrap()}"], env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no Kafka broker answers" in lines[0] and "tradestream local up" in lines[0]
    assert took - startup < 10, (took, startup)


def test_realtime_refuses_its_own_flink_conf_dir_beside_its_checkpoints(tmp_path):
    # The launcher writes the job's Flink configuration (checkpoints, their restore) and
    # gives it with --flink_conf_dir: a user's second one would silently replace it.
    env = dict(os.environ, TRADESTREAM_STATE_DIR=str(tmp_path))
    done, _ = _realtime(
        [f"--bootstrap_servers={closed_bootstrap()}", f"--flink_conf_dir={tmp_path}"], env
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--flink_conf_dir" in lines[0] and "--checkpoint_interval=0" in lines[0]
    # Without checkpoints the user's is the job's: the launch goes on (to the broker check).
    done, _ = _realtime(
        [
            f"--bootstrap_servers={closed_bootstrap()}",
            f"--flink_conf_dir={tmp_path}",
            "--checkpoint_interval=0",
        ],
        env,
    )
    assert done.returncode == 2 and "no Kafka broker answers" in done.stderr


@pytest.mark.integration
def test_realtime_refuses_committed_offsets_beyond_the_end_then_moves_them_on_request(
    kafka_broker, tmp_path
):
    topic = f"trades-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [topic], partitions=1)
    produce(kafka_broker.bootstrap, topic, [(b"k", b"v")] * 5)
    options = {"bootstrap.servers": kafka_broker.bootstrap}
    commit_offsets(options, topic, "g-beyond", {0: 50})  # records lost on the broker
    env = dict(os.environ, TRADESTREAM_STATE_DIR=str(tmp_path))
    startup = _startup_s(env)

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
    assert took - startup < 30, (took, startup)

    # The policy a user can choose: the offset moves to --start_from, with a warning.
    state = read_topic_state(options, topic, "g-beyond")
    warnings = settle_committed(options, state, "g-beyond", "earliest", "start_over")
    assert len(warnings) == 1 and "moved to the earliest offsets {0: 0}" in warnings[0]
    assert read_topic_state(options, topic, "g-beyond").committed == {0: 0}
