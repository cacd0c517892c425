"""The `model` node: trained models (tradestream/strategies/models.py's format) in graphs.

Models here are written by hand (tests/support/models.py), so their outputs are known
without the inference code: a one-neuron network, two stump trees, a Q-network whose
preferred action is set by a feature.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.strategies.series import random_candles
from tests.support.models import MOM, RSI, dqn_model, mlp_model, trees_model
from tradestream.strategies import nodes as n
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.incremental import IncrementalEvaluator
from tradestream.strategies.models import load_model
from tradestream.strategies.spec import load_strategy_file
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.vectorized import compute_nodes, evaluate_vectorized


def test_model_values_are_the_hand_computed_ones(tmp_path):
    candles = random_candles(4, 300)
    ref_mlp, ref_trees, ref_dqn = (
        load_model(f(tmp_path)) for f in (mlp_model, trees_model, dqn_model)
    )
    nodes = [n.model_node(ref_mlp, RSI), n.model_node(ref_trees, RSI, MOM),
             n.model_node(ref_dqn, MOM)]  # fmt: skip
    values = compute_nodes(nodes, candles)
    rsi, mom = values[RSI], values[MOM]
    expected_mlp = np.maximum(2.0 * (rsi - 50.0) / 10.0, 0.0) - 1.0
    np.testing.assert_array_equal(values[nodes[0]][5:], expected_mlp[5:])
    assert np.isnan(values[nodes[0]][:5]).all()  # RSI(5) is defined from candle 5
    expected_trees = 0.25 + np.where(rsi <= 50, -1.0, 1.0) + np.where(mom <= 0, -0.5, 0.5)
    np.testing.assert_array_equal(values[nodes[1]][5:], expected_trees[5:])
    position, actions = 0, []
    for m in mom.tolist():
        if m != m:
            actions.append(0.0)
        elif m > 0.1 and position == 0:
            position, _ = 1, actions.append(1.0)
        elif -m > 0.1 and position == 1:
            position, _ = 0, actions.append(-1.0)
        else:
            actions.append(0.0)
    np.testing.assert_array_equal(values[nodes[2]], actions)
    assert (values[nodes[2]] == 1).any() and (values[nodes[2]] == -1).any()


def test_both_evaluators_agree_on_model_strategies_through_a_state_round_trip(tmp_path):
    ref_trees, ref_dqn = load_model(trees_model(tmp_path)), load_model(dqn_model(tmp_path))
    trees = n.model_node(ref_trees, RSI, MOM)
    dqn = n.model_node(ref_dqn, MOM)
    strategies = [
        Strategy("TREES", {}, n.crosses_above(trees, 1.0), n.crosses_below(trees, -1.0),
                 confidence=n.div(trees, 2.0)),
        Strategy("DQN", {}, n.above(dqn, 0.5), n.below(dqn, -0.5)),
    ]  # fmt: skip
    candles = random_candles(8, 500, integer=True)
    vectorized = evaluate_vectorized(strategies, candles)
    evaluator = IncrementalEvaluator(strategies, interval_ms=candles.interval_ms)
    got = {s.strategy_id: np.zeros(len(candles), dtype=np.int8) for s in strategies}
    for t in range(len(candles)):
        if t == 250:
            state = json.loads(json.dumps(evaluator.get_state(), allow_nan=False))
            evaluator = IncrementalEvaluator.from_state(
                strategies, state, interval_ms=candles.interval_ms
            )
        for e in evaluator.update(*candles.row(t), int(candles.start_ms[t])):
            got[e.strategy_id][t] = 1 if e.action == "BUY" else -1
    for s in strategies:
        assert vectorized[s.strategy_id].any()
        np.testing.assert_array_equal(vectorized[s.strategy_id], got[s.strategy_id])


def _yaml(tmp_path: Path, inputs: list) -> Path:
    document = {"strategies": [{
        "name": "MODEL_RULE",
        "nodes": {"score": {"kind": "model", "inputs": inputs, "params": {"file": "trees"}}},
        "entry": {"kind": "crosses_above", "inputs": ["score", 1.0]},
        "exit": {"kind": "crosses_below", "inputs": ["score", -1.0]},
    }]}  # fmt: skip
    path = tmp_path / "strategy.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


RSI_NODE = {"kind": "rsi", "inputs": ["close"], "params": {"period": 5}}
MOM_NODE = {"kind": "mom", "inputs": ["close"], "params": {"period": 3}}


def test_a_strategy_file_reads_a_model_directory_next_to_it(tmp_path):
    trees_model(tmp_path)
    [strategy] = load_strategy_file(_yaml(tmp_path, [RSI_NODE, MOM_NODE]))
    node = strategy.entry.inputs[0]
    assert node.kind == "model" and node.inputs == (RSI, MOM)
    assert str(node).startswith("model(rsi(close,5),mom(close,3),trees:")
    assert evaluate_vectorized([strategy], random_candles(2, 300))[strategy.strategy_id].any()


def test_a_model_whose_features_are_not_its_inputs_is_refused(tmp_path):
    trees_model(tmp_path)
    with pytest.raises(StrategyError, match=r"its features \['rsi\(close,5\)', 'mom\(close,3\)'\]"):
        load_strategy_file(_yaml(tmp_path, [MOM_NODE, RSI_NODE]))  # the order matters


def test_a_changed_model_file_is_refused(tmp_path):
    directory = mlp_model(tmp_path)
    data = bytearray((directory / "model.npz").read_bytes())
    data[-30] ^= 0xFF
    (directory / "model.npz").write_bytes(bytes(data))
    with pytest.raises(StrategyError, match="does not match the manifest's sha256"):
        load_model(directory)
    with pytest.raises(StrategyError, match="cannot read it"):
        load_model(tmp_path / "missing")


def test_a_nan_feature_gives_nan_and_a_dqn_holds(tmp_path):
    ref = load_model(mlp_model(tmp_path))
    from tradestream.strategies.models import ModelStep

    step = ModelStep(ref, 0)
    assert math.isnan(step.step(math.nan)) and step.step(60.0) == 1.0


def test_batch_and_one_row_inference_give_the_same_floats_for_random_networks(tmp_path):
    """The batch side (all rows at once) and the incremental side (one row) of a model with
    wide random layers, a random tree ensemble and a random Q-network agree bit for bit."""
    from tests.support.models import write_model
    from tradestream.strategies.models import ModelStep, model_values

    rng = np.random.default_rng(11)
    names = [f"f{i}" for i in range(7)]
    layers = {}
    width = 7
    for i, out in enumerate((33, 17, 1)):
        layers[f"w{i}"], layers[f"b{i}"] = rng.normal(size=(width, out)), rng.normal(size=out)
        width = out
    scale = {"x_mean": rng.normal(size=7), "x_scale": rng.uniform(0.5, 2.0, 7)}
    mlp = load_model(write_model(tmp_path / "m", "mlp", names, {**scale, **layers}))
    q = {"w0": rng.normal(size=(8, 24)), "b0": rng.normal(size=24),
         "w1": rng.normal(size=(24, 3)), "b1": rng.normal(size=3)}  # fmt: skip
    dqn_scale = {"x_mean": rng.normal(size=8), "x_scale": rng.uniform(0.5, 2.0, 8)}
    dqn = load_model(write_model(tmp_path / "d", "dqn", names, {**dqn_scale, **q}))
    x = rng.normal(size=(3000, 7))
    x[rng.random(3000) < 0.01, 2] = np.nan
    for ref in (mlp, dqn):
        batch = model_values(ref, x, 5)
        step = ModelStep(ref, 5)
        one = np.array([step.step(*row) for row in x.tolist()])
        np.testing.assert_array_equal(batch, one)
    assert (model_values(dqn, x, 5) != 0).sum() > 100
