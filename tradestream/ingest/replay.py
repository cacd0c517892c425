"""Replay a trades file (or the bundled sample) into Kafka, at a speed factor or flat out.

`speed=N` keeps the original spacing between trades divided by N (N=60: an hour per minute);
`speed=None` ("max") sends as fast as Kafka accepts. Rows that cannot be used go to the
dead-letter topic with their reason (never silently skipped).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tradestream.ingest.producer import TradeProducer
from tradestream.v1 import trade_pb2
from transforms.trade_files import BadRow


@dataclass
class ReplayResult:
    sent: int
    dead_lettered: int
    seconds: float

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
) -> ReplayResult:
    """Sends every record; returns counts. Flushes before returning (acks=all).

    Raises:
        RuntimeError: a record could not be written (raised by the final flush; sending stops
            at the first such failure).
    """
    started = time.monotonic()
    first_trade_ms: int | None = None
    next_progress = started + progress_every_s
    for record in records:
        if should_stop() or producer.stats.errors:
            # After a failed send, stop: a restart resumes after the last trade on the topic,
            # so nothing may be written beyond a record that was lost.
            break
        if isinstance(record, BadRow):
            producer.send_dead_letter(record.raw.encode(), record.reason, record.detail)
            continue
        if speed is not None:
            if first_trade_ms is None:
                first_trade_ms = record.time_ms
            due = started + (record.time_ms - first_trade_ms) / 1000.0 / speed
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        producer.send(record)
        now = time.monotonic()
        if progress is not None and now >= next_progress:
            progress(producer.stats.sent, now - started)
            next_progress = now + progress_every_s
    producer.flush()
    return ReplayResult(
        producer.stats.sent, producer.stats.dead_lettered, time.monotonic() - started
    )
