"""Replaying records into the producer: dead letters in place, and a stop at the first failure."""

from __future__ import annotations

from tests.tradestream.ingest.fakes import RecordingProducer
from tradestream.ingest.accounting import ReplayAccount
from tradestream.ingest.replay import replay
from tradestream.market.trade_files import BadRow
from tradestream.v1 import trade_pb2


def trades(n: int) -> list[trade_pb2.Trade]:
    return [trade_pb2.Trade(symbol="BTC-USD", trade_id=str(i), time_ms=i) for i in range(n)]


def test_replay_sends_trades_and_dead_letters_in_order_then_flushes():
    producer = RecordingProducer()
    records = [*trades(2), BadRow(3, "malformed", "row 3", "x")]
    result = replay(records, producer)
    assert (result.sent, result.dead_lettered) == (2, 1)
    assert producer.flushed == 1


class FailingAfter(RecordingProducer):
    """A producer whose sends fail (asynchronously, as Kafka reports them) after `ok` sends."""

    def __init__(self, ok: int) -> None:
        super().__init__()
        self.ok = ok

    def send(self, trade: trade_pb2.Trade) -> None:
        super().send(trade)
        if self.stats.sent > self.ok:
            self.stats.errors += 1


def test_replay_stops_sending_after_a_failed_send():
    # A restart resumes after the last trade on the topic: nothing may follow a lost record.
    producer = FailingAfter(ok=3)
    replay(trades(10), producer)
    assert producer.ids("BTC-USD") == ["0", "1", "2", "3"]


def test_replay_counts_each_record_in_the_account_with_dead_letters_by_reason():
    account = ReplayAccount()
    records = [
        BadRow(1, "malformed", "row 1", "x"),
        *trades(3),
        BadRow(5, "invalid_price", "row 5", "y"),
        BadRow(6, "malformed", "row 6", "z"),
    ]
    result = replay(account.reading(records), RecordingProducer(), account=account)
    assert (account.read, account.sent_trades, account.dead_letters) == (
        6,
        3,
        {"malformed": 2, "invalid_price": 1},
    )
    assert account.unaccounted == 0 and not result.stopped


def test_replay_stopped_reads_no_record_it_does_not_send():
    producer = RecordingProducer()
    account = ReplayAccount()
    result = replay(
        account.reading(trades(10)),
        producer,
        should_stop=lambda: producer.stats.sent >= 4,
        account=account,
    )
    assert result.stopped and result.sent == 4
    assert account.read == 4 and account.unaccounted == 0
