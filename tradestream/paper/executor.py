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

from confluent_kafka import Consumer, KafkaException, TopicPartition
from google.protobuf.message import DecodeError

from tradestream.kafka_clients.config import client_config, consumer_config, require_broker
from tradestream.kafka_clients.positions import (
    ON_TOPIC_RESET,
    StalePositionError,
    TopicState,
    check_position,
    read_topic_state,
)
from tradestream.ledger.store import PaperStore, display_name
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine, SignalEvent, decode_signal
from tradestream.portfolio.sequencer import SIGNALS, TRADES, EventSequencer
from tradestream.settings import Settings
from tradestream.v1 import trade_pb2

log = logging.getLogger(__name__)
PARTITION_REFRESH_S = 30.0
METADATA_TIMEOUT_S = 10.0  # longest wait for a topic's partitions


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
        self._end: dict[tuple[str, int], int] = {}  # stop_at_end: the end offsets at start
        self._assigned: list[tuple[str, int]] = []
        # Where reading started per partition: the stored offset, else start_from's edge.
        self._start: dict[tuple[str, int], int] = {}
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
        # librdkafka would retry an absent broker in the background for ever.
        require_broker(self.settings, self.options.bootstrap)
        config = client_config(self.settings, self.options.bootstrap)
        consumer = Consumer(
            {
                **consumer_config(config, self.options.group_id),
                # A stored offset that retention deleted while the executor was stopped:
                # start_from, as for a partition without one.
                "auto.offset.reset": self.options.start_from,
            }
        )
        deadline = time.monotonic() + self.options.topic_wait_s
        partitions = self._partitions(consumer)
        while partitions is None:
            if stop.is_set() or time.monotonic() > deadline:
                missing = [t for t in self.topics if not _partitions_of(consumer, t)]
                consumer.close()
                if stop.is_set():
                    return None
                raise RuntimeError(f"topic(s) {missing} not found on {self.options.bootstrap}")
            log.info("waiting for topic(s) %s", ", ".join(self.topics))
            stop.wait(1.0)
            partitions = self._partitions(consumer)
        try:
            states = {topic: read_topic_state(config, topic, None) for topic in self.topics}
            self._check_positions(states)
        except BaseException:
            consumer.close()
            raise
        self._assign(consumer, partitions, states)
        if self.options.stop_at_end:
            self._end = {(t, p): end for t, state in states.items() for p, end in state.end.items()}
        # Logged once the broker and the stored offsets are known to be fine: an error is
        # then the only line on stderr.
        log.info(
            "paper portfolio %s: %s", display_name(self.store.url), self.config.model_dump_json()
        )
        log.info(
            "paper executor reading %s from %s",
            ", ".join(self.topics),
            {f"{t}/{p}": offset for (t, p), offset in self._start.items()},
        )
        return consumer

    def _check_positions(self, states: dict[str, TopicState]) -> None:
        """Compares the stored offsets of each topic with the topic now, before any read.

        A stored position fits when it was read from the topic with today's id (or an
        unknown one: a database from before ids were kept, a pre-2.8 broker) and every
        offset lies within its partition's range. One that does not is refused, or with
        on_topic_reset=start_over replaced by the topic's beginning (stored at once, so a
        restart does not ask again) and logged at WARNING.

        Raises:
            StalePositionError: a stored position does not fit and on_topic_reset is fail.
        """
        stored_ids = self.store.topic_ids()
        for topic in self.topics:
            state = states[topic]
            topic_id = state.topic_id
            self.topic_ids[topic] = topic_id
            offsets = {p: o for (t, p), o in self.positions.items() if t == topic}
            if not offsets:
                continue  # nothing stored: start_from decides
            first, last = state.beginning, state.end
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

    def _assign(self, consumer, partitions, states: dict[str, TopicState]) -> None:
        """Adds `partitions` to the consumer's, each at its stored offset (else per start_from).

        The offset of a partition without a stored one is taken from `states` (the topic's
        range): the consumer's own position stays unknown until it returns a record, and
        `_release` needs to know where reading starts.
        """
        for topic, partition in partitions:
            start = self.positions.get((topic, partition))
            if start is None:
                state = states[topic]
                edge = state.beginning if self.options.start_from == "earliest" else state.end
                start = edge[partition]
            self._start[(topic, partition)] = start
            if self.sequencer is not None:
                kind = SIGNALS if topic == self.options.signals_topic else TRADES
                self.sequencer.track(f"{topic}/{partition}", kind)
        consumer.incremental_assign(
            [TopicPartition(t, p, self._start[(t, p)]) for t, p in partitions]
        )
        self._assigned.extend(partitions)

    def _refresh_partitions(self) -> None:
        """Picks up partitions added to the topics while running (the others read on)."""
        partitions = self._partitions(self._consumer)
        if not partitions:
            return
        added = [tp for tp in partitions if tp not in self._assigned]
        if added:
            log.info("partitions changed: now %s", [f"{t}/{p}" for t, p in partitions])
            topics = {t for t, _ in added}
            config = client_config(self.settings, self.options.bootstrap)
            states = {topic: read_topic_state(config, topic, None) for topic in topics}
            self._assign(self._consumer, added, states)

    def _partitions(self, consumer) -> list[tuple[str, int]] | None:
        """(topic, partition) of every partition of the topics; None while one is missing."""
        out = []
        for topic in self.topics:
            partitions = _partitions_of(consumer, topic)
            if not partitions:
                return None
            out.extend((topic, p) for p in partitions)
        return out

    def _at_end(self) -> bool:
        return all(self.positions.get(tp, 0) >= end for tp, end in self._end.items())

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
            records = self._poll()
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
                    self._commit({(r.topic(), r.partition()) for r in records})
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
        for topic, partition in self._assigned:
            # The end offset of the partition's last fetch (no request; < 0 before one).
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
            position = self.positions.get((topic, partition), self._start[(topic, partition)])
            caught_up = high >= 0 and position >= high
            self.sequencer.set_caught_up(f"{topic}/{partition}", caught_up)
        return self.sequencer.release()

    def _poll(self) -> list:
        """Up to max_batch records, in Kafka order per partition.

        librdkafka reports a lost connection and other client trouble as error events among
        the records, and recovers by itself: they are logged and skipped. A fatal error (the
        client cannot go on) stops the executor.
        """
        records = []
        for message in self._consumer.consume(self.options.max_batch, self.options.poll_ms / 1000):
            error = message.error()
            if error is None:
                records.append(message)
            elif error.fatal():
                raise RuntimeError(f"the Kafka consumer failed: {error.str()}")
            else:
                log.warning("Kafka: %s", error.str())
        return records

    def _apply(self, records) -> None:
        engine = self.engine
        assert engine is not None
        signals_topic = self.options.signals_topic
        decoded: list[tuple[object, SignalEvent | None]] = []
        for record in records:
            event = None
            if record.topic() == signals_topic:
                try:
                    event = decode_signal(record.value())
                except ValueError as exc:
                    engine.count("undecodable")
                    log.warning(
                        "skipping signal at %s/%d/%d: %s",
                        record.topic(),
                        record.partition(),
                        record.offset(),
                        exc,
                    )
            decoded.append((record, event))
        seen = self.store.known_ids(ev.signal_id for _, ev in decoded if ev is not None)
        if self.sequencer is not None:
            self._sequence(decoded, seen)
            return
        now_ms = int(time.time() * 1000)
        for record, event in decoded:
            topic, partition, offset = record.topic(), record.partition(), record.offset()
            if event is not None:
                source = f"{topic}/{partition}/{offset}"
                engine.on_signal(event, seen, source=source, received_ms=now_ms)
            elif topic != signals_topic:
                try:
                    trade = trade_pb2.Trade.FromString(record.value() or b"")
                except DecodeError:
                    engine.count("undecodable")
                else:
                    engine.on_trade(trade.symbol, trade.time_ms, trade.price)
            self.positions[(topic, partition)] = offset + 1

    def _sequence(self, decoded, known: set[str]) -> None:
        """Candle mode: records to the sequencer (applied by `_release`)."""
        seq = self.sequencer
        assert seq is not None and self.engine is not None
        seq.known = known
        for record, event in decoded:
            topic, offset = record.topic(), record.offset()
            partition = f"{topic}/{record.partition()}"
            if event is not None:
                seq.add_signal(partition, event, f"{partition}/{offset}")
            elif topic != self.options.signals_topic:
                try:
                    trade = trade_pb2.Trade.FromString(record.value() or b"")
                except DecodeError:
                    self.engine.count("undecodable")
                else:
                    seq.add_trade(partition, trade.symbol, trade.time_ms, trade.price)
            self.positions[(topic, record.partition())] = offset + 1

    def _commit(self, partitions) -> None:
        """Commits the stored next offsets of the (topic, partition)s just read to the group."""
        offsets = [TopicPartition(t, p, self.positions[(t, p)]) for t, p in sorted(partitions)]
        try:
            done = self._consumer.commit(offsets=offsets, asynchronous=False)
            failed = next((tp.error for tp in done or [] if tp.error is not None), None)
            if failed is not None:
                raise KafkaException(failed)
        except KafkaException as exc:  # the database's offsets are authoritative
            log.warning(
                "committing offsets to Kafka failed (the database has them): %s",
                exc.args[0].str(),
            )


def _partitions_of(consumer, topic: str) -> list[int]:
    """The topic's partitions ([] while it does not exist)."""
    found = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
    return sorted(found.partitions) if found is not None and found.error is None else []
