"""`tradestream optimize --publish_topic` writes StrategySets to a real Kafka broker."""

from __future__ import annotations

import json

import pytest

from tests.support.kafka import consume_all, create_topics
from tests.tradestream.optimize.builders import series_from_close, sine_close, write_candles_csv
from tradestream import cli
from tradestream.v1 import strategy_pb2

pytestmark = pytest.mark.integration


def test_optimize_publishes_one_strategy_set_per_symbol(kafka_broker, tmp_path):
    candles = write_candles_csv(tmp_path / "SYN.csv", series_from_close(sine_close(1500)))
    create_topics(kafka_broker, ["optimized"], partitions=1)
    code = cli.main(
        [
            "optimize",
            "--input",
            str(candles),
            "--output",
            str(tmp_path / "out"),
            "--strategy",
            "SMA_CROSSOVER",
            "--strategy",
            "SMA_RSI",
            "--population",
            "6",
            "--generations",
            "2",
            "--top",
            "2",
            "--publish_topic",
            "optimized",
            "--bootstrap_servers",
            kafka_broker.bootstrap,
        ]  # fmt: skip
    )
    assert code == 0
    best = json.loads((tmp_path / "out" / "best.json").read_text())
    ((key, value),) = consume_all(kafka_broker.bootstrap, "optimized", expected=1, timeout_s=30)
    assert key == b"SYN"
    message = strategy_pb2.StrategySet.FromString(value)
    assert message.source == "optimize" and message.created_ms > 0
    assert [s.strategy_id for s in message.strategies] == [e["strategy_id"] for e in best]
    first = message.strategies[0]
    assert first.type == best[0]["strategy"]
    assert {p.name: p.WhichOneof("value") for p in first.params} == {
        name: "int_value" if isinstance(v, int) else "float_value"
        for name, v in best[0]["params"].items()
    }


def test_optimize_publish_to_a_missing_topic_fails_clearly(kafka_broker, tmp_path, capsys):
    candles = write_candles_csv(tmp_path / "SYN.csv", series_from_close(sine_close(600)))
    code = cli.main(
        [
            "optimize",
            "--input",
            str(candles),
            "--output",
            str(tmp_path / "out"),
            "--strategy",
            "SMA_CROSSOVER",
            "--population",
            "4",
            "--generations",
            "1",
            "--publish_topic",
            "no-such-topic",
            "--bootstrap_servers",
            kafka_broker.bootstrap,
        ]  # fmt: skip
    )
    assert code == 1
    assert "topic 'no-such-topic' is not available" in capsys.readouterr().err
    assert (tmp_path / "out" / "best.json").is_file()  # the results are kept
