"""Recorded level-2 sessions: reading the file, and the BookUpdates it holds.

A recorded book file is **JSON lines of Coinbase frames**: one WebSocket message per line,
exactly as the `level2` + `heartbeats` connection received it (`l2_data`, `heartbeats`,
`subscriptions`, errors), in the order received; blank lines are ignored and `.gz` files are
read compressed.

`recorded_outcomes` is the one way a recording's frames become BookUpdates: the replay into
Kafka (`tradestream ingest --channel=level2 --source=replay`, `tradestream/ingest/book_replay.py`)
acts on its outcomes, and `book_updates_from_recording` collects them, so a backtest over a
recorded file sees exactly the updates the replay sends, in the same order:

    updates, counts = book_updates_from_recording(Path("session.jsonl.gz"))
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tradestream.exchanges.order_book import BookBuilder, FrameOutcome
from tradestream.v1 import book_pb2

# A recording has no connection events: all its frames are read as one connection's.
CONNECTION = "replay"


class BookFileError(ValueError):
    """A recorded book file that cannot be read at all (missing, unreadable)."""


def read_frames(path: Path) -> Iterator[str]:
    """The frames of a recorded book file, one per non-blank line.

    Raises:
        BookFileError: the file does not exist or is not text (when opened).
    """
    if not path.is_file():
        raise BookFileError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open

    def lines() -> Iterator[str]:
        try:
            with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    line = line.strip()
                    if line:
                        yield line
        except OSError as exc:  # e.g. a .gz that is not gzip
            raise BookFileError(f"{path}: {exc}") from None

    return lines()


def recorded_outcomes(frames: Iterable[str], builder: BookBuilder) -> Iterator[FrameOutcome]:
    """What becomes of each recorded frame (lazily, one frame read per outcome).

    Args:
        frames: the recording's frames, in order (`read_frames`).
        builder: the books to apply them to, made with `recorded=True`.

    Returns:
        One FrameOutcome per frame: its BookUpdates in order, dead letters, skips, control.
    """
    for frame in frames:
        yield builder.handle_frame(CONNECTION, frame)


@dataclass
class RecordingCounts:
    """Where every record of a recording went (as `tradestream ingest` accounts for them).

    Attributes:
        frames: lines read (WebSocket messages).
        records: records in them (an `l2_data` event, or any other message).
        updates: records sent as BookUpdates.
        dead_letters: records the ingest dead-letters, by reason.
        skipped: records dropped on purpose (repeats, awaiting a snapshot), by reason.
        control: heartbeats and subscription acknowledgements.
    """

    frames: int = 0
    records: int = 0
    updates: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    control: int = 0

    def add(self, out: FrameOutcome) -> None:
        self.frames += 1
        self.records += out.records
        self.updates += len(out.updates)
        self.dead_letters.update(dead.reason for dead in out.dead_letters)
        self.skipped.update(reason for reason, _ in out.skipped)
        self.control += out.control


def book_updates_from_recording(
    path: Path, symbols: Collection[str] | None = None
) -> tuple[list[book_pb2.BookUpdate], RecordingCounts]:
    """The BookUpdates `ingest --channel=level2 --source=replay --input=path` sends, in order.

    Args:
        path: a recorded book file (`.gz` read compressed).
        symbols: the products to keep (`--products`); others are dead-lettered as
            `unknown_symbol`. None or empty: every BASE-QUOTE symbol in the file.

    Returns:
        The updates, and the counts of every record (sent, dead-lettered, skipped, control).

    Raises:
        BookFileError: the file is missing or unreadable.
    """
    updates: list[book_pb2.BookUpdate] = []
    counts = RecordingCounts()
    builder = BookBuilder(symbols or None, recorded=True)  # as `tradestream ingest` makes it
    for out in recorded_outcomes(read_frames(path), builder):
        updates.extend(out.updates)
        counts.add(out)
    return updates, counts
