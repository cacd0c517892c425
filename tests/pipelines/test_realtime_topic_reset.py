"""A retained checkpoint after the trades topic was reset: refused, or set aside on request.

The realtime pipeline runs on Flink over a first incarnation of the topics and stops after a
completed checkpoint. The topics are then deleted and created again (what a reset local
broker or a recreated production topic looks like to the pipeline: same names, offsets from
0, new topic ids), and trades are replayed into them:

- with fewer records than the checkpoint's offsets (offsets beyond the new end), and
- with more records than before (offsets inside the new topic, pointing at other records),

a plain restart must stop at once with one line naming the way out, instead of resuming at
the old offsets and watermark (which measured: every replayed trade dead-lettered as late,
the records before the old offsets never read). With `--on_topic_reset=start_over` the
checkpoint is set aside with a warning and every record of the new topic is processed: the
signals equal the reference's and nothing is dead-lettered.
"""

from __future__ import annotations

import glob
import os
import uuid

import pytest

from tests.support.cli import timed_tradestream
from tests.support.kafka import create_topics, produce, recreate_topics
from tests.support.realtime import (
    RealtimeProcess,
    read_signals,
    read_topic,
    reference_candles,
    reference_signals,
    signal_key,
    topic_size,
    wait_for,
    with_sentinels,
)
from tradestream.market.sample_day import sample_trades
from tradestream.strategies import library
from tradestream.v1 import trade_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MINUTE = 60_000
DAY = 24 * 60 * MINUTE
STRATEGY = "SMA_CROSSOVER"


def _records(trades: list[trade_pb2.Trade]) -> list[tuple[bytes, bytes]]:
    return [(t.symbol.encode(), t.SerializeToString()) for t in trades]


def _shifted(trades: list[trade_pb2.Trade], by_ms: int) -> list[trade_pb2.Trade]:
    out = []
    for t in trades:
        copy = trade_pb2.Trade()
        copy.CopyFrom(t)
        copy.time_ms += by_ms
        out.append(copy)
    return out


def _letters_by_candle(letters: list[trade_pb2.DeadLetter]) -> str:
    """Dead letters counted per (reason, symbol, candle start, detail), for a failure message.

    (CI keeps no files of a failed run: which candles lost how many trades must travel in
    the message to tell a watermark that overtook a whole read call from a stray record.)
    """
    counts: dict[tuple, int] = {}
    for letter in letters:
        try:
            time_ms = trade_pb2.Trade.FromString(letter.payload).time_ms
        except Exception:  # noqa: BLE001 - a malformed payload is a dead letter too
            time_ms = -1
        key = (letter.reason, letter.symbol, time_ms - time_ms % MINUTE, letter.detail)
        counts[key] = counts.get(key, 0) + 1
    return "; ".join(
        f"{n} x {reason} {symbol} candle {start}: {detail}"
        for (reason, symbol, start, detail), n in sorted(counts.items())
    )


def _committed_total(bootstrap: str, topic: str, group: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = sorted(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
        committed = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=30)
        return sum(max(tp.offset, 0) for tp in committed)  # OFFSET_INVALID: none committed
    finally:
        consumer.close()


def test_realtime_restart_after_topic_reset_refuses_checkpoint_then_starts_over_on_request(
    kafka_broker, jvm_dir, tmp_path
):
    run = uuid.uuid4().hex[:8]
    topics = {k: f"{k}-{run}" for k in ("trades", "signals", "dlq")}
    create_topics(kafka_broker, list(topics.values()))
    bootstrap = kafka_broker.bootstrap
    env = dict(os.environ)
    env.update(
        TRADESTREAM_STATE_DIR=str(tmp_path / "state"), TRADESTREAM_JVM_CACHE_DIR=str(jvm_dir)
    )
    args = [
        f"--bootstrap_servers={bootstrap}",
        f"--trades_topic={topics['trades']}",
        f"--signals_topic={topics['signals']}",
        f"--dlq_topic={topics['dlq']}",
        "--consumer_group=realtime-reset",
        "--parallelism=1",
        "--checkpoint_interval=3s",
        f"--strategy={STRATEGY}",
    ]

    # First incarnation: read to the end, then a checkpoint that holds the final offsets.
    first_trades = with_sentinels(list(sample_trades(hours=2, seed=3)))
    produce(bootstrap, topics["trades"], _records(first_trades))
    first = RealtimeProcess(args, env, tmp_path / "first.log")
    try:
        wait_for(
            lambda: (
                _committed_total(bootstrap, topics["trades"], "realtime-reset") >= len(first_trades)
            ),
            timeout_s=240,
            what="offsets of a checkpoint after every record",
            log=tmp_path / "first.log",
        )
    finally:
        first.stop()
    stopped = (tmp_path / "first.log").read_text()
    assert "[realtime] stopping: cancelling the job" in stopped
    assert "Traceback" not in stopped, f"Ctrl-C stops without a traceback:\n{stopped[-3000:]}"
    checkpoints = tmp_path / "state" / "checkpoints" / "realtime-reset"
    assert glob.glob(str(checkpoints / "*" / "chk-*" / "_metadata"))

    # The broker is reset: same names, new ids, offsets from 0.
    recreate_topics(kafka_broker, list(topics.values()))
    few = _shifted(first_trades[:50], DAY)
    produce(bootstrap, topics["trades"], _records(few))  # every offset beyond the new end
    refused, took = timed_tradestream("realtime", *args, env=env, timeout=120)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "recreated" in lines[0] and "--on_topic_reset=start_over" in lines[0]
    assert "Traceback" not in refused.stdout + refused.stderr
    assert took < 60

    # More records than before: the old offsets now point inside the new topic.
    recreate_topics(kafka_broker, list(topics.values()))
    second_trades = _shifted(list(sample_trades(hours=3, seed=4)), DAY)
    assert len(second_trades) > len(first_trades)
    produce(bootstrap, topics["trades"], _records(with_sentinels(second_trades)))
    refused, _ = timed_tradestream("realtime", *args, env=env, timeout=120)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr

    # The user's choice: set the checkpoint aside and read the new topic from its start.
    expected = reference_signals(
        [library.build(STRATEGY)], reference_candles(second_trades, MINUTE, max_gap=60)
    )
    assert expected
    log = tmp_path / "second.log"
    second = RealtimeProcess([*args, "--on_topic_reset=start_over"], env, log)
    try:
        wait_for(
            lambda: topic_size(bootstrap, topics["signals"]) >= len(expected),
            timeout_s=300,
            what=f"{len(expected)} signals",
            log=log,
        )
        wait_for(
            lambda: (
                _committed_total(bootstrap, topics["trades"], "realtime-reset")
                >= len(with_sentinels(second_trades))
            ),
            timeout_s=90,
            what="every record of the new topic read and committed after a checkpoint",
            log=log,
        )
    finally:
        second.stop()
    text = log.read_text()
    assert "WARNING" in text and "does not fit" in text and "resuming from" not in text
    assert "[realtime] the job is running on an embedded Flink cluster" in text
    assert "Unknown pipeline options" not in text and "No iterator is returned" not in text
    assert glob.glob(str(checkpoints / "stale" / "*" / "*" / "chk-*" / "_metadata"))
    got = sorted(signal_key(s) for s in read_signals(bootstrap, topics["signals"]))
    assert got == sorted(signal_key(s) for s in expected)
    letters = read_topic(bootstrap, topics["dlq"], trade_pb2.DeadLetter.FromString)
    assert letters == [], (
        f"no trade of the new topic is dead-lettered, got {len(letters)}: "
        + _letters_by_candle(letters)
        + f" (log: {log})"
    )
