"""Replaying a recorded level-2 session: the file reader, the replay, `ingest --channel=level2`."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import closed_bootstrap, timed_tradestream
from tests.support.kafka import consume_all, create_topics
from tests.tradestream.ingest.book_scenario import rebuild_from_updates
from tests.tradestream.ingest.fakes import RecordingProducer
from tradestream.exchanges.order_book import BookBuilder
from tradestream.exchanges.recordings import BookFileError, read_frames
from tradestream.ingest import cli as ingest
from tradestream.ingest.book_metrics import BookMetrics, account_line
from tradestream.ingest.book_replay import replay_book
from tradestream.v1 import book_pb2, trade_pb2

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "coinbase"
SESSION = FIXTURES / "level2_session.jsonl"


def expected_books() -> dict:
    """The books the recorded exchange ended with (written by the fixture's generator)."""
    books = json.loads((FIXTURES / "level2_session_books.json").read_text())
    return {
        product: {side: {float(p): q for p, q in levels.items()} for side, levels in book.items()}
        for product, book in books.items()
    }


def replayed(path: Path = SESSION) -> tuple[RecordingProducer, BookMetrics, BookBuilder]:
    producer, metrics, builder = (
        RecordingProducer(),
        BookMetrics(),
        BookBuilder(None, recorded=True),
    )
    replay_book(read_frames(path), builder, producer, metrics)
    return producer, metrics, builder


def test_book_replay_session_rebuilds_the_recorded_exchange_books():
    producer, metrics, _ = replayed()
    assert rebuild_from_updates(producer.updates) == expected_books()
    assert [r for _, r, *_ in producer.dead_letters] == ["sequence_gap", "crossed_book"]
    assert {source for *_, source in producer.dead_letters} == {"replay-level2"}
    assert metrics.skipped == {"duplicate": 1}
    assert metrics.unaccounted == 0 and producer.flushed == 1
    lines = len(SESSION.read_text().splitlines())
    assert metrics.records == lines  # one product per l2_data message in this recording
    assert account_line(metrics, "trades-dlq") == (
        f"{lines} records: 44 sent (4 snapshots), 2 dead-lettered to trades-dlq "
        "(crossed_book 1, sequence_gap 1), 1 skipped (duplicate 1), 8 control "
        "(heartbeats, subscriptions)"
    )


def test_book_replay_reads_gzip_and_skips_blank_lines(tmp_path):
    path = tmp_path / "book.jsonl.gz"
    with gzip.open(path, "wt") as out:
        out.write("\n" + SESSION.read_text().replace("\n", "\n\n"))
    producer, _, _ = replayed(path)
    assert rebuild_from_updates(producer.updates) == expected_books()


def test_book_replay_missing_or_broken_file_is_one_error(tmp_path):
    with pytest.raises(BookFileError, match="no such file"):
        read_frames(tmp_path / "nope.jsonl")
    broken = tmp_path / "book.jsonl.gz"
    broken.write_text("not gzip")
    with pytest.raises(BookFileError, match="book.jsonl.gz"):
        list(read_frames(broken))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--source=coinbase", "--channel=level2"], "--source=coinbase needs --products"),
        (["--source=replay", "--channel=level2"], "needs --input (a recorded book file)"),
        (["--source=ohlc-replay", "--channel=level2"], "works with --source=coinbase or replay"),
        (["--source=replay", "--channel=level2", "--input=/no/such.jsonl"], "no such file"),
    ],
)
def test_ingest_level2_flag_errors_are_one_line_exit_2(argv, message, capsys):
    assert ingest.run(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("tradestream ingest: error: ")
    assert message in err


def test_ingest_level2_bad_channel_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        ingest.run(["--channel=level3"])
    assert info.value.code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--source=replay", f"--input={SESSION}"],
        ["--source=coinbase", "--products=BTC-USD"],
    ],
    ids=["replay", "coinbase"],
)
def test_ingest_level2_no_broker_is_one_line_exit_2(argv):
    done, _ = timed_tradestream(
        "ingest", "--channel=level2", *argv, f"--bootstrap_servers={closed_bootstrap()}", timeout=60
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "no Kafka broker answers at 127.0.0.1:" in done.stderr


@pytest.mark.integration
def test_ingest_level2_replay_into_kafka_creates_the_topic_and_rebuilds_the_books(
    kafka_broker, tmp_path, capsys
):
    topic, dlq = "ingest-level2-book", "ingest-level2-dlq"
    create_topics(kafka_broker, [dlq])  # the book topic is created by the ingest
    path = tmp_path / "session.jsonl"
    shutil.copy(SESSION, path)
    code = ingest.run(
        [
            "--source=replay",
            "--channel=level2",
            f"--input={path}",
            f"--bootstrap_servers={kafka_broker.bootstrap}",
            f"--book_topic={topic}",
            f"--dlq_topic={dlq}",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"created topic {topic}" in out
    assert "done: 44 book updates from 55 frames" in out
    records = consume_all(kafka_broker.bootstrap, topic, expected=44, timeout_s=30)
    updates = [book_pb2.BookUpdate.FromString(v) for _, v in records]
    assert rebuild_from_updates(updates) == expected_books()
    letters = consume_all(kafka_broker.bootstrap, dlq, expected=2, timeout_s=30)
    reasons = sorted(trade_pb2.DeadLetter.FromString(v).reason for _, v in letters)
    assert reasons == ["crossed_book", "sequence_gap"]
