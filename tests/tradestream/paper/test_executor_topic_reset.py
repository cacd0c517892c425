"""`paper run` after a broker reset: stored offsets of an old topic are refused or dropped.

A reset local broker (or a topic deleted and created again) keeps the topic's name but
starts its offsets at 0 under a new topic id. The executor must not resume at the stored
offsets (issue 15: 70 of 210 signals skipped without a word); by default it stops with one
line, and `--on_topic_reset start_over` reads the new topic from its beginning and says so.

Marked integration: they use the session's KRaft broker (tests/conftest.py) and run the real
command in a subprocess.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.kafka import create_topics, producer, recreate_topics
from tests.support.signals import random_stream
from tradestream.ledger.store import PaperStore
from tradestream.paper.executor import ExecutorOptions, PaperExecutor
from tradestream.portfolio.config import PortfolioConfig

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
# One stream, so that the old and the new topic never share a signal id (a shared id would
# be de-duplicated and hide a skipped record).
STREAM = random_stream(17, 70 + 210)
OLD = {0: STREAM[:20], 1: STREAM[20:70]}
NEW = {0: STREAM[70:130], 1: STREAM[130:280]}


def _produce(bootstrap: str, topic: str, by_partition: dict[int, list]) -> None:
    """Sends each partition's signals to that partition (the counts matter, not the keys)."""
    client = producer(bootstrap)
    failures: list = []

    def delivered(err, _msg) -> None:
        if err is not None:
            failures.append(err)

    for partition, signals in by_partition.items():
        for s in signals:
            client.produce(
                topic,
                value=s.SerializeToString(),
                key=s.symbol.encode(),
                partition=partition,
                on_delivery=delivered,
            )
    assert client.flush(60) == 0 and not failures, failures


def _topic_id(bootstrap: str, topic: str) -> str:
    from confluent_kafka.admin import AdminClient

    from tradestream.kafka_clients.positions import current_topic_id

    return current_topic_id(AdminClient({"bootstrap.servers": bootstrap}), topic)


@pytest.fixture
def old_position(kafka_broker, tmp_path):
    """A database that read 20 and 50 signals of a topic, then the topic recreated empty.

    Returns (topic, db_url, db_path, the old topic's id).
    """
    topic = f"paper-reset-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [topic], partitions=2)
    _produce(kafka_broker.bootstrap, topic, OLD)
    db_path = tmp_path / "paper.db"
    db_url = f"sqlite:///{db_path}"
    store = PaperStore(db_url)
    try:
        options = ExecutorOptions(
            bootstrap=kafka_broker.bootstrap, signals_topic=topic, stop_at_end=True
        )
        assert PaperExecutor(PortfolioConfig(), options, store, kafka_broker).run() == 0
        assert store.offsets() == {(topic, 0): 20, (topic, 1): 50}
        old_id = _topic_id(kafka_broker.bootstrap, topic)
        assert store.topic_ids() == {topic: old_id}
    finally:
        store.close()
    recreate_topics(kafka_broker, [topic], partitions=2)
    assert _topic_id(kafka_broker.bootstrap, topic) != old_id
    return topic, db_url, db_path, old_id


