"""Replay a recorded level-2 session into the book topic.

A recorded book file is **JSON lines of Coinbase frames** (read by
`tradestream.exchanges.recordings.read_frames`). The frames go through the same `BookBuilder`
as the live stream, by way of `recorded_outcomes` (which `book_updates_from_recording`, the
backtest's reader of the same files, also uses), so the same checks apply and the same
BookUpdates come out. What a replay cannot do is ask for a fresh snapshot: after a gap (or a
bad update) that book waits, its updates skipped, for the next snapshot in the file (a
recording across a resubscription or a reconnect has one; a `sequence_num` of 0 after a
higher one is read as the recorder's reconnect).

`speed=N` keeps the spacing of the updates' event times divided by N; `speed=None` sends
as fast as Kafka takes them. Every record read is sent, dead-lettered with its reason,
skipped with its reason, or counted as control (heartbeats, acknowledgements): the
`BookMetrics` passed in count each one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tradestream.exchanges.order_book import BookBuilder
from tradestream.exchanges.recordings import recorded_outcomes
from tradestream.ingest.book_metrics import BookMetrics
from tradestream.ingest.producer import BookProducer

DEAD_LETTER_SOURCE = "replay-level2"


@dataclass
class BookReplayResult:
    frames: int
    seconds: float
    stopped: bool = False  # by `should_stop` or a failed send, before the input ended


def replay_book(
    frames: Iterable[str],
    builder: BookBuilder,
    producer: BookProducer,
    metrics: BookMetrics,
    speed: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> BookReplayResult:
    """Sends the BookUpdates of every frame; dead-letters the rejects. Flushes at the end.

    Raises:
        RuntimeError: a record could not be written (raised by the final flush; sending
            stops at the first such failure).
    """
    started = time.monotonic()
    first_ms: int | None = None
    count = 0
    stopped = False
    outcomes = recorded_outcomes(frames, builder)
    while True:
        if should_stop() or producer.stats.errors:
            stopped = True
            break
        out = next(outcomes, None)  # reads (and applies) the next frame
        if out is None:
            break
        count += 1
        metrics.count(out)
        for update in out.updates:
            if speed is not None and update.time_ms:
                first_ms = update.time_ms if first_ms is None else first_ms
                delay = started + (update.time_ms - first_ms) / 1000.0 / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            producer.send(update)
            metrics.sent(update.symbol, update.is_snapshot)
        for dead in out.dead_letters:
            producer.send_dead_letter(
                dead.payload,
                dead.reason,
                dead.detail,
                symbol=dead.symbol,
                source=DEAD_LETTER_SOURCE,
            )
            metrics.dead_letter(dead.reason)
    producer.flush()
    return BookReplayResult(count, time.monotonic() - started, stopped)
