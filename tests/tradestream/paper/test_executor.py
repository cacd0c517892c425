"""The executor on a real Kafka broker: replays, restarts, SIGKILL mid-stream.

Marked integration: they use the session's KRaft broker (tests/conftest.py). The SIGKILL
test runs on both databases (`db_url`): a SQLite file and a real PostgreSQL server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.support import builders
from tests.support.kafka import create_topics, produce
from tests.support.signals import MINUTE, T0, proto, random_stream
from tradestream.ledger.store import PaperStore, sqlite_path
from tradestream.paper.executor import ExecutorOptions, PaperExecutor
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine, SignalEvent

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
CONFIG = PortfolioConfig(allow_short=True, max_open_positions=4, min_confidence=0.4)


def _records(signals):
    return [(s.symbol.encode(), s.SerializeToString()) for s in signals]


def _run_to_end(broker, topic: str, db: str, config: PortfolioConfig = CONFIG) -> dict:
    store = PaperStore(db)
    try:
        options = ExecutorOptions(
            bootstrap=broker.bootstrap,
            signals_topic=topic,
            group_id=f"g-{uuid.uuid4().hex[:8]}",
            stop_at_end=True,
            max_batch=64,
        )
        assert PaperExecutor(config, options, store, broker).run() == 0
        return PortfolioEngine(config, store.load(config)).snapshot()
    finally:
        store.close()


def test_executor_replayed_stream_processed_twice_gives_the_same_portfolio(kafka_broker, tmp_path):
    topic = f"paper-replay-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [topic], partitions=1)  # one partition: one order
    signals = random_stream(11, 200)
    produce(kafka_broker.bootstrap, topic, _records(signals))
    first = _run_to_end(kafka_broker, topic, f"sqlite:///{tmp_path / 'a.db'}")
    second = _run_to_end(kafka_broker, topic, f"sqlite:///{tmp_path / 'b.db'}")
    assert first == second
    assert first["signals"] == 200 and first["fills"] > 20
    # The whole stream replayed onto the same topic (a pipeline re-run): nothing changes.
    produce(kafka_broker.bootstrap, topic, _records(signals))
    again = _run_to_end(kafka_broker, topic, f"sqlite:///{tmp_path / 'a.db'}")
    assert again == first
    store = PaperStore(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        assert store.offsets() == {(topic, 0): 400}
        assert PortfolioEngine(CONFIG, store.load(CONFIG)).state.counters["duplicates"] == 200
    finally:
        store.close()


class _Peek:
    """Reads the executor's tables while it runs (0 and {} before they exist)."""

    def __init__(self, db_url: str) -> None:
        self.path = sqlite_path(db_url)
        # SQLite: wait up to 5 s for the executor's write lock rather than fail at once.
        self.engine = create_engine(db_url, connect_args={"timeout": 5} if self.path else {})

    def _rows(self, query: str) -> list | None:
        if self.path is not None and not self.path.exists():
            return None  # connecting would create the file
        try:
            with self.engine.begin() as conn:
                return conn.execute(text(query)).all()
        except DBAPIError:
            return None  # not created yet (or, on SQLite, locked for longer than the timeout)

    def count(self) -> int:
        rows = self._rows("SELECT count(*) FROM signals")
        return rows[0][0] if rows else 0

    def offsets(self) -> dict[tuple[str, int], int]:
        rows = self._rows("SELECT topic, partition, next_offset FROM offsets") or []
        return {(topic, partition): offset for topic, partition, offset in rows}

    def close(self) -> None:
        self.engine.dispose()


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _start(db_url: str, bootstrap: str, topic: str, group: str, tmp_path: Path):
    env = {**os.environ, "TRADESTREAM_STATE_DIR": str(tmp_path / "state")}
    log = open(tmp_path / "executor.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "tradestream.cli", "paper", "run",
            "--db", db_url, "--bootstrap_servers", bootstrap, "--signals_topic", topic,
            "--group_id", group, "--max_batch", "16", "--allow_short",
            "--max_open_positions", "4", "--min_confidence", "0.4",
        ],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return proc, log


