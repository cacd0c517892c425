"""Faults on the local stack, with nothing lost: the signals equal those of an undisturbed run.

Both Flink tests run the realtime pipeline (Flink runner, embedded cluster) over a replay of
sample trades and compare the signals topic, id for id, with the independent reference
(`reference_candles` + `reference_signals`, which is what an undisturbed pipeline writes):
no signal missing, none written twice.

- the Kafka broker is stopped (a clean SIGTERM shutdown) and started again while
  `tradestream ingest` is replaying and the pipeline reading and writing (a dedicated broker on
  free ports: the session broker is shared with other tests);
- `tradestream ingest` is killed (SIGKILL) half way and started again with the same flags: it
  resumes from the topic, so the trades topic ends up with every trade exactly once.

(Killing the pipeline itself and resuming from its checkpoint is in test_realtime_flink.py.)

The pipeline starts before the faults (Flink takes a while to start): a head of the trades is
written first, and the fault happens once the first signals show that the pipeline runs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Message

from tests.support.kafka import broker_settings, create_topics, produce
from tests.support.realtime import (
    REPO,
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
from tradestream.local import kafka as local_kafka
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades_csv
from tradestream.strategies import library
from tradestream.transforms.kafka_io import WriteToKafkaFn, signal_id_of
from tradestream.v1 import signal_pb2, trade_pb2

MINUTE = 60_000
SYMBOLS = {"BTC-USD": 42_000.0, "ETH-USD": 2_300.0}
STRATEGIES = [
    ("SMA_CROSSOVER", {"fast": 5, "slow": 15}),
    ("SMA_CROSSOVER", {"fast": 10, "slow": 30}),
]


# -- the writer: a record Kafka did not take fails the bundle ----------------------------------


class _FailingProducer:
    """A confluent-kafka Producer stand-in: accepts records; at flush, reports the ones listed
    as failed (as librdkafka does for a record whose delivery timed out) and the others as
    delivered."""

    def __init__(self, fail_values: set[bytes]) -> None:
        self.fail_values = fail_values
        self.pending: list[tuple[Message, object]] = []
        self.written: list[bytes] = []

    def produce(self, topic, value=None, key=None, on_delivery=None):
        self.pending.append((Message(topic=topic, key=key, value=value), on_delivery))

    def poll(self, timeout=None) -> int:
        return 0  # deliveries are reported at flush only

    def flush(self, timeout=None) -> int:
        for message, on_delivery in self.pending:
            if message.value() in self.fail_values:
                on_delivery(
                    KafkaError(KafkaError._MSG_TIMED_OUT, "Local: Message timed out"), message
                )
            else:
                self.written.append(message.value())
                on_delivery(None, message)
        self.pending = []
        return 0


def _signal(n: int) -> bytes:
    return signal_pb2.Signal(signal_id=f"id-{n}", symbol="BTC-USD").SerializeToString()


def test_write_to_kafka_failed_delivery_fails_the_bundle_and_the_retry_sends_it():
    fn = WriteToKafkaFn("unused:9092", "signals", dedup_id=signal_id_of)
    fn._producer = _FailingProducer({_signal(2)})  # setup() without a broker
    fn._recent = OrderedDict()
    fn.start_bundle()
    for n in (1, 2, 3):
        fn.process((b"BTC-USD", _signal(n)))
    with pytest.raises(RuntimeError, match="1 record.*could not be written.*signals"):
        fn.finish_bundle()

    fn._producer.fail_values.clear()
    fn.start_bundle()  # the runner retries the bundle
    for n in (1, 2, 3):
        fn.process((b"BTC-USD", _signal(n)))
    fn.finish_bundle()
    assert fn._producer.written == [_signal(1), _signal(3), _signal(2)]  # each once


# -- the Flink tests ----------------------------------------------------------------------------


def _trades(hours: float, seed: int) -> list[trade_pb2.Trade]:
    return list(sample_trades(hours=hours, seed=seed, symbols=SYMBOLS))


def _expected(trades: list[trade_pb2.Trade]) -> list[signal_pb2.Signal]:
    strategies = [library.build(name, params) for name, params in STRATEGIES]
    return reference_signals(strategies, reference_candles(trades, MINUTE, max_gap=60))


def _strategy_flags() -> list[str]:
    flags = []
    for name, params in STRATEGIES:
        flags.append(f"--strategy={name}")
        flags.extend(f"--param={k}={v}" for k, v in params.items())
    return flags


def _topics(settings) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    names = {k: f"fault-{k}-{run}" for k in ("trades", "signals", "dlq")}
    create_topics(settings, list(names.values()))
    return names


def _env(tmp_path: Path, jvm_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TRADESTREAM_STATE_DIR=str(tmp_path / "state"), TRADESTREAM_JVM_CACHE_DIR=str(jvm_dir)
    )
    return env


def _pipeline(bootstrap: str, topics: dict[str, str], group: str, env, log: Path):
    return RealtimeProcess(
        [
            f"--bootstrap_servers={bootstrap}",
            f"--trades_topic={topics['trades']}",
            f"--signals_topic={topics['signals']}",
            f"--dlq_topic={topics['dlq']}",
            f"--consumer_group={group}",
            "--parallelism=1",
            *_strategy_flags(),
        ],
        env,
        log,
    )


class IngestProcess:
    """`tradestream ingest --source=replay ...` in its own process group, output to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tradestream.cli", "ingest", "--source=replay", *args],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no flush, no clean-up; whatever was in flight may or may not be written."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def wait(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        finally:
            self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def _assert_signals_equal_reference(bootstrap: str, topic: str, expected, log: Path) -> None:
    got = [signal_key(s) for s in read_signals(bootstrap, topic)]
    assert len(got) == len(set(got)), f"a signal_id was written twice (log: {log})"
    assert set(got) == {signal_key(s) for s in expected}, f"signals missing or wrong (log: {log})"


def _trade_ids(bootstrap: str, topic: str) -> list[tuple[str, str]]:
    trades = read_topic(bootstrap, topic, trade_pb2.Trade.FromString)
    return [(trade.symbol, trade.trade_id) for trade in trades]


@pytest.mark.integration
@pytest.mark.slow
def test_faults_broker_stopped_and_restarted_mid_stream_signals_equal_undisturbed_run(
    jvm_dir, tmp_path
):
    settings = broker_settings(tmp_path / "kafka", jvm_dir)
    local_kafka.up(settings)
    try:
        _broker_restart_scenario(settings, jvm_dir, tmp_path)
    finally:
        local_kafka.down(settings)


def _broker_restart_scenario(settings, jvm_dir: Path, tmp_path: Path) -> None:
    bootstrap = settings.bootstrap
    topics = _topics(settings)
    trades = _trades(hours=1.5, seed=18)  # 24 signals, 8 in the head
    expected = _expected(trades)
    assert len(expected) > 10
    records = with_sentinels(trades)
    head = int(len(records) * 0.4)
    produce(bootstrap, topics["trades"], [(t.symbol.encode(), t.SerializeToString())
                                          for t in records[:head]])  # fmt: skip
    rest = tmp_path / "rest.csv"
    write_trades_csv(rest, iter(records[head:]))
    env = _env(tmp_path, jvm_dir)

    log = tmp_path / "realtime.log"
    pipeline = _pipeline(bootstrap, topics, "fault-broker", env, log)
    ingest = None
    try:
        wait_for(lambda: topic_size(bootstrap, topics["signals"]) > 0, 240,
                 what="the first signals", log=log)  # fmt: skip
        # The rest of the replay takes ~30 s; the broker goes away a few seconds into it.
        ingest = IngestProcess(
            [f"--input={rest}", "--speed=100", f"--bootstrap_servers={bootstrap}",
             f"--trades_topic={topics['trades']}", f"--dlq_topic={topics['dlq']}"],
            env, tmp_path / "ingest.log",
        )  # fmt: skip
        wait_for(lambda: topic_size(bootstrap, topics["trades"]) > head + 200, 60,
                 what="the ingest to be under way")  # fmt: skip
        before = topic_size(bootstrap, topics["signals"])
        local_kafka.down(settings)
        time.sleep(8)
        assert ingest.proc.poll() is None, "the ingest must still be running when Kafka is back"
        local_kafka.up(settings)

        assert ingest.wait(timeout_s=120) == 0, ingest.output()
        assert "done: " in ingest.output()
        # Nothing lost. A broker going away can make even an idempotent producer write a
        # record twice (its retried sends after the restart; Kafka promises at least once
        # there): the pipeline must count such a copy once and dead-letter it.
        on_topic = _trade_ids(bootstrap, topics["trades"])
        assert set(on_topic) == {(t.symbol, t.trade_id) for t in records}
        copies = len(on_topic) - len(records)
        wait_for(
            lambda: topic_size(bootstrap, topics["signals"]) >= len(expected),
            timeout_s=120,
            what=f"{len(expected)} signals",
            log=log,
        )
    finally:
        if ingest is not None and ingest.proc.poll() is None:
            ingest.kill()
        pipeline.stop()
    assert 0 < before < len(expected), "the broker must go away mid-stream"
    _assert_signals_equal_reference(bootstrap, topics["signals"], expected, log)
    letters = read_topic(bootstrap, topics["dlq"], trade_pb2.DeadLetter.FromString)
    assert len(letters) == copies
    assert {d.reason for d in letters} <= {"duplicate", "late"}  # counted once either way


@pytest.mark.integration
@pytest.mark.slow
def test_faults_ingest_killed_and_restarted_mid_stream_resumes_signals_equal_undisturbed_run(
    kafka_broker, jvm_dir, tmp_path
):
    bootstrap = kafka_broker.bootstrap
    topics = _topics(kafka_broker)
    trades = _trades(hours=1.5, seed=24)  # 18 signals, 4 in the head
    expected = _expected(trades)
    assert len(expected) > 10
    records = with_sentinels(trades)
    path = tmp_path / "trades.csv"
    write_trades_csv(path, iter(records))
    head = int(len(records) * 0.3)
    produce(bootstrap, topics["trades"], [(t.symbol.encode(), t.SerializeToString())
                                          for t in records[:head]])  # fmt: skip
    env = _env(tmp_path, jvm_dir)
    args = [f"--input={path}", "--speed=100", f"--bootstrap_servers={bootstrap}",
            f"--trades_topic={topics['trades']}", f"--dlq_topic={topics['dlq']}"]  # fmt: skip

    log = tmp_path / "realtime.log"
    pipeline = _pipeline(bootstrap, topics, "fault-ingest", env, log)
    first = second = None
    try:
        wait_for(lambda: topic_size(bootstrap, topics["signals"]) > 0, 240,
                 what="the first signals", log=log)  # fmt: skip
        # The same file from the start: it resumes after the head already on the topic.
        first = IngestProcess(args, env, tmp_path / "ingest-1.log")
        wait_for(lambda: topic_size(bootstrap, topics["trades"]) > len(records) * 0.55, 60,
                 what="the first ingest to be half way")  # fmt: skip
        first.kill()
        # A produce request sent just before the kill may still be appended after this read,
        # at a moment nothing outside the broker shows: this is only a lower bound of what the
        # second run finds. Its own count of what it skipped is checked below, against this
        # bound and against the topic's final content.
        on_topic_after_kill = topic_size(bootstrap, topics["trades"])
        assert "resuming: 2 symbol(s) already on the topic" in first.output()

        second = IngestProcess(args, env, tmp_path / "ingest-2.log")
        assert second.wait(timeout_s=120) == 0, second.output()
        wait_for(
            lambda: topic_size(bootstrap, topics["signals"]) >= len(expected),
            timeout_s=120,
            what=f"{len(expected)} signals",
            log=log,
        )
    finally:
        for ingest in (first, second):
            if ingest is not None and ingest.proc.poll() is None:
                ingest.kill()
        pipeline.stop()
    output = second.output()
    assert "resuming: 2 symbol(s) already on the topic" in output
    summary = re.search(r"(\d+) rows: (\d+) sent, .*?(\d+) already on the topic skipped", output)
    assert summary is not None, output
    read, sent, skipped = map(int, summary.groups())
    assert read == len(records), output
    # Resumed mid-stream, after everything the first run wrote; sent exactly the rest.
    assert on_topic_after_kill <= skipped < len(records), (on_topic_after_kill, output)
    assert sent == len(records) - skipped, output
    ids = _trade_ids(bootstrap, topics["trades"])
    assert len(ids) == len(set(ids)) == len(records), "a trade is missing or on the topic twice"
    _assert_signals_equal_reference(bootstrap, topics["signals"], expected, log)
