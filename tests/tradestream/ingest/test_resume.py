"""Resuming ingest: skipping what the trades topic already holds, and reading its tail.

The tail is read through a fake consumer here (the real broker is in tests/pipelines/
test_ingest.py and the fault tests).
"""

from __future__ import annotations

from collections import namedtuple

import pytest
from confluent_kafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from tradestream.ingest.dedup import RecentTradeIds
from tradestream.ingest.resume import (
    ResumeStats,
    TopicTail,
    describe,
    murmur2,
    seed_recent_ids,
    skip_already_sent,
    trade_order,
)
from tradestream.market.trade_files import BadRow
from tradestream.v1 import trade_pb2


def trade(symbol: str, time_ms: int, trade_id: str | int) -> trade_pb2.Trade:
    return trade_pb2.Trade(
        symbol=symbol, trade_id=str(trade_id), time_ms=time_ms, price=1.0, size=1.0
    )


def ids(records) -> list[str]:
    return [
        f"{r.symbol}:{r.trade_id}" if isinstance(r, trade_pb2.Trade) else "bad" for r in records
    ]


def on_topic(*trades: trade_pb2.Trade):
    last = {t.symbol: t for t in trades}
    return last.get


# -- order -------------------------------------------------------------------------------------


def test_trade_order_numeric_ids_compare_as_numbers_at_the_same_time():
    assert trade_order(trade("A-B", 5, "9")) < trade_order(trade("A-B", 5, "10"))
    assert trade_order(trade("A-B", 5, "007")) == trade_order(trade("A-B", 5, "7"))
    huge = "9" * 5000  # longer than int() accepts from text
    assert trade_order(trade("A-B", 5, huge)) > trade_order(trade("A-B", 5, "1" + "0" * 4998))


def test_trade_order_time_comes_before_the_id():
    assert trade_order(trade("A-B", 4, "99")) < trade_order(trade("A-B", 5, "1"))
    assert trade_order(trade("A-B", 5, "99")) < trade_order(trade("A-B", 5, "x"))


# -- skipping ----------------------------------------------------------------------------------


def test_skip_already_sent_empty_topic_sends_everything():
    records = [trade("BTC-USD", 1, 1), BadRow(2, "malformed", "row 2", "x"), trade("BTC-USD", 3, 3)]
    assert ids(skip_already_sent(records, on_topic())) == ["BTC-USD:1", "bad", "BTC-USD:3"]


def test_skip_already_sent_each_symbol_resumes_after_its_own_last_trade():
    # A crash leaves each partition's prefix: BTC got further than ETH.
    file = [trade(s, t, t) for t in range(1, 7) for s in ("BTC-USD", "ETH-USD")]
    stats = ResumeStats()
    out = skip_already_sent(file, on_topic(trade("BTC-USD", 4, 4), trade("ETH-USD", 2, 2)), stats)
    assert ids(out) == [
        "ETH-USD:3", "ETH-USD:4", "BTC-USD:5", "ETH-USD:5", "BTC-USD:6", "ETH-USD:6",
    ]  # fmt: skip
    assert stats.skipped == {"BTC-USD": 4, "ETH-USD": 2}
    assert stats.total_skipped == 6


def test_skip_already_sent_same_time_is_decided_by_trade_id():
    file = [trade("BTC-USD", 10, i) for i in (8, 9, 10, 11)]
    assert ids(skip_already_sent(file, on_topic(trade("BTC-USD", 10, 9)))) == [
        "BTC-USD:10",
        "BTC-USD:11",
    ]


def test_skip_already_sent_late_trade_after_the_last_one_sent_is_still_sent():
    # Out of order in the file: the late trade (time 2) comes after the last one on the topic.
    file = [trade("BTC-USD", 1, "a"), trade("BTC-USD", 5, "b"), trade("BTC-USD", 2, "c")]
    assert ids(skip_already_sent(file, on_topic(trade("BTC-USD", 5, "b")))) == ["BTC-USD:c"]


def test_skip_already_sent_symbol_not_on_the_topic_is_sent_from_its_start():
    file = [trade("BTC-USD", 1, 1), trade("SOL-USD", 1, 1), trade("BTC-USD", 2, 2)]
    assert ids(skip_already_sent(file, on_topic(trade("BTC-USD", 1, 1)))) == [
        "SOL-USD:1",
        "BTC-USD:2",
    ]


def test_skip_already_sent_everything_on_the_topic_sends_nothing():
    file = [trade("BTC-USD", t, t) for t in range(1, 4)]
    stats = ResumeStats()
    assert list(skip_already_sent(file, on_topic(file[-1]), stats)) == []
    assert stats.total_skipped == 3


