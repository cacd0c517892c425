"""Strategy files: the library's SMA_CROSSOVER expressed as YAML gives the same strategy and
signals; malformed files raise clear StrategyErrors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.strategies.series import random_candles
from tradestream.strategies import library
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.spec import load_strategy_file, load_strategy_types
from tradestream.strategies.vectorized import evaluate_vectorized

SMA_CROSSOVER_YAML = """
strategies:
  - name: SMA_CROSSOVER
    description: BUY when SMA(fast) crosses above SMA(slow), SELL when it crosses below.
    params:
      fast: {kind: int, low: 2, high: 100, default: 10, description: fast SMA period}
      slow: {kind: int, low: 3, high: 300, default: 30, description: slow SMA period}
    constraints: ["fast < slow"]
    nodes:
      fast_ma: {kind: sma, inputs: [close], params: {period: $fast}}
      slow_ma: {kind: sma, inputs: [close], params: {period: $slow}}
    entry: {kind: crosses_above, inputs: [fast_ma, slow_ma]}
    exit: {kind: crosses_below, inputs: [fast_ma, slow_ma]}
    values: {fast: 5, slow: 20}
"""


def test_sma_crossover_yaml_equals_library_strategy(tmp_path):
    path = tmp_path / "sma.yaml"
    path.write_text(SMA_CROSSOVER_YAML)
    [from_file] = load_strategy_file(path)
    built = library.build("SMA_CROSSOVER", {"fast": 5, "slow": 20})
    assert from_file.strategy_id == built.strategy_id
    assert (from_file.entry, from_file.exit) == (built.entry, built.exit)
    candles = random_candles(11, 300)
    a = evaluate_vectorized([from_file], candles)[from_file.strategy_id]
    assert np.array_equal(a, evaluate_vectorized([built], candles)[built.strategy_id])


def _write(tmp_path, strategy: dict):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"strategies": [strategy]}))
    return path


BASE = {
    "name": "X",
    "params": {"n": {"kind": "int", "low": 2, "high": 50, "default": 10}},
    "entry": {"kind": "above", "inputs": ["close", {"kind": "sma", "inputs": ["close"],
                                                    "params": {"period": "$n"}}]},
    "exit": {"kind": "below", "inputs": ["close", 100]},
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"entry": {"kind": "frobnicate", "inputs": ["close"]}}, "unknown node kind"),
        ({"entry": {"kind": "above", "inputs": ["close"]}}, "takes 2 input"),
        ({"entry": {"kind": "above", "inputs": ["close", {"kind": "sma", "inputs": ["close"]}]}},
         "missing \\['period'\\]"),
        ({"entry": {"kind": "above", "inputs": ["close", "nowhere"]}}, "undefined node"),
        ({"nodes": {"a": {"kind": "sma", "inputs": ["b"], "params": {"period": 3}},
                    "b": {"kind": "sma", "inputs": ["a"], "params": {"period": 3}}},
          "entry": {"kind": "above", "inputs": ["close", "a"]}}, "reference cycle"),
        ({"values": {"n": 500}}, "outside its bounds"),
        ({"entry": {"kind": "above", "inputs": ["close", {"kind": "sma", "inputs": ["close"],
                                                         "params": {"period": "$m"}}]}},
         "unknown parameter reference"),
    ],
)  # fmt: skip
def test_invalid_strategy_files_raise_clear_errors(tmp_path, change, message):
    with pytest.raises(StrategyError, match=message):
        load_strategy_file(_write(tmp_path, {**BASE, **change}))


def test_valid_json_strategy_loads(tmp_path):
    [strategy] = load_strategy_file(_write(tmp_path, BASE))
    assert strategy.strategy_id == "X(n=10)"
    assert strategy.warmup == 10


def test_library_entry_needs_only_name_and_values_in_any_case(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "strategies:\n"
        "  - name: sma_crossover\n"
        "    values: {fast: 5, slow: 20}\n"
        "  - name: SMA_CROSSOVER\n"  # no values: the library's defaults (10, 30)
    )
    ids = [s.strategy_id for s in load_strategy_file(path)]
    assert ids == ["SMA_CROSSOVER(fast=5,slow=20)", "SMA_CROSSOVER(fast=10,slow=30)"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        # not a library name, and no rules: the error says what a strategy of one's own needs
        ({"name": "SMA_CROSOVER"}, "'SMA_CROSOVER' is not a library strategy.*'entry' and 'exit'"),
        # rules declared but the entry rule forgotten: names the key and the library form
        (
            {k: v for k, v in BASE.items() if k != "entry"},
            "missing 'entry': a strategy of your own",
        ),
        ({"name": "SMA_CROSSOVER", "values": {"fast": 40, "slow": 20}}, "fast < slow"),
    ],
)
def test_library_entry_errors_name_the_missing_key_or_the_value(tmp_path, entry, message):
    with pytest.raises(StrategyError, match=message):
        load_strategy_file(_write(tmp_path, entry))


def test_optimizer_result_list_loads_as_library_types_with_their_params(tmp_path):
    path = tmp_path / "best.json"
    best = [
        {"strategy": "SMA_CROSSOVER", "symbol": "BTC-USD", "params": {"fast": 9, "slow": 31},
         "objective": "sharpe", "fitness": 1.5, "metrics": {"sharpe": 1.5}},
        {"strategy": "EMA_MACD", "symbol": "BTC-USD", "params": None},  # no usable fitness
        {"strategy": "SMA_CROSSOVER", "symbol": "ETH-USD", "params": {"fast": 5, "slow": 20}},
    ]  # fmt: skip
    path.write_text(json.dumps(best))
    pairs = load_strategy_types(path)
    assert [(t.name, v) for t, v in pairs] == [
        ("SMA_CROSSOVER", {"fast": 9, "slow": 31}),
        ("SMA_CROSSOVER", {"fast": 5, "slow": 20}),
    ]
    path.write_text(json.dumps([{"strategy": "SMA_CROSSOVER", "params": {"fast": 40}}]))
    with pytest.raises(StrategyError, match=r"best.json: \[0\] \(SMA_CROSSOVER\): .*fast < slow"):
        load_strategy_types(path)
    path.write_text("[]")
    with pytest.raises(StrategyError, match="no parameter set"):
        load_strategy_types(path)
    path.write_text(json.dumps([{"strategy": "MY_CROSS", "params": {"fast": 4}}]))
    with pytest.raises(StrategyError, match="'MY_CROSS' is not a library strategy.*its strategy"):
        load_strategy_types(path)


def test_readme_strategy_file_example_loads_and_means_what_it_says(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Strategy files (`--strategies FILE`)", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.yaml"
    path.write_text(example)
    ids = [s.strategy_id for s in load_strategy_file(path)]
    assert ids == ["SMA_CROSSOVER(fast=5,slow=20)", "MY_CROSS(fast=5,slow=30)"]
