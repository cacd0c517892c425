"""Ingest and the realtime pipeline against a broker that only speaks SASL_SSL (SCRAM-SHA-512).

The broker (tests/support/secured_kafka.py) has a throw-away CA, a CA-signed certificate and
random SCRAM passwords. TradeStream's processes get the connection from `TRADESTREAM_KAFKA_*`
environment variables only; the tests read the results back over SASL_SSL and check that the
password shows up in no output, log or state file of those processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.support.realtime import (
    RealtimeProcess,
    reference_candles,
    reference_signals,
    signal_key,
    wait_for,
)
from tests.support.secured_kafka import SecuredBroker, secured_broker
from tradestream.kafka_clients.config import client_config, consumer_config
from tradestream.kafka_clients.tail import read_range
from tradestream.local import kafka as local_kafka
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades_csv
from tradestream.strategies import library
from tradestream.v1 import signal_pb2, trade_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRADESTREAM = str(Path(sys.executable).parent / "tradestream")
MINUTE = 60_000
STRATEGIES = ["SMA_CROSSOVER", "EMA_MACD", "SMA_RSI"]


@pytest.fixture(scope="module")
def secured_kafka(
    tmp_path_factory: pytest.TempPathFactory, jvm_dir: Path
) -> Iterator[SecuredBroker]:
    """A KRaft broker whose only client listener is SASL_SSL; stopped after the module."""
    broker = secured_broker(tmp_path_factory.mktemp("secured-kafka"), jvm_dir)
    local_kafka.up(
        broker.settings, server_properties=broker.server_properties, format_args=broker.format_args
    )
    try:
        yield broker
    finally:
        local_kafka.down(broker.settings)


def _env(broker: SecuredBroker, tmp_path: Path, jvm_dir: Path, **overrides: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESTREAM_")}
    env.update(broker.env(), **overrides)
    env.update(
        TRADESTREAM_STATE_DIR=str(tmp_path / "state"), TRADESTREAM_JVM_CACHE_DIR=str(jvm_dir)
    )
    return env


def _topics(broker: SecuredBroker, *kinds: str) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    names = {k: f"secured-{k}-{run}" for k in kinds}
    local_kafka.ensure_topics(broker.settings.bootstrap, list(names.values()), 3, broker.settings)
    return names


def _partition_ranges(broker: SecuredBroker, consumer, topic: str) -> dict:
    """(topic, partition) -> (first, end) offset of every partition, read over SASL_SSL."""
    listed = AdminClient(client_config(broker.settings)).list_topics(topic=topic, timeout=30)
    return {
        (topic, p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        for p in sorted(listed.topics[topic].partitions)
    }


def _read_all(broker: SecuredBroker, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every record on the topic, read over SASL_SSL."""
    consumer = Consumer(consumer_config(client_config(broker.settings)))
    try:
        ranges = _partition_ranges(broker, consumer, topic)
        starts = {tp: first for tp, (first, _) in ranges.items()}
        ends = {tp: end for tp, (_, end) in ranges.items()}
        return [(r.key(), r.value()) for r in read_range(consumer, starts, ends, timeout_s=30)]
    finally:
        consumer.close()


def _topic_size(broker: SecuredBroker, topic: str) -> int:
    consumer = Consumer(consumer_config(client_config(broker.settings)))
    try:
        return sum(
            end - first for first, end in _partition_ranges(broker, consumer, topic).values()
        )
    finally:
        consumer.close()


def _assert_secret_absent(secret: str, *texts: str, files: Path | None = None) -> None:
    for text in texts:
        assert secret not in text, "the SASL password appears in a process's output"
    if files is not None:
        needle = secret.encode()
        for path in files.rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), f"the SASL password is in {path}"