def test_executor_sigkill_mid_stream_loses_and_duplicates_nothing(kafka_broker, tmp_path, db_url):
    topic = f"paper-kill-{uuid.uuid4().hex[:8]}"
    group = f"paper-kill-{uuid.uuid4().hex[:8]}"
    create_topics(kafka_broker, [topic], partitions=3)
    signals = random_stream(5, 900)
    # Every 9th signal is delivered a second time later on (a producer/pipeline replay).
    stream = signals[:450] + signals[:450:9] + signals[450:] + signals[450::9]
    peek = _Peek(db_url)

    # The tail of the stream is held back until both kills are done, so each kill hits a
    # stream with signals still to come however slow or fast the executor runs.
    held_back = 600  # up to signals[:550]: the 450 first, their 50 copies, 100 more
    kills_done = threading.Event()

    def producer() -> None:
        for i in range(0, len(stream), 50):
            if i == held_back:
                kills_done.wait(120)
            produce(kafka_broker.bootstrap, topic, _records(stream[i : i + 50]))
            time.sleep(0.12)  # spread over the executor's batches; no test outcome depends on it

    from confluent_kafka import Consumer, TopicPartition

    from tradestream.kafka_clients.config import consumer_config

    tps = [TopicPartition(topic, p) for p in range(3)]
    consumer = Consumer(consumer_config({"bootstrap.servers": kafka_broker.bootstrap}, group))

    def end_offsets() -> dict:
        return {tp: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}

    def committed() -> dict:
        return {tp: tp.offset for tp in consumer.committed(tps, timeout=10)}

    feeder = threading.Thread(target=producer)
    feeder.start()
    kills = []
    proc = None
    try:
        for threshold in (150, 450):
            proc, log = _start(db_url, kafka_broker.bootstrap, topic, group, tmp_path)
            _wait_for(lambda t=threshold: peek.count() >= t, 120, f"{threshold} signals")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            log.close()
            kills.append(peek.count())
        kills_done.set()
        proc, log = _start(db_url, kafka_broker.bootstrap, topic, group, tmp_path)
        feeder.join(timeout=120)
        assert not feeder.is_alive(), "the producer did not finish"
        ends = {tp: end for tp, end in end_offsets().items() if end > 0}
        at_end = {(tp.topic, tp.partition): end for tp, end in ends.items()}
        # Stop once the executor has stored every partition's end offset and committed it to
        # the group (it commits after storing): then SIGTERM interrupts nothing.
        _wait_for(
            lambda: (
                peek.offsets() == at_end
                and {tp: o for tp, o in committed().items() if tp in ends} == ends
            ),
            120,
            f"stored and committed offsets {at_end}",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log.close()
    finally:
        kills_done.set()
        feeder.join(timeout=120)
        if proc is not None and proc.poll() is None:
            proc.kill()
        consumer.close()
        peek.close()
    assert all(0 < k < len(signals) for k in kills), kills  # killed mid-stream

    store = PaperStore(db_url)
    try:
        order = store.signal_order()
        fills = store.all_fills()
        final = PortfolioEngine(CONFIG, store.load(CONFIG))
        stored_offsets = store.offsets()
    finally:
        store.close()
    # Nothing lost, nothing twice: every signal exactly once.
    assert sorted(r["signal_id"] for r in order) == sorted(s.signal_id for s in signals)
    # Per partition, signals were processed in offset order (resumed exactly where it was).
    by_partition: dict[int, list[int]] = {}
    for r in order:
        _, part, offset = r["source"].rsplit("/", 2)
        by_partition.setdefault(int(part), []).append(int(offset))
    assert all(offs == sorted(offs) for offs in by_partition.values())
    # The killed-and-restarted portfolio equals one uninterrupted run over the same order.
    reference = PortfolioEngine(CONFIG)
    seen: set[str] = set()
    events = {s.signal_id: SignalEvent.from_proto(s) for s in signals}
    for r in order:
        reference.on_signal(events[r["signal_id"]], seen)
    assert final.snapshot() == reference.snapshot()
    ref_fills = reference.take_changes().fills
    assert [(f["signal_id"], f["side"], f["qty"], f["price"]) for f in fills] == [
        (f.signal_id, f.side, f.qty, f.price) for f in ref_fills
    ]
    assert final.state.counters["duplicates"] == len(stream) - len(signals)
    # Offsets: the database's at the end of every partition, also after the shutdown (the
    # group's were checked before it).
    assert stored_offsets == at_end


def test_executor_atr_stop_reads_trades_and_sizes_from_the_atr(kafka_broker, tmp_path):
    tag = uuid.uuid4().hex[:8]
    signals_topic, trades_topic = f"paper-atr-sig-{tag}", f"paper-atr-trd-{tag}"
    create_topics(kafka_broker, [signals_topic, trades_topic], partitions=1)
    buy = proto("BUY", 102.0, 2)  # candle [2, 3): needs the ATR as of minute 3
    produce(kafka_broker.bootstrap, signals_topic, _records([buy]))
    # Candles (high, low, close) at minutes 0..2, then a trade at minute 3 closes minute 2:
    # true ranges 3 and 3 -> ATR(2) = 3 -> stop distance 2 x 3 = 6.
    trades = []
    for minute, (h, lo, c) in enumerate([(101, 99, 100), (102, 99, 101), (103, 100, 102)]):
        for dt, price in ((1_000, h), (2_000, lo), (59_000, c)):
            trades.append(builders.trade(time_ms=T0 + minute * MINUTE + dt, price=price))
    trades.append(builders.trade(time_ms=T0 + 3 * MINUTE, price=102.0))
    produce(kafka_broker.bootstrap, trades_topic, _records(trades))
    config = PortfolioConfig(
        sizing="risk", risk_per_trade=0.01, stop="atr", atr_period=2, atr_multiple=2.0, fee=0.0
    )
    store = PaperStore(f"sqlite:///{tmp_path / 'atr.db'}")
    try:
        options = ExecutorOptions(
            bootstrap=kafka_broker.bootstrap,
            signals_topic=signals_topic,
            trades_topic=trades_topic,
            group_id=f"g-{tag}",
            stop_at_end=True,
        )
        assert PaperExecutor(config, options, store, kafka_broker).run() == 0
        state = store.load(config)
        assert store.signal_order()[0]["decision"] == "filled:entry"
        assert store.offsets() == {(signals_topic, 0): 1, (trades_topic, 0): len(trades)}
    finally:
        store.close()
    pos = state.portfolio.positions[("BTC-USD", buy.strategy.strategy_id)]
    assert pos.qty == pytest.approx(100.0 / 6.0)  # risk 1% of 10,000 over a 6.0 stop
    assert pos.stop_price == pytest.approx(96.0)
