"""Protobuf trades produced to and consumed from the real local broker."""

from __future__ import annotations

import pytest

from tests.support.kafka import consume_all, create_topics, produce
from tradestream.v1 import trade_pb2

pytestmark = pytest.mark.integration


def test_kafka_trades_roundtrip_preserves_protobuf_and_keys(kafka_broker):
    topic = "roundtrip-trades"
    create_topics(kafka_broker, [topic])
    trades = [
        trade_pb2.Trade(
            exchange="replay",
            symbol=sym,
            trade_id=str(i),
            price=100.0 + i,
            size=0.5,
            side=trade_pb2.SIDE_BUY,
            time_ms=1_700_000_000_000 + i,
        )
        for i, sym in enumerate(["BTC-USD", "ETH-USD"] * 50)
    ]
    sent = produce(
        kafka_broker.bootstrap, topic, ((t.symbol.encode(), t.SerializeToString()) for t in trades)
    )
    assert sent == 100
    received = consume_all(kafka_broker.bootstrap, topic, expected=100)
    decoded = [(key.decode(), trade_pb2.Trade.FromString(value)) for key, value in received]
    assert len(decoded) == 100
    assert all(key == t.symbol for key, t in decoded)
    # Keyed by symbol: each symbol lives on one partition, so its order is kept.
    for sym in ("BTC-USD", "ETH-USD"):
        got = [t.trade_id for _, t in decoded if t.symbol == sym]
        assert got == [t.trade_id for t in trades if t.symbol == sym]