def test_ingest_replay_over_sasl_ssl_writes_trades_without_showing_the_password(
    secured_kafka, jvm_dir, tmp_path
):
    topics = _topics(secured_kafka, "trades", "dlq")
    path = tmp_path / "trades.csv"
    path.write_text(
        "time,symbol,price,size,side\n"
        "2024-01-02T14:30:00Z,BTC-USD,42000.5,0.1,buy\n"
        "2024-01-02T14:30:01Z,BTC-USD,-1,0.1,sell\n"
        "2024-01-02T14:30:02Z,ETH-USD,2200,1.5,sell\n"
    )
    done = subprocess.run(
        [TRADESTREAM, "ingest", "--source=replay", f"--input={path}",
         f"--trades_topic={topics['trades']}", f"--dlq_topic={topics['dlq']}"],
        env=_env(secured_kafka, tmp_path, jvm_dir), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done: 2 trades" in done.stdout
    trades = [trade_pb2.Trade.FromString(v) for _, v in _read_all(secured_kafka, topics["trades"])]
    assert sorted((t.symbol, t.price) for t in trades) == [("BTC-USD", 42000.5), ("ETH-USD", 2200)]
    assert len(_read_all(secured_kafka, topics["dlq"])) == 1
    _assert_secret_absent(
        secured_kafka.password, done.stdout, done.stderr, files=tmp_path / "state"
    )


def test_ingest_with_a_wrong_password_fails_fast_naming_the_refused_login(
    secured_kafka, jvm_dir, tmp_path
):
    topics = _topics(secured_kafka, "trades", "dlq")
    wrong = "not-the-password-" + uuid.uuid4().hex
    env = _env(secured_kafka, tmp_path, jvm_dir, TRADESTREAM_KAFKA_SASL_PASSWORD=wrong)
    argv = [TRADESTREAM, "ingest", "--source=replay", "--sample_hours=0.1",
            f"--trades_topic={topics['trades']}", f"--dlq_topic={topics['dlq']}"]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    assert done.returncode != 0, done.stderr
    assert "refused the SASL SCRAM-SHA-512 login of user 'tradestream'" in done.stderr
    assert "TRADESTREAM_KAFKA_SASL_PASSWORD" in done.stderr
    # "Fast" is about the login: refused at the first attempt, not after 30 s of client
    # retries. The interpreter's start-up (seconds, many more on a loaded machine) is measured
    # with `--help` and taken off, so the bound does not depend on the machine's load.
    started = time.monotonic()
    help_run = subprocess.run([*argv, "--help"], env=env, capture_output=True, timeout=300)
    startup = time.monotonic() - started
    assert help_run.returncode == 0, help_run.stderr
    assert elapsed - startup < 25, (
        f"{elapsed:.0f}s ({startup:.0f}s of start-up): a refused login must not wait for timeouts"
    )
    _assert_secret_absent(wrong, done.stdout, done.stderr)
    _assert_secret_absent(secured_kafka.password, done.stdout, done.stderr)
    assert _topic_size(secured_kafka, topics["trades"]) == 0


def test_realtime_flink_over_sasl_ssl_writes_the_reference_signals_without_showing_the_password(
    secured_kafka, jvm_dir, tmp_path
):
    topics = _topics(secured_kafka, "trades", "signals", "dlq")
    trades = list(sample_trades(hours=2, seed=7))
    end = max(t.time_ms for t in trades)
    closers = [  # one trade per symbol in the next interval closes every candle
        trade_pb2.Trade(exchange="test", symbol=s, trade_id="closer", price=1.0, size=1.0,
                        time_ms=end - end % MINUTE + MINUTE)
        for s in sorted({t.symbol for t in trades})
    ]  # fmt: skip
    strategies = [library.build(n) for n in STRATEGIES]
    expected = reference_signals(strategies, reference_candles(trades, MINUTE, max_gap=60))
    assert expected

    # The trades go in the way they do in production: `tradestream ingest` over SASL_SSL.
    path = tmp_path / "trades.csv"
    write_trades_csv(path, iter(trades + closers))
    env = _env(secured_kafka, tmp_path, jvm_dir)
    ingest = subprocess.run(
        [TRADESTREAM, "ingest", "--source=replay", f"--input={path}",
         f"--trades_topic={topics['trades']}", f"--dlq_topic={topics['dlq']}"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr

    log = tmp_path / "realtime.log"
    pipeline = RealtimeProcess(
        [
            f"--trades_topic={topics['trades']}",
            f"--signals_topic={topics['signals']}",
            f"--dlq_topic={topics['dlq']}",
            "--consumer_group=realtime-secured",
            "--parallelism=1",
            *[f"--strategy={n}" for n in STRATEGIES],
        ],
        env,
        log,
    )
    try:
        wait_for(
            lambda: _topic_size(secured_kafka, topics["signals"]) >= len(expected),
            timeout_s=300,
            what=f"{len(expected)} signals",
            log=log,
        )
    finally:
        pipeline.stop()

    got = [signal_pb2.Signal.FromString(v) for _, v in _read_all(secured_kafka, topics["signals"])]
    assert sorted(signal_key(s) for s in got) == sorted(signal_key(s) for s in expected)
    _assert_secret_absent(
        secured_kafka.password, ingest.stdout, ingest.stderr, log.read_text(errors="replace"),
        files=tmp_path / "state",
    )  # fmt: skip


def test_secured_broker_refuses_clients_without_tls_or_sasl(secured_kafka):
    """The tests above really went through SASL_SSL: nothing else gets in."""
    from tradestream.kafka_clients.config import KafkaSecurityError, verify_connection

    s = secured_kafka.settings
    plaintext = s.model_copy(
        update={"kafka_security_protocol": "PLAINTEXT", "kafka_sasl_username": None,
                "kafka_sasl_password": None, "kafka_ssl_cafile": None}
    )  # fmt: skip
    assert not local_kafka.broker_reachable(s.bootstrap, timeout_s=5, settings=plaintext)
    tls_only = s.model_copy(
        update={"kafka_security_protocol": "SSL", "kafka_sasl_username": None,
                "kafka_sasl_password": None}
    )  # fmt: skip
    with pytest.raises(KafkaSecurityError):
        verify_connection(tls_only, timeout_s=10)


def test_a_client_without_the_brokers_ca_fails_naming_the_tls_handshake(secured_kafka):
    from tradestream.kafka_clients.config import KafkaSecurityError, verify_connection

    untrusted = secured_kafka.settings.model_copy(update={"kafka_ssl_cafile": None})
    started = time.monotonic()
    with pytest.raises(KafkaSecurityError, match="TLS handshake with Kafka at .* failed") as e:
        verify_connection(untrusted, timeout_s=20)
    assert "TRADESTREAM_KAFKA_SSL_CAFILE" in str(e.value)
    assert time.monotonic() - started < 15  # named at the first refusal, not at the timeout


def test_realtime_flink_with_a_wrong_password_stops_naming_the_refused_login(
    secured_kafka, jvm_dir, tmp_path
):
    topics = _topics(secured_kafka, "trades", "signals", "dlq")
    wrong = "not-the-password-" + uuid.uuid4().hex
    log = tmp_path / "realtime.log"
    pipeline = RealtimeProcess(
        [
            f"--trades_topic={topics['trades']}",
            f"--signals_topic={topics['signals']}",
            f"--dlq_topic={topics['dlq']}",
            "--consumer_group=realtime-secured-wrong",
            "--parallelism=1",
            f"--strategy={STRATEGIES[0]}",
        ],
        _env(secured_kafka, tmp_path, jvm_dir, TRADESTREAM_KAFKA_SASL_PASSWORD=wrong),
        log,
    )
    try:
        # Checked at launch: a Flink job whose workers cannot log in restarts forever.
        # Only a bound (the launch imports Beam, slow on a loaded machine): the wait ends
        # as soon as the process does.
        wait_for(lambda: not pipeline.alive(), timeout_s=300, what=f"the launch to fail ({log})")
    finally:
        code = pipeline.stop()
    text = log.read_text(errors="replace")
    assert code != 0, text[-3000:]
    assert "refused the SASL SCRAM-SHA-512 login of user 'tradestream'" in text, text[-3000:]
    _assert_secret_absent(wrong, text, files=tmp_path / "state")
    _assert_secret_absent(secured_kafka.password, text)
