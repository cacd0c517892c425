"""Pipeline flags: shared option classes, strategy selection, and JSON-safe values.

Beam parses the flags of every imported PipelineOptions subclass together and sends all
option values to the runner as JSON, so every pipeline's options must coexist and stay plain.
"""

from __future__ import annotations

import json

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

import tradestream.ingest.cli  # noqa: F401
import tradestream.pipelines.backtest  # noqa: F401 - registers its options
import tradestream.pipelines.realtime  # noqa: F401
from tradestream.pipelines.options import selected_strategies


def test_options_of_all_pipelines_coexist_and_serialise_to_json():
    options = PipelineOptions(
        ["--strategy=SMA_CROSSOVER", "--param=fast=5", "--param=slow=20", "--candle_interval=5m"]
    )
    values = options.get_all_options(retain_unknown_options=True)
    json.dumps(values)  # raises for non-JSON values (e.g. a ZoneInfo default)
    assert values["candle_interval"] == 300_000


def test_selected_strategies_params_follow_their_strategy_in_order():
    options = PipelineOptions(
        [
            "--strategy=SMA_CROSSOVER", "--param=fast=5", "--param=slow=20",
            "--strategy=sma_crossover", "--param=fast=7", "--param=slow=9",
        ]
    )  # fmt: skip
    ids = [s.strategy_id for s in selected_strategies(options)]
    assert ids == ["SMA_CROSSOVER(fast=5,slow=20)", "SMA_CROSSOVER(fast=7,slow=9)"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--param=fast=5"], "must follow a --strategy"),
        (["--strategy=NOPE"], "NOPE"),
        (["--strategy=SMA_CROSSOVER", "--param=fast=abc"], "must be an integer"),
        (["--strategy=SMA_CROSSOVER", "--param=fast=50", "--param=slow=20"], "fast < slow"),
        ([], "choose strategies"),
    ],
)
def test_selected_strategies_bad_selection_gives_clear_error(argv, message):
    with pytest.raises(ValueError, match=message):
        selected_strategies(PipelineOptions(argv))


def test_selected_strategies_from_optimizer_best_json(tmp_path):
    best = tmp_path / "best.json"
    best.write_text(
        json.dumps(
            [
                {"rank": 1, "strategy": "SMA_CROSSOVER", "params": {"fast": 9, "slow": 31}},
                {"rank": 2, "strategy": "SMA_CROSSOVER", "params": {"fast": 5, "slow": 20}},
                {"rank": 3, "strategy": "EMA_MACD", "params": None},  # no usable fitness
            ]
        )
    )
    strategies = selected_strategies(PipelineOptions([f"--strategies={best}"]))
    assert [s.strategy_id for s in strategies] == [
        "SMA_CROSSOVER(fast=9,slow=31)",
        "SMA_CROSSOVER(fast=5,slow=20)",
    ]
    best.write_text(json.dumps([{"params": {"fast": 1}}]))
    with pytest.raises(ValueError, match="optimizer result"):
        selected_strategies(PipelineOptions([f"--strategies={best}"]))


def test_selected_strategies_take_type_names_in_any_case(tmp_path):
    best = tmp_path / "best.json"
    best.write_text(json.dumps([{"strategy": "sma_crossover", "params": {"fast": 9, "slow": 31}}]))
    from_file = selected_strategies(PipelineOptions([f"--strategies={best}"]))
    from_flags = selected_strategies(
        PipelineOptions(["--strategy=Sma_Crossover", "--param=fast=9", "--param=slow=31"])
    )
    ids = ["SMA_CROSSOVER(fast=9,slow=31)"]
    assert [s.strategy_id for s in from_file] == [s.strategy_id for s in from_flags] == ids


@pytest.mark.integration
def test_selected_strategies_from_the_strategies_topic_take_the_newest_set(kafka_broker):
    from tests.support.kafka import create_topics, produce
    from tradestream.market.signal_messages import strategy_proto
    from tradestream.v1 import strategy_pb2

    topic = "strategies-options-test"
    create_topics(kafka_broker, [topic])

    def strategy_set(*pairs):
        return strategy_pb2.StrategySet(
            strategies=[
                strategy_proto("SMA_CROSSOVER", {"fast": f, "slow": s}, f"x{f}-{s}")
                for f, s in pairs
            ]
        ).SerializeToString()

    produce(
        kafka_broker.bootstrap,
        topic,
        [(b"BTC-USD", strategy_set((3, 8))), (b"BTC-USD", strategy_set((4, 9), (5, 30)))],
    )
    options = PipelineOptions(
        [f"--bootstrap_servers={kafka_broker.bootstrap}", f"--strategies_topic={topic}"]
    )
    ids = [s.strategy_id for s in selected_strategies(options)]
    assert ids == ["SMA_CROSSOVER(fast=4,slow=9)", "SMA_CROSSOVER(fast=5,slow=30)"]
