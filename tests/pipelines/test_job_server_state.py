"""The Flink job server keeps a fixed set of states while the realtime job runs.

The Kafka source is a splittable DoFn: each read call ends by deferring the rest of the
topic, about ten times a second, also on a quiet topic. Beam 2.62's Flink runner stored
every such residual under a state of a new name, and Flink keeps every state it has seen:
a heap table per name, with a `CopyOnWriteStateMap` per key group of the subtask (64 here),
so the job server's live heap grew ~23 MB a minute. TradeStream's replacement of that class
(scripts/jvm/beam/src/, first on the job server's class path) reuses two names per key.

Checked by counting the job server's live `CopyOnWriteStateMap`s (`jcmd GC.class_histogram`,
which collects first) twice, 30 s apart, while the job reads: with Beam's class the count
grows by thousands (about 64 per read call), with TradeStream's it stays put.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid

import pytest

from tests.support.kafka import create_topics, produce
from tests.support.realtime import (
    RealtimeProcess,
    flink_env,
    topic_flags,
    topic_size,
    wait_for,
    with_sentinels,
)
from tradestream.market.sample_day import sample_trades

pytestmark = pytest.mark.integration

STATE_MAP = "org.apache.flink.runtime.state.heap.CopyOnWriteStateMap"


def _state_maps(pid: int) -> int:
    """Live instances of Flink's heap state map in the JVM `pid` (after a full collection)."""
    jcmd = shutil.which("jcmd")
    assert jcmd, "jcmd (part of the JDK 17 the local runtime needs) is not on PATH"
    out = subprocess.run(
        [jcmd, str(pid), "GC.class_histogram"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for line in out.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3] == STATE_MAP:
            return int(fields[1])
    return 0


def test_the_job_server_registers_no_new_state_while_the_source_reads(
    kafka_broker, jvm_dir, tmp_path
):
    run = uuid.uuid4().hex[:8]
    topics = {k: f"{k}-{run}" for k in ("trades", "signals", "dlq")}
    create_topics(kafka_broker, list(topics.values()))
    trades = with_sentinels(list(sample_trades(hours=1, seed=5)))
    produce(
        kafka_broker.bootstrap,
        topics["trades"],
        [(t.symbol.encode(), t.SerializeToString()) for t in trades],
    )
    log = tmp_path / "realtime.log"
    pipeline = RealtimeProcess(
        [
            *topic_flags(kafka_broker.bootstrap, topics),
            f"--consumer_group=state-{run}",
            "--strategy",
            "SMA_CROSSOVER",
            "--checkpoint_interval=0",
        ],
        flink_env(tmp_path, jvm_dir),
        log,
    )
    try:
        # Signals out: every stage runs, the hour is read, the source now polls a quiet topic.
        wait_for(
            lambda: topic_size(kafka_broker.bootstrap, topics["signals"]) > 0,
            timeout_s=300,
            what="the first signal",
            log=log,
        )
        pid = pipeline.job_server_pid()
        first = _state_maps(pid)
        time.sleep(30)
        second = _state_maps(pid)
        assert pipeline.alive(), log.read_text()[-3000:]
    finally:
        pipeline.stop()
    assert first > 0, "no Flink heap state found: is the job server's state backend the heap?"
    # Beam's class: ~64 more per read call, ~10 calls a second -> ~19,000 in 30 s.
    assert second - first < 300, (first, second)