def test_skip_already_sent_empty_topic_bad_rows_before_the_first_trade_are_sent():
    # Issue 15: five bad rows at the start of a fresh replay were skipped without a word.
    file = [*(BadRow(n, "invalid_price", f"row {n}", "x") for n in (1, 2)), trade("BTC-USD", 3, 3)]
    stats = ResumeStats()
    assert ids(skip_already_sent(file, on_topic(), stats)) == ["bad", "bad", "BTC-USD:3"]
    assert stats.total_skipped == 0


def test_skip_already_sent_bad_rows_before_a_trade_on_the_topic_are_skipped_and_counted():
    file = [
        BadRow(1, "malformed", "row 1", "w"),
        trade("BTC-USD", 2, 2),
        BadRow(3, "malformed", "row 3", "x"),
        BadRow(4, "invalid_size", "row 4", "y"),
        trade("BTC-USD", 5, 5),  # the last one on the topic: the earlier run got past rows 1-4
        BadRow(6, "invalid_price", "row 6", "z"),  # may not have been: dead-lettered
        trade("BTC-USD", 7, 7),
    ]
    stats = ResumeStats()
    out = skip_already_sent(file, on_topic(trade("BTC-USD", 5, 5)), stats)
    assert ids(out) == ["bad", "BTC-USD:7"]
    assert stats.skipped == {"BTC-USD": 2}
    assert stats.skipped_bad_rows == {"malformed": 2, "invalid_size": 1}
    assert (stats.skipped_trades, stats.skipped_dead_letters, stats.total_skipped) == (2, 3, 5)


def test_skip_already_sent_bad_rows_at_the_end_are_sent():
    file = [trade("BTC-USD", 1, 1), BadRow(2, "malformed", "row 2", "x")]
    stats = ResumeStats()
    assert ids(skip_already_sent(file, on_topic(trade("BTC-USD", 1, 1)), stats)) == ["bad"]
    assert stats.total_skipped == 1


def test_skip_already_sent_bad_row_before_another_symbols_skipped_trade_is_skipped():
    # BTC resumed first; ETH's last trade on the topic comes after the bad row in the file.
    file = [trade("BTC-USD", 1, 1), BadRow(2, "malformed", "row 2", "x"), trade("ETH-USD", 3, 3)]
    stats = ResumeStats()
    out = skip_already_sent(file, on_topic(trade("ETH-USD", 3, 3)), stats)
    assert ids(out) == ["BTC-USD:1"]
    assert stats.skipped_bad_rows == {"malformed": 1}


def test_skip_already_sent_looks_each_symbol_up_until_it_resumes():
    looked_up = []

    def last_trade(symbol):
        looked_up.append(symbol)
        return trade("BTC-USD", 1, 1) if symbol == "BTC-USD" else None

    file = [trade("BTC-USD", t, t) for t in range(1, 5)] + [trade("ETH-USD", 5, 1)]
    list(skip_already_sent(file, last_trade))
    assert looked_up == ["BTC-USD", "ETH-USD"]  # BTC resumed at its last trade on the topic


