"""A recorded level-2 file read for a backtest gives exactly what the ingest replay sends."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.tradestream.ingest.fakes import RecordingProducer
from tradestream.exchanges.order_book import BookBuilder
from tradestream.exchanges.recordings import (
    BookFileError,
    book_updates_from_recording,
    read_frames,
)
from tradestream.ingest.book_metrics import BookMetrics
from tradestream.ingest.book_replay import replay_book

SESSION = Path(__file__).resolve().parents[2] / "fixtures" / "coinbase" / "level2_session.jsonl"


def replayed(path: Path, symbols: list[str] | None) -> tuple[RecordingProducer, BookMetrics]:
    """What `ingest --channel=level2 --source=replay` hands its producer (as its CLI builds it)."""
    producer, metrics = RecordingProducer(), BookMetrics()
    replay_book(read_frames(path), BookBuilder(symbols or None, recorded=True), producer, metrics)
    return producer, metrics


@pytest.mark.parametrize("symbols", [None, ["BTC-USD"]], ids=["any-symbol", "one-product"])
def test_recording_updates_equal_the_replay_sends_in_order_with_the_same_counts(symbols):
    updates, counts = book_updates_from_recording(SESSION, symbols)
    producer, metrics = replayed(SESSION, symbols)

    assert updates == producer.updates
    assert len(updates) == counts.updates == metrics.total_updates > 0
    assert sorted(counts.dead_letters.elements()) == sorted(r for _, r, *_ in producer.dead_letters)
    assert dict(counts.dead_letters) == metrics.dead_lettered
    assert dict(counts.skipped) == metrics.skipped
    assert counts.records == metrics.records
    assert counts.control == metrics.control
    assert counts.records == counts.updates + counts.dead_letters.total() + (
        counts.skipped.total() + counts.control
    )
    assert counts.frames == len(SESSION.read_text().splitlines())


def test_recording_whole_session_counts_match_the_ingest_account_line():
    updates, counts = book_updates_from_recording(SESSION)
    assert len(updates) == 44 and sum(u.is_snapshot for u in updates) == 4
    assert counts.dead_letters == {"crossed_book": 1, "sequence_gap": 1}
    assert counts.skipped == {"duplicate": 1}
    assert counts.control == 8 and counts.frames == counts.records == 55


def test_recording_gzip_gives_the_same_updates(tmp_path):
    path = tmp_path / "book.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write(SESSION.read_text())
    assert book_updates_from_recording(path) == book_updates_from_recording(SESSION)


def test_recording_missing_file_is_a_book_file_error(tmp_path):
    with pytest.raises(BookFileError, match="no such file"):
        book_updates_from_recording(tmp_path / "nope.jsonl")
