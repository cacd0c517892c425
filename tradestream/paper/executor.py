"""The Kafka loop of `tradestream paper run`: exactly-once effect on a paper portfolio.

The protocol, per batch of polled records:

1. de-duplicate on `signal_id` against the database (plus the ids seen in the batch);
2. apply the records, in Kafka order, to the in-memory PortfolioEngine;
3. store the changes, the new state *and the next offset of every partition read* in one
   database transaction;
4. only then commit those offsets to the Kafka consumer group (they show the group's lag to
   the dashboard and other tools).

On start the executor seeks every partition to the offset stored in its database, not to
the group's: a crash between 3 and 4 leaves Kafka behind the database, and reading from the
database's offsets neither repeats nor skips a record. A crash before 3 loses the
uncommitted batch, which is read again. A signal delivered twice at different offsets
(a producer retry, a replayed pipeline) is caught by its `signal_id`. Partitions are
assigned explicitly (no group rebalance; partitions added later are picked up within
30 s); one executor per database (a lock file for SQLite).

Before reading, the stored offsets are compared with the topics as they are now: the topic
id stored with them, and each offset with its partition's range. A topic deleted and
created again (a reset local broker) has a new id and starts at offset 0, so resuming at
the old offsets would skip records without a word. By default the executor then stops with
one line (`StalePositionError`); `--on_topic_reset start_over` drops the old topic's offsets,
reads the new topic from its beginning and says so at WARNING. A broker that does not answer
is reported within seconds (`require_broker`), before any consumer is built.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from tradestream.kafka_clients.config import client_config, require_broker
from tradestream.kafka_clients.positions import (
    ON_TOPIC_RESET,
    StalePositionError,
    check_position,
    current_topic_id,
)
from tradestream.ledger.store import PaperStore, display_name
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine, SignalEvent, decode_signal
from tradestream.portfolio.sequencer import SIGNALS, TRADES, EventSequencer
from tradestream.settings import Settings
from tradestream.v1 import trade_pb2

log = logging.getLogger(__name__)
PARTITION_REFRESH_S = 30.0


@dataclass(frozen=True)
class ExecutorOptions:
    """Where the executor reads and how."""

    bootstrap: str
    signals_topic: str = "signals"
    trades_topic: str = "trades"
    group_id: str = "tradestream-paper"
    start_from: str = "earliest"  # partitions the database has no offset for
    max_batch: int = 500
    poll_ms: int = 500
    stop_at_end: bool = False  # exit once the end offsets seen at start are reached
    log_every_s: float = 10.0
    topic_wait_s: float = 60.0
    on_topic_reset: str = "fail"  # stored offsets that do not fit a topic: ON_TOPIC_RESET
    # Candle mode: candles built from the trades topic, traded in the portfolio backtest's
    # event order (tradestream.portfolio.sequencer), so that a replay gives what
    # `backtest --portfolio` gives over the same trades.
    candles: bool = False
    candle_interval_ms: int = 60_000
    max_gap: int = 60

    def __post_init__(self) -> None:
        if self.on_topic_reset not in ON_TOPIC_RESET:
            raise ValueError(
                f"on_topic_reset must be one of {ON_TOPIC_RESET}, got {self.on_topic_reset!r}"
            )


class PaperExecutor:
    """Consumes signals (and trades for ATR stops) into a stored paper portfolio."""

    def __init__(
        self,
        config: PortfolioConfig,
        options: ExecutorOptions,
        store: PaperStore,
        settings: Settings | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.store = store
        self.settings = settings or Settings()
        self.engine: PortfolioEngine | None = None
        self.positions: dict[tuple[str, int], int] = {}
        self.topic_ids: dict[str, str | None] = {}  # topic -> Kafka topic id, saved with offsets
        self._consumer = None
        self._end: dict = {}
        self._assigned: list = []
        self.sequencer: EventSequencer | None = None
        if config.entry_order != "market" and not options.candles:
            raise ValueError(
                f"--entry_order {config.entry_order}: limit and stop entries are filled by "
                "later candles: run with --candles"
            )
        atr_apart = config.atr_interval_ms != options.candle_interval_ms
        if options.candles and config.needs_trades and atr_apart:
            raise ValueError(
                "with candles, the ATR is built from them: the ATR interval "
                f"({config.atr_interval_ms} ms) must be the candle interval "
                f"({options.candle_interval_ms} ms)"
            )

    @property
    def topics(self) -> list[str]:
        topics = [self.options.signals_topic]
        if self.config.needs_trades or self.options.candles:
            topics.append(self.options.trades_topic)
        return topics

    def run(self, stop: threading.Event | None = None) -> int:
        """Runs until `stop` is set (or the end, with stop_at_end); returns an exit code."""
        stop = stop or threading.Event()
        self.store.lock()
        try:
            self.engine = PortfolioEngine(
                self.config, self.store.load(self.config), candles=self.options.candles
            )
            if self.options.candles:
                self.sequencer = EventSequencer(
                    self.engine, self.options.candle_interval_ms, self.options.max_gap
                )
                stored = self.store.stored_sequencer()
                if stored is not None:
                    self.sequencer.restore(stored)
            if self.engine.state.seq == 0:
                # A new database: store the config and the starting equity right away.
                self.store.save(self.engine.state, self.engine.take_changes(), {}, self.config)
            self.positions = dict(self.store.offsets())
            self._consumer = self._connect(stop)
            if self._consumer is None:
                return 0
            return self._loop(stop)
        finally:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
            self.store.unlock()

    # --- Kafka --------------------------------------------------------------------------

    def _connect(self, stop: threading.Event):
        from kafka import KafkaConsumer

        # kafka-python would retry an absent broker for ~30 s and end in a traceback.
        require_broker(self.settings, self.options.bootstrap)
        consumer = KafkaConsumer(
            **client_config(self.settings, self.options.bootstrap),
            group_id=self.options.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self.options.start_from,
            max_poll_records=self.options.max_batch,
        )
        deadline = time.monotonic() + self.options.topic_wait_s
        partitions = self._partitions(consumer)
        while partitions is None:
            if stop.is_set() or time.monotonic() > deadline:
                missing = [t for t in self.topics if not consumer.partitions_for_topic(t)]
                consumer.close()
                if stop.is_set():
                    return None
                raise RuntimeError(f"topic(s) {missing} not found on {self.options.bootstrap}")
            log.info("waiting for topic(s) %s", ", ".join(self.topics))
            stop.wait(1.0)
            partitions = self._partitions(consumer)
        try:
            self._check_positions(consumer, partitions)
        except BaseException:
            consumer.close()
            raise
        self._assign(consumer, partitions)
        self._end = consumer.end_offsets(partitions) if self.options.stop_at_end else {}
        # Logged once the broker and the stored offsets are known to be fine: an error is
        # then the only line on stderr.
        log.info(
            "paper portfolio %s: %s", display_name(self.store.url), self.config.model_dump_json()
        )
        log.info(
            "paper executor reading %s from %s",
            ", ".join(self.topics),
            {f"{tp.topic}/{tp.partition}": consumer.position(tp) for tp in partitions},
        )
        return consumer

    def _check_positions(self, consumer, partitions) -> None:
        """Compares the stored offsets of each topic with the topic now, before any read.

        A stored position fits when it was read from the topic with today's id (or an
        unknown one: a database from before ids were kept, a pre-2.8 broker) and every
        offset lies within its partition's range. One that does not is refused, or with
        on_topic_reset=start_over replaced by the topic's beginning (stored at once, so a
        restart does not ask again) and logged at WARNING.

        Raises:
            StalePositionError: a stored position does not fit and on_topic_reset is fail.
        """
        beginning = consumer.beginning_offsets(partitions)
        end = consumer.end_offsets(partitions)
        stored_ids = self.store.topic_ids()
        for topic in self.topics:
            topic_id = current_topic_id(consumer, topic)
            self.topic_ids[topic] = topic_id
            offsets = {p: o for (t, p), o in self.positions.items() if t == topic}
            if not offsets:
                continue  # nothing stored: start_from decides
            first = {tp.partition: o for tp, o in beginning.items() if tp.topic == topic}
            last = {tp.partition: o for tp, o in end.items() if tp.topic == topic}
            check = check_position(topic, stored_ids.get(topic), topic_id, offsets, first, last)
            if check.fits:
                if stored_ids.get(topic) is None and topic_id is not None:
                    # Offsets stored without an id (schema 1) that fit: from now on they
                    # belong to this incarnation of the topic.
                    self.store.set_topic_offsets(topic, topic_id, offsets)
                continue
            if self.options.on_topic_reset == "fail":
                raise StalePositionError(
                    f"the stored offsets of {topic} in {display_name(self.store.url)} do not "
                    f"fit the topic, resuming would skip signals: {check.summary()}; run with "
                    f"--on_topic_reset start_over to read {topic} from its beginning (the "
                    "portfolio is kept; signals it already recorded are not traded twice)"
                )
            log.warning(
                "--on_topic_reset start_over: dropping the stored offsets of %s %s "
                "(partition: next offset) because %s; reading %s from its beginning %s",
                topic,
                dict(sorted(offsets.items())),
                check.summary(),
                topic,
                dict(sorted(first.items())),
            )
            self.store.set_topic_offsets(topic, topic_id, first)
            for partition in offsets:
                del self.positions[(topic, partition)]
            self.positions.update({(topic, p): o for p, o in first.items()})

    def _assign(self, consumer, partitions) -> None:
        """Assigns `partitions`, each at its stored offset (else per start_from)."""
        consumer.assign(partitions)
        if self.sequencer is not None:
            for tp in partitions:
                kind = SIGNALS if tp.topic == self.options.signals_topic else TRADES
                self.sequencer.track(f"{tp.topic}/{tp.partition}", kind)
        for tp in partitions:
            stored = self.positions.get((tp.topic, tp.partition))
            if stored is not None:
                consumer.seek(tp, stored)
            elif self.options.start_from == "earliest":
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek_to_end(tp)
        self._assigned = list(partitions)

    def _refresh_partitions(self) -> None:
        """Picks up partitions added to the topics while running."""
        partitions = self._partitions(self._consumer)
        if partitions and set(partitions) != set(self._assigned):
            log.info("partitions changed: now %s", [f"{p.topic}/{p.partition}" for p in partitions])
            for tp in self._assigned:  # keep where we are in the old ones
                self.positions.setdefault((tp.topic, tp.partition), self._consumer.position(tp))
            self._assign(self._consumer, partitions)

    def _partitions(self, consumer):
        from kafka import TopicPartition

        out = []
        for topic in self.topics:
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                return None
            out.extend(TopicPartition(topic, p) for p in sorted(parts))
        return out

    def _at_end(self) -> bool:
        return all(
            self.positions.get((tp.topic, tp.partition), 0) >= end for tp, end in self._end.items()
        )

    # --- the loop ---------------------------------------------------------------------------

    def _loop(self, stop: threading.Event) -> int:
        engine = self.engine
        assert engine is not None
        last_log = last_refresh = time.monotonic()
        last_request_check = 0.0
        while not stop.is_set():
            if self.options.stop_at_end and self._at_end():
                log.info("reached the end offsets seen at start; stopping")
                break
            done: list[str] = []
            now = time.monotonic()
            if now - last_request_check >= 1.0:
                last_request_check = now
                if self.store.requested("reset_breaker"):
                    engine.reset_breaker(int(time.time() * 1000))
                    log.warning("circuit breaker reset on request")
                    done.append("reset_breaker")
            if now - last_refresh >= PARTITION_REFRESH_S:
                last_refresh = now
                self._refresh_partitions()
            batch = self._consumer.poll(timeout_ms=self.options.poll_ms)
            records = [r for recs in batch.values() for r in recs]
            if records:
                self._apply(records)
            released = self._release() if self.sequencer is not None else 0
            if records or done or released:
                self.store.save(
                    engine.state,
                    engine.take_changes(),
                    self.positions,
                    self.config,
                    done,
                    topic_ids=self.topic_ids,
                    sequencer=self.sequencer.to_json() if self.sequencer is not None else None,
                )
                if records:
                    self._commit(batch)
            if time.monotonic() - last_log >= self.options.log_every_s:
                last_log = time.monotonic()
                pf = engine.state.portfolio
                log.info(
                    "signals %d, fills %d, open positions %d, equity %.2f, cash %.2f%s%s",
                    engine.state.seq,
                    engine.state.fill_id,
                    len(pf.positions),
                    pf.equity(),
                    pf.cash,
                    f", halted: {engine.risk_status().halt_reason}"
                    if engine.risk_status().halt_reason
                    else "",
                    f", {self.sequencer.pending()} event(s) waiting for their candle end"
                    if self.sequencer is not None and self.sequencer.pending()
                    else "",
                )
        return 0

    def _release(self) -> int:
        """Candle mode: tells the sequencer which partitions are read to their end, then
        applies what is complete."""
        assert self.sequencer is not None
        for tp in self._assigned:
            high = self._consumer.highwater(tp)
            position = self.positions.get((tp.topic, tp.partition))
            if position is None:
                position = self._consumer.position(tp)
            caught_up = high is not None and position >= high
            self.sequencer.set_caught_up(f"{tp.topic}/{tp.partition}", caught_up)
        return self.sequencer.release()

    def _apply(self, records) -> None:
        engine = self.engine
        assert engine is not None
        signals_topic = self.options.signals_topic
        decoded: list[tuple[object, SignalEvent | None]] = []
        for record in records:
            event = None
            if record.topic == signals_topic:
                try:
                    event = decode_signal(record.value)
                except ValueError as exc:
                    engine.count("undecodable")
                    log.warning(
                        "skipping signal at %s/%d/%d: %s",
                        record.topic,
                        record.partition,
                        record.offset,
                        exc,
                    )
            decoded.append((record, event))
        seen = self.store.known_ids(ev.signal_id for _, ev in decoded if ev is not None)
        if self.sequencer is not None:
            self._sequence(decoded, seen)
            return
        now_ms = int(time.time() * 1000)
        for record, event in decoded:
            if event is not None:
                source = f"{record.topic}/{record.partition}/{record.offset}"
                engine.on_signal(event, seen, source=source, received_ms=now_ms)
            elif record.topic != signals_topic:
                try:
                    trade = trade_pb2.Trade.FromString(record.value or b"")
                except DecodeError:
                    engine.count("undecodable")
                else:
                    engine.on_trade(trade.symbol, trade.time_ms, trade.price)
            self.positions[(record.topic, record.partition)] = record.offset + 1

    def _sequence(self, decoded, known: set[str]) -> None:
        """Candle mode: records to the sequencer (applied by `_release`)."""
        seq = self.sequencer
        assert seq is not None and self.engine is not None
        seq.known = known
        for record, event in decoded:
            partition = f"{record.topic}/{record.partition}"
            if event is not None:
                seq.add_signal(partition, event, f"{partition}/{record.offset}")
            elif record.topic != self.options.signals_topic:
                try:
                    trade = trade_pb2.Trade.FromString(record.value or b"")
                except DecodeError:
                    self.engine.count("undecodable")
                else:
                    seq.add_trade(partition, trade.symbol, trade.time_ms, trade.price)
            self.positions[(record.topic, record.partition)] = record.offset + 1

    def _commit(self, batch) -> None:
        from kafka.structs import OffsetAndMetadata

        offsets = {
            tp: OffsetAndMetadata(self.positions[(tp.topic, tp.partition)], "", -1) for tp in batch
        }
        try:
            self._consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - the database's offsets are authoritative
            log.warning("committing offsets to Kafka failed (the database has them): %s", exc)