@given(
    st.lists(st.sampled_from(["BTC-USD", "ETH-USD", "SOL-USD"]), max_size=60),
    st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 60)),
)
def test_skip_already_sent_after_any_crash_topic_plus_resume_is_the_file_once(symbols, cut):
    # A time-ordered file; a crash left any prefix of each symbol's trades on the topic.
    file = [trade(s, 1000 + i // 3, i) for i, s in enumerate(symbols)]
    per_symbol = {s: [t for t in file if t.symbol == s] for s in ("BTC-USD", "ETH-USD", "SOL-USD")}
    written = {s: ts[: min(n, len(ts))] for (s, ts), n in zip(per_symbol.items(), cut, strict=True)}
    last = {s: ts[-1] for s, ts in written.items() if ts}
    resent = list(skip_already_sent(file, last.get))
    everything = [t for ts in written.values() for t in ts] + resent
    assert sorted(ids(everything)) == sorted(ids(file))


@given(
    st.lists(st.sampled_from(["BTC-USD", "ETH-USD", "bad"]), max_size=40),
    st.tuples(st.integers(0, 40), st.integers(0, 40)),
)
def test_skip_already_sent_every_record_is_yielded_or_counted_once(kinds, cut):
    file = [
        BadRow(i, "malformed", f"row {i}", "x") if k == "bad" else trade(k, 1000 + i, i)
        for i, k in enumerate(kinds)
    ]
    per_symbol = {
        s: [t for t in file if getattr(t, "symbol", None) == s] for s in ("BTC-USD", "ETH-USD")
    }
    last = {
        s: ts[n - 1] for (s, ts), n in zip(per_symbol.items(), cut, strict=True) if 0 < n <= len(ts)
    }
    stats = ResumeStats()
    out = list(skip_already_sent(file, last.get, stats))
    assert len(out) + stats.total_skipped == len(file)
    assert stats.skipped_dead_letters + sum(isinstance(r, BadRow) for r in out) == kinds.count(
        "bad"
    )
    sent = [any(r is o for o in out) for r in file]
    assert [r for r, kept in zip(file, sent, strict=True) if kept] == out  # in file order
    # A bad row is skipped exactly when the next trade after it in the file was skipped.
    for i, record in enumerate(file):
        if isinstance(record, BadRow):
            after = [j for j in range(i + 1, len(file)) if not isinstance(file[j], BadRow)]
            assert sent[i] == (not after or sent[after[0]])


# -- Coinbase: seeding the de-duplication window ----------------------------------------------


def test_seed_recent_ids_makes_trades_on_the_topic_duplicates():
    dedup = RecentTradeIds(window=100)
    recent = {"BTC-USD": [trade("BTC-USD", 3, 3), trade("BTC-USD", 2, 2)]}  # newest first
    seeded = seed_recent_ids(dedup, ["BTC-USD", "ETH-USD"], lambda s: recent.get(s, []))
    assert seeded == {"BTC-USD": 2}
    assert dedup.seen("BTC-USD", "2") and dedup.seen("BTC-USD", "3")
    assert not dedup.seen("BTC-USD", "4")
    assert not dedup.seen("ETH-USD", "2")


def test_seed_recent_ids_oldest_first_so_a_small_window_keeps_the_newest():
    dedup = RecentTradeIds(window=2)
    recent = [trade("X-Y", t, f"id{t}") for t in (3, 2, 1)]  # newest first, not numeric
    seed_recent_ids(dedup, ["X-Y"], lambda s: recent)
    assert dedup.seen("X-Y", "id3") and dedup.seen("X-Y", "id2")
    assert not dedup.seen("X-Y", "id1")


# -- the tail of the topic --------------------------------------------------------------------


class Message:
    """A confluent-kafka Message as TopicTail and read_range see it: accessors are methods."""

    def __init__(self, topic: str, partition: int, offset: int, key, value) -> None:
        self._at = (topic, partition, offset)
        self._key, self._value = key, value

    def error(self):
        return None

    def topic(self) -> str:
        return self._at[0]

    def partition(self) -> int:
        return self._at[1]

    def offset(self) -> int:
        return self._at[2]

    def key(self):
        return self._key

    def value(self):
        return self._value


Metadata = namedtuple("Metadata", "topics")
TopicMetadata = namedtuple("TopicMetadata", "partitions error")


class FakeConsumer:
    """The part of confluent-kafka's Consumer that TopicTail uses, over in-memory partitions."""

    def __init__(self, topic: str, partitions: dict[int, list[tuple[bytes, bytes]]], begin=None):
        self.topic = topic
        begin = begin or {}
        self.logs = {
            p: [Message(topic, p, begin.get(p, 0) + i, k, v) for i, (k, v) in enumerate(rs)]
            for p, rs in partitions.items()
        }
        self.begin = {p: begin.get(p, 0) for p in partitions}
        self.positions: dict[int, int] = {}
        self.read = 0
        self.closed = False

    def list_topics(self, topic, timeout):
        if topic != self.topic:
            return Metadata({topic: TopicMetadata({}, "UNKNOWN_TOPIC_OR_PART")})
        return Metadata({topic: TopicMetadata({p: None for p in self.logs}, None)})

    def get_watermark_offsets(self, tp, timeout):
        return self.begin[tp.partition], self.begin[tp.partition] + len(self.logs[tp.partition])

    def assign(self, tps):
        self.positions = {tp.partition: tp.offset for tp in tps}

    def position(self, tps):
        return [TopicPartition(tp.topic, tp.partition, self.positions[tp.partition]) for tp in tps]

    def consume(self, num_messages, timeout):
        out = []
        for p, position in self.positions.items():
            index = position - self.begin[p]
            batch = self.logs[p][index : index + 2][: num_messages - len(out)]  # small fetches
            out.extend(batch)
            self.positions[p] += len(batch)
            self.read += len(batch)
        return out

    def close(self):
        self.closed = True


def record(t: trade_pb2.Trade) -> tuple[bytes, bytes]:
    return t.symbol.encode(), t.SerializeToString()


def tail_over(partitions: dict[int, list[trade_pb2.Trade]], keep=1, chunk=3, begin=None):
    # Put every trade where the real partitioner would: one partition per symbol.
    probe = TopicTail(FakeConsumer("t", {p: [] for p in partitions}), "t")
    placed: dict[int, list] = {p: [] for p in partitions}
    for trades in partitions.values():
        for t in trades:
            placed[probe.partition_of(t.symbol)].append(record(t))
    consumer = FakeConsumer("t", placed, begin)
    return TopicTail(consumer, "t", keep=keep, chunk=chunk), consumer


def test_topic_tail_topic_missing_from_one_metadata_answer_is_asked_again(monkeypatch):
    # A broker that has not heard of a topic created a moment ago answers that it does not
    # know it, or lists it without partitions.
    monkeypatch.setattr("tradestream.ingest.resume.METADATA_PAUSE_S", 0.0)
    consumer = FakeConsumer("t", {0: [], 1: []})
    unknown = TopicMetadata({}, "UNKNOWN_TOPIC_OR_PART")
    answers = iter([Metadata({"t": unknown}), Metadata({"t": TopicMetadata({}, None)})])
    listed = consumer.list_topics
    consumer.list_topics = lambda topic, timeout: next(answers, None) or listed(topic, timeout)
    assert TopicTail(consumer, "t").partitions == [0, 1]


def test_topic_tail_missing_topic_is_a_value_error(monkeypatch):
    monkeypatch.setattr("tradestream.ingest.resume.METADATA_PAUSE_S", 0.0)
    consumer = FakeConsumer("other", {0: []})
    with pytest.raises(ValueError, match="does not exist"):
        TopicTail(consumer, "trades")
    assert consumer.closed


def test_topic_tail_last_trade_is_the_newest_record_of_the_symbol():
    trades = [trade("BTC-USD", t, t) for t in range(1, 8)] + [trade("ETH-USD", 9, 1)]
    tail, _ = tail_over({0: trades, 1: [], 2: []})
    assert tail.last_trade("BTC-USD").trade_id == "7"
    assert tail.last_trade("ETH-USD").trade_id == "1"
    assert tail.last_trade("SOL-USD") is None
    assert tail.records == 8


def test_topic_tail_reads_back_only_as_far_as_needed():
    # One partition: BTC's last trade is far back behind 20 SOL trades.
    btc = trade("BTC-USD", 0, 1)
    trades = [btc] + [trade("SOL-USD", t, t) for t in range(1, 21)]
    tail, consumer = tail_over({0: trades}, chunk=5)
    tail.read_last_chunk()
    assert set(tail.symbols()) == {"SOL-USD"}
    assert consumer.read <= 6  # the last chunk (fetches may run one record past it)
    assert tail.last_trade("BTC-USD") == btc
    read = consumer.read
    assert read >= 21
    tail.last_trade("BTC-USD")
    assert consumer.read == read  # remembered


def test_topic_tail_recent_keeps_newest_first_up_to_keep():
    trades = [trade("BTC-USD", t, t) for t in range(1, 11)]
    tail, _ = tail_over({0: trades, 1: []}, keep=4)
    assert [t.trade_id for t in tail.recent("BTC-USD")] == ["10", "9", "8", "7"]


def test_topic_tail_skips_records_that_are_not_trades_of_their_key():
    good = trade("BTC-USD", 1, 1)
    tail0, _ = tail_over({0: [], 1: []})
    p = tail0.partition_of("BTC-USD")
    partitions = {0: [], 1: []}
    partitions[p] = [
        record(good),
        (b"BTC-USD", b"\xff\xff not a protobuf"),
        (b"BTC-USD", trade("ETH-USD", 2, 2).SerializeToString()),  # wrong key
        (None, b"keyless"),
    ]
    consumer = FakeConsumer("t", partitions)
    assert TopicTail(consumer, "t").last_trade("BTC-USD") == good


def test_topic_tail_partition_start_after_retention_is_respected():
    trades = [trade("BTC-USD", t, t) for t in range(1, 4)]
    tail, consumer = tail_over({0: trades, 1: []}, begin={0: 100, 1: 100})
    assert tail.last_trade("BTC-USD").trade_id == "3"
    assert tail.last_trade("ETH-USD") is None


def test_murmur2_matches_the_java_clients_hash():
    # Kafka's own cases (UtilsTest.testMurmur2), Java's signed ints as unsigned 32-bit numbers.
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    assert {key: murmur2(key) for key in cases} == {k: h & 0xFFFFFFFF for k, h in cases.items()}


def test_describe_names_symbols_and_the_latest_time():
    text = describe({"BTC-USD": trade("BTC-USD", 1_704_153_600_000, 1)})
    assert text == (
        "1 symbol(s) already on the topic up to 2024-01-02T00:00:00.000Z "
        "(BTC-USD 2024-01-02T00:00:00.000Z)"
    )
    assert describe({}) == "nothing on the topic yet"
