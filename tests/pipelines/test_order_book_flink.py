"""ORDER_BOOK_IMBALANCE live equals its backtest: a recorded level-2 session and the trades
around it, replayed into Kafka (`ingest --channel=level2 --source=replay`, the trades as
produced), through the realtime pipeline on Flink, give exactly the signals `backtest --book`
gives over the same two files: ids, strategies, actions, prices.
"""

from __future__ import annotations

import csv
import uuid
from collections import Counter

import pytest

from tests.support.cli import tradestream
from tests.support.kafka import create_topics, produce
from tests.support.realtime import (
    assert_signals_match_rows,
    flink_env,
    realtime_signals,
    topic_size,
    with_sentinels,
)
from tradestream.exchanges.sample_level2 import sample_level2_frames
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades_csv
from tradestream.v1 import book_pb2

pytestmark = pytest.mark.integration

STRATEGY_FLAGS = [
    "--strategy", "ORDER_BOOK_IMBALANCE", "--param", "lookback=2", "--param", "threshold=0.25",
    "--param", "cooldown=3",
    "--strategy", "SMA_CROSSOVER", "--param", "fast=3", "--param", "slow=8",
]  # fmt: skip


def test_realtime_order_book_signals_equal_the_backtest(kafka_broker, jvm_dir, tmp_path):
    trades = list(sample_trades(hours=4, seed=31, rate_per_s=0.2))
    trades_file = tmp_path / "trades.csv"
    write_trades_csv(trades_file, trades)
    book_file = tmp_path / "book.jsonl"
    book_file.write_text("\n".join(sample_level2_frames(trades, seed=31)) + "\n")

    # 1. Batch.
    out = tmp_path / "backtest"
    proc = tradestream(
        "backtest", "--portfolio", "--input", str(trades_file), "--book", str(book_file),
        "--output", str(out), "--candle_interval", "1m", *STRATEGY_FLAGS,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "signals.csv", newline="") as fh:
        expected = {row["signal_id"]: row for row in csv.DictReader(fh)}
    per_type = Counter(row["strategy"].split("(")[0] for row in expected.values())
    assert per_type["ORDER_BOOK_IMBALANCE"] >= 20 and per_type["SMA_CROSSOVER"] >= 10, per_type

    # 2. The book through ingest, the trades as produced, then realtime on Flink.
    run = uuid.uuid4().hex[:8]
    topics = {k: f"{k}-{run}" for k in ("trades", "book", "signals", "dlq")}
    create_topics(kafka_broker, list(topics.values()))
    env = flink_env(tmp_path, jvm_dir)
    proc = tradestream(
        "ingest", "--source", "replay", "--channel", "level2", "--input", str(book_file),
        "--book_topic", topics["book"], "--bootstrap_servers", kafka_broker.bootstrap,
        "--dlq_topic", topics["dlq"], "--speed", "max", env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    closed = with_sentinels(trades)
    produce(
        kafka_broker.bootstrap,
        topics["trades"],
        [(t.symbol.encode(), t.SerializeToString()) for t in closed],
    )
    # The watermark is the slower topic's: one empty update per symbol after the end moves
    # the book topic's past the last candle too (a live book keeps flowing).
    produce(
        kafka_broker.bootstrap,
        topics["book"],
        [
            (s.symbol.encode(), book_pb2.BookUpdate(
                exchange="test", symbol=s.symbol, sequence_num=10**9, time_ms=s.time_ms
            ).SerializeToString())
            for s in closed[len(trades):]
        ],
    )  # fmt: skip
    got = realtime_signals(
        kafka_broker.bootstrap,
        topics,
        [f"--book_topic={topics['book']}", f"--consumer_group=book-{run}", *STRATEGY_FLAGS],
        env,
        tmp_path / "realtime.log",
        len(expected),
    )
    assert_signals_match_rows(got, expected)
    for signal in got:
        if signal.strategy.strategy_id.startswith("ORDER_BOOK_IMBALANCE"):
            assert 0.25 < signal.confidence <= 1.0  # the averaged imbalance's size
        else:
            assert signal.confidence == 1.0
    assert topic_size(kafka_broker.bootstrap, topics["dlq"]) == 0
