"""Replay a trades file (or the bundled sample) into Kafka, at a speed factor or flat out.

`speed=N` keeps the original spacing between trades divided by N (N=60: an hour per minute);
`speed=None` ("max") sends as fast as Kafka accepts. Rows that cannot be used go to the
dead-letter topic with their reason (never silently skipped); a `ReplayAccount` counts both
(see `accounting.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tradestream.ingest.accounting import ReplayAccount
from tradestream.ingest.producer import TradeProducer
from tradestream.market.trade_files import BadRow
from tradestream.v1 import trade_pb2


@dataclass
class ReplayResult:
    sent: int
    dead_lettered: int
    seconds: float
    stopped: bool = False  # by `should_stop` or a failed send, before the input ended

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def replay(
    records: Iterable[trade_pb2.Trade | BadRow],
    producer: TradeProducer,
    speed: float | None = None,
    progress: Callable[[int, float], None] | None = None,
    progress_every_s: float = 5.0,
    should_stop: Callable[[], bool] = lambda: False,
    account: ReplayAccount | None = None,
) -> ReplayResult:
    """Sends every record; returns counts. Flushes before returning (acks=all).

    Args:
        records: trades and bad rows, in the order to send them.
        producer: where they go (trades to the trades topic, bad rows as dead letters).
        speed: the speed factor, or None for as fast as Kafka takes them.
        progress: called with (trades sent, seconds) every `progress_every_s`.
        progress_every_s: period of `progress`.
        should_stop: polled before each record is read; True ends the replay there.
        account: counts each record sent and dead-lettered (by reason) as it goes.

    Raises:
        RuntimeError: a record could not be written (raised by the final flush; sending stops
            at the first such failure).
    """
    account = account if account is not None else ReplayAccount()
    started = time.monotonic()
    first_trade_ms: int | None = None
    next_progress = started + progress_every_s
    sent = dead_lettered = 0
    records = iter(records)
    stopped = False
    while True:
        # Checked before a record is read, so a stop leaves no record read and dropped.
        # After a failed send, stop: a restart resumes after the last trade on the topic, so
        # nothing may be written beyond a record that was lost.
        if should_stop() or producer.stats.errors:
            stopped = True
            break
        record = next(records, None)
        if record is None:
            break
        if isinstance(record, BadRow):
            producer.send_dead_letter(record.raw.encode(), record.reason, record.detail)
            dead_lettered += 1
            account.dead_lettered(record.reason)
            continue
        if speed is not None:
            if first_trade_ms is None:
                first_trade_ms = record.time_ms
            due = started + (record.time_ms - first_trade_ms) / 1000.0 / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        producer.send(record)
        sent += 1
        account.sent()
        now = time.monotonic()
        if progress is not None and now >= next_progress:
            progress(producer.stats.sent, now - started)
            next_progress = now + progress_every_s
    account.stopped = stopped
    producer.flush()
    return ReplayResult(sent, dead_lettered, time.monotonic() - started, stopped)