def _paper_run(bootstrap: str, topic: str, db_url: str, tmp_path: Path, *flags: str):
    env = {**os.environ, "TRADESTREAM_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run(
        [
            sys.executable, "-m", "tradestream.cli", "paper", "run", "--db", db_url,
            "--bootstrap_servers", bootstrap, "--signals_topic", topic,
            "--group_id", f"g-{uuid.uuid4().hex[:8]}", "--stop_at_end", *flags,
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _recorded(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        return {row[0] for row in conn.execute("SELECT signal_id FROM signals")}


def _stored(db_url: str):
    store = PaperStore(db_url)
    try:
        return store.offsets(), store.topic_ids()
    finally:
        store.close()


def test_paper_run_topic_recreated_with_more_signals_refuses_then_start_over_reads_all(
    kafka_broker, old_position, tmp_path
):
    topic, db_url, db_path, old_id = old_position
    _produce(kafka_broker.bootstrap, topic, NEW)  # 60 and 150: both past the stored 20 and 50
    before = _recorded(db_path)
    assert before == {s.signal_id for part in OLD.values() for s in part}

    refused = _paper_run(kafka_broker.bootstrap, topic, db_url, tmp_path)
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.splitlines()
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith("tradestream paper run: error: ")
    assert "was recreated" in lines[0] and old_id in lines[0]
    assert "--on_topic_reset start_over" in lines[0]
    assert _recorded(db_path) == before  # nothing recorded
    assert _stored(db_url) == ({(topic, 0): 20, (topic, 1): 50}, {topic: old_id})

    started_over = _paper_run(
        kafka_broker.bootstrap, topic, db_url, tmp_path, "--on_topic_reset", "start_over"
    )
    assert started_over.returncode == 0, started_over.stderr
    warnings = [line for line in started_over.stderr.splitlines() if " WARNING " in line]
    assert len(warnings) == 1, started_over.stderr
    assert "dropping the stored offsets" in warnings[0] and "{0: 20, 1: 50}" in warnings[0]
    assert "was recreated" in warnings[0]
    new_ids = {s.signal_id for part in NEW.values() for s in part}
    assert _recorded(db_path) == before | new_ids  # all 210, none skipped
    new_id = _topic_id(kafka_broker.bootstrap, topic)
    assert _stored(db_url) == ({(topic, 0): 60, (topic, 1): 150}, {topic: new_id})

    # The dropped position is gone for good: the next start resumes quietly at the end.
    again = _paper_run(kafka_broker.bootstrap, topic, db_url, tmp_path)
    assert again.returncode == 0, again.stderr
    assert " WARNING " not in again.stderr


def _forget_topic_ids(db_path: Path) -> None:
    """Makes the database one of schema 1: offsets without topic ids."""
    with sqlite3.connect(db_path) as conn:
        conn.execute("ALTER TABLE offsets DROP COLUMN topic_id")
        conn.execute("ALTER TABLE positions DROP COLUMN exits")  # added by schema 3
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")


def test_paper_run_offset_beyond_end_of_a_schema1_database_is_refused_then_started_over(
    kafka_broker, old_position, tmp_path
):
    topic, db_url, db_path, _ = old_position
    # No topic id stored (a database from before they were kept): only the offsets show it.
    _forget_topic_ids(db_path)
    _produce(kafka_broker.bootstrap, topic, {0: NEW[0][:5], 1: NEW[1][:10]})
    before = _recorded(db_path)

    refused = _paper_run(kafka_broker.bootstrap, topic, db_url, tmp_path)
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.splitlines()
    assert len(lines) == 1, refused.stderr
    assert f"{topic}[0] ends at offset 5, before the stored offset 20" in lines[0]
    assert f"{topic}[1] ends at offset 10, before the stored offset 50" in lines[0]
    assert "--on_topic_reset start_over" in lines[0]
    assert _recorded(db_path) == before
    assert _stored(db_url) == ({(topic, 0): 20, (topic, 1): 50}, {topic: None})

    started_over = _paper_run(
        kafka_broker.bootstrap, topic, db_url, tmp_path, "--on_topic_reset", "start_over"
    )
    assert started_over.returncode == 0, started_over.stderr
    assert "ends at offset 5, before the stored offset 20" in started_over.stderr
    new_ids = {s.signal_id for s in NEW[0][:5] + NEW[1][:10]}
    assert _recorded(db_path) == before | new_ids
    new_id = _topic_id(kafka_broker.bootstrap, topic)
    assert _stored(db_url) == ({(topic, 0): 5, (topic, 1): 10}, {topic: new_id})


def test_executor_schema1_offsets_that_fit_are_kept_and_take_the_topic_id(kafka_broker, tmp_path):
    topic = f"paper-adopt-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [topic], partitions=2)
    _produce(kafka_broker.bootstrap, topic, OLD)
    db_path = tmp_path / "paper.db"
    db_url = f"sqlite:///{db_path}"
    options = ExecutorOptions(
        bootstrap=kafka_broker.bootstrap, signals_topic=topic, stop_at_end=True
    )
    store = PaperStore(db_url)
    try:
        assert PaperExecutor(PortfolioConfig(), options, store, kafka_broker).run() == 0
    finally:
        store.close()
    _forget_topic_ids(db_path)
    _produce(kafka_broker.bootstrap, topic, {0: NEW[0][:3]})  # the same topic grows
    store = PaperStore(db_url)  # migrates: the offsets stay, their topic id is unknown
    try:
        assert store.topic_ids() == {topic: None}
        assert PaperExecutor(PortfolioConfig(), options, store, kafka_broker).run() == 0
        assert store.offsets() == {(topic, 0): 23, (topic, 1): 50}
        assert store.topic_ids() == {topic: _topic_id(kafka_broker.bootstrap, topic)}
    finally:
        store.close()
    assert _recorded(db_path) == {s.signal_id for s in STREAM[:70] + NEW[0][:3]}
