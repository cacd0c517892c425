"""The realtime pipeline on the Flink runner against the real local broker.

The test topics have 3 partitions and the 3 sample symbols hash to partitions 0 and 2, so
partition 1 never receives data: an idle partition that must not stall the watermark.

The signals it writes to Kafka must equal, id for id, the signals the vectorized evaluator
computes from the same trades; bad records must land on the dead-letter topic.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.kafka import create_topics, produce
from tests.support.realtime import (
    RealtimeProcess,
    read_signals,
    reference_candles,
    reference_signals,
    signal_key,
    topic_counts,
    topic_flags,
    topic_size,
    wait_for,
    with_sentinels,
)
from tradestream.market.sample_day import sample_trades
from tradestream.strategies import library
from tradestream.v1 import trade_pb2

pytestmark = pytest.mark.integration

MINUTE = 60_000


def _topics(settings) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    names = {k: f"{k}-{run}" for k in ("trades", "signals", "dlq")}
    create_topics(settings, list(names.values()))
    return names


def _env(tmp_path, jvm_dir) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TRADESTREAM_STATE_DIR=str(tmp_path / "state"), TRADESTREAM_JVM_CACHE_DIR=str(jvm_dir)
    )
    return env


def test_realtime_flink_signals_equal_vectorized_reference(kafka_broker, jvm_dir, tmp_path):
    topics = _topics(kafka_broker)
    trades = list(sample_trades(hours=3, seed=11))
    # No strategy chosen: every library type runs except those reading the order book (no
    # --book_topic; the pipeline says so in a warning and leaves them out).
    strategies = [library.build(name) for name in library.names()]
    strategies = [s for s in strategies if not s.reads_book]
    assert len(strategies) == len(library.names()) - 1
    expected = reference_signals(strategies, reference_candles(trades, MINUTE, max_gap=60))
    assert len(expected) > 100

    bad = [
        b"\x00 not a protobuf",
        trade_pb2.Trade(symbol="BTC-USD", price=float("nan")).SerializeToString(),
    ]
    records = [(t.symbol.encode(), t.SerializeToString()) for t in with_sentinels(trades)]
    produce(kafka_broker.bootstrap, topics["trades"], records + [(b"x", b) for b in bad])

    pipeline = RealtimeProcess(
        [
            *topic_flags(kafka_broker.bootstrap, topics),
            "--consumer_group=realtime-equality",
            # Default workers and parallelism; without checkpoints, offsets are committed
            # as read.
            "--checkpoint_interval=0",
        ],
        _env(tmp_path, jvm_dir),
        tmp_path / "realtime.log",
    )
    try:
        wait_for(
            lambda: topic_size(kafka_broker.bootstrap, topics["signals"]) >= len(expected),
            timeout_s=300,
            what=f"{len(expected)} signals",
            log=tmp_path / "realtime.log",
            state=topic_counts(kafka_broker.bootstrap, topics),
        )
        wait_for(lambda: topic_size(kafka_broker.bootstrap, topics["dlq"]) >= 2, 60, what="dlq")
    finally:
        pipeline.stop()

    got = read_signals(kafka_broker.bootstrap, topics["signals"])
    assert sorted(signal_key(s) for s in got) == sorted(signal_key(s) for s in expected)
    assert all(s.reason for s in got), "realtime signals say which rule fired"
    # Without checkpoints the job server still gets the launcher's Flink settings.
    conf = tmp_path / "state" / "flink-conf" / "realtime-equality" / "flink-conf.yaml"
    assert "execution.buffer-timeout.interval: 5 ms" in conf.read_text().splitlines()
    assert topic_size(kafka_broker.bootstrap, topics["dlq"]) == 2
    assert _committed(kafka_broker.bootstrap, topics["trades"], "realtime-equality") == _ends(
        kafka_broker.bootstrap, topics["trades"]
    )


def _committed(bootstrap: str, topic: str, group: str) -> dict[int, int | None]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = sorted(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
        committed = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=30)
        return {tp.partition: tp.offset if tp.offset >= 0 else None for tp in committed}
    finally:
        consumer.close()


def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tests-ends"})
    try:
        parts = sorted(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in parts
        }
    finally:
        consumer.close()


def test_realtime_flink_killed_mid_replay_resumes_from_checkpoint_without_gap_or_duplicate(
    kafka_broker, jvm_dir, tmp_path
):
    import glob

    topics = _topics(kafka_broker)
    trades = list(sample_trades(hours=2, seed=5))
    names = ["SMA_CROSSOVER", "EMA_MACD", "SMA_RSI", "BBAND_W_R"]
    strategies = [library.build(n) for n in names]
    expected = reference_signals(strategies, reference_candles(trades, MINUTE, max_gap=60))
    records = [(t.symbol.encode(), t.SerializeToString()) for t in with_sentinels(trades)]
    cut = int(len(records) * 0.6)
    produce(kafka_broker.bootstrap, topics["trades"], records[:cut])

    env = _env(tmp_path, jvm_dir)
    args = [
        f"--bootstrap_servers={kafka_broker.bootstrap}",
        f"--trades_topic={topics['trades']}",
        f"--signals_topic={topics['signals']}",
        f"--dlq_topic={topics['dlq']}",
        "--consumer_group=realtime-restart",
        "--parallelism=1",
        "--checkpoint_interval=10s",
        *[f"--strategy={n}" for n in names],
    ]
    checkpoints = str(tmp_path / "state" / "checkpoints" / "*" / "*" / "chk-*" / "_metadata")
    first = RealtimeProcess(args, env, tmp_path / "first.log")
    try:
        wait_for(lambda: topic_size(kafka_broker.bootstrap, topics["signals"]) > 0, 180,
                 what="the first signals")  # fmt: skip
        wait_for(lambda: glob.glob(checkpoints), 60, what="a completed checkpoint")
    finally:
        first.kill()  # SIGKILL: no chance to flush or clean up
    before = topic_size(kafka_broker.bootstrap, topics["signals"])
    assert 0 < before < len(expected), "the kill must happen mid-stream"

    produce(kafka_broker.bootstrap, topics["trades"], records[cut:])  # the replay goes on
    second = RealtimeProcess(args, env, tmp_path / "second.log")
    try:
        wait_for(
            lambda: topic_size(kafka_broker.bootstrap, topics["signals"]) >= len(expected),
            timeout_s=240,
            what=f"{len(expected)} signals",
            log=tmp_path / "second.log",
        )
    finally:
        second.stop()
    assert "resuming from checkpoint" in (tmp_path / "second.log").read_text()

    got = [signal_key(s) for s in read_signals(kafka_broker.bootstrap, topics["signals"])]
    assert len(got) == len(set(got)), "a signal_id was written twice"
    assert set(got) == {signal_key(s) for s in expected}, "signals missing or wrong"
