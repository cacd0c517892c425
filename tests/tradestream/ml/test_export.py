"""Exported models compute what scikit-learn's fitted estimators predict.

The reference is the estimator's own `predict`; the exported side is the model node's
inference (tradestream/strategies/models.py): one candle at a time (`ModelStep`, the
incremental evaluator's) and all candles at once (`model_values`, the vectorized one's).
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.neural_network import MLPRegressor

from tradestream.ml.export import (
    dqn_arrays,
    mlp_arrays,
    npz_bytes,
    trees_arrays,
    write_model_dir,
)
from tradestream.strategies.models import ModelRef, ModelStep, load_model, model_values

FEATURES = ("a", "b", "c", "d")

# Short fits on purpose: the tests compare an export with its estimator, converged or not.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(seed: int = 0, rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, len(FEATURES)))
    y = np.tanh(z[:, 0]) + 0.5 * z[:, 1] * z[:, 2] + 0.1 * rng.normal(size=rows)
    return z, y


def _one_by_one(ref: ModelRef, x: np.ndarray) -> np.ndarray:
    step = ModelStep(ref, 0)
    return np.array([step.step(*row) for row in x.tolist()])


def _unscaled(kind: str, arrays: dict) -> ModelRef:
    return ModelRef(kind, kind, FEATURES, arrays)


def test_export_trees_value_is_the_boosters_prediction_to_1e_9():
    z, y = _data()
    booster = HistGradientBoostingRegressor(max_iter=40, max_leaf_nodes=7, random_state=0)
    booster.fit(z, y)
    ref = _unscaled("trees", trees_arrays(booster, np.zeros(4), np.ones(4), 0.0, 1.0))
    probe = np.random.default_rng(1).normal(size=(300, 4)) * 1.5

    expected = booster.predict(probe)
    one_by_one = _one_by_one(ref, probe)

    np.testing.assert_allclose(one_by_one, expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(model_values(ref, probe, 0), one_by_one)
    assert len(ref.arrays["roots"]) == booster.n_iter_


def test_export_trees_scales_leaves_back_to_the_targets_units():
    z, y = _data(2)
    mean, scale = 0.003, 0.02
    booster = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(z, y)
    ref = _unscaled("trees", trees_arrays(booster, np.zeros(4), np.ones(4), mean, scale))

    values = model_values(ref, z[:50], 0)

    np.testing.assert_allclose(values, booster.predict(z[:50]) * scale + mean, atol=1e-12)


def test_export_trees_standardises_the_inputs_it_was_fitted_on():
    rng = np.random.default_rng(8)
    x = rng.normal(loc=[5.0, -2.0, 0.0, 100.0], scale=[2.0, 0.1, 1.0, 30.0], size=(500, 4))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    z = (x - mean) / scale
    booster = HistGradientBoostingRegressor(max_iter=25, random_state=0).fit(z, z[:, 0] - z[:, 3])
    ref = _unscaled("trees", trees_arrays(booster, mean, scale, 0.0, 1.0))

    np.testing.assert_allclose(_one_by_one(ref, x[:100]), booster.predict(z[:100]), atol=1e-9)


def test_export_mlp_value_is_the_networks_prediction_to_1e_9():
    z, y = _data(3)
    network = MLPRegressor(hidden_layer_sizes=(8, 5), max_iter=60, random_state=0).fit(z, y)
    ref = _unscaled("mlp", mlp_arrays(network, np.zeros(4), np.ones(4), 0.0, 1.0))
    probe = np.random.default_rng(4).normal(size=(200, 4))

    one_by_one = _one_by_one(ref, probe)

    np.testing.assert_allclose(one_by_one, network.predict(probe), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(model_values(ref, probe, 0), one_by_one)
    assert [w.shape for w, _ in ref.layers()] == [(4, 8), (8, 5), (5, 1)]


def test_export_rejects_networks_the_format_cannot_hold():
    z, y = _data()
    network = MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", max_iter=5).fit(z, y)

    with pytest.raises(ValueError, match="ReLU"):
        mlp_arrays(network, np.zeros(4), np.ones(4), 0.0, 1.0)


def test_export_dqn_q_network_chooses_the_allowed_action_of_the_highest_q_value():
    z, _ = _data(5, rows=300)
    position = np.random.default_rng(6).integers(0, 2, size=300)
    states = np.column_stack([z, (position - 0.5) / 0.5])
    q = np.column_stack([z[:, 0], z[:, 1], -z[:, 1]])  # hold, buy, sell
    network = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(states, q)
    ref = ModelRef("d", "dqn", FEATURES, dqn_arrays(
        list(zip(network.coefs_, network.intercepts_, strict=True)),
        np.r_[np.zeros(4), 0.5], np.r_[np.ones(4), 0.5],
    ))  # fmt: skip

    values = _one_by_one(ref, z)

    held, expected = 0, []
    for row in z:
        flat, long_ = network.predict([[*row, -1.0], [*row, 1.0]])
        q_now = flat if held == 0 else long_
        allowed = [0, 1] if held == 0 else [0, 2]
        action = allowed[int(np.argmax(q_now[allowed]))]
        expected.append({0: 0.0, 1: 1.0, 2: -1.0}[action])
        held = {1: 1, 2: 0}.get(action, held)
    np.testing.assert_array_equal(values, expected)
    assert (values == 1).any() and (values == -1).any()


def test_npz_bytes_are_the_same_every_time_and_load_with_numpy():
    arrays = {"w0": np.arange(6.0).reshape(2, 3), "roots": np.array([0, 3]), "base": np.ones(1)}

    first, second = npz_bytes(arrays), npz_bytes(dict(reversed(arrays.items())))

    assert first == second
    with np.load(io.BytesIO(first), allow_pickle=False) as loaded:
        assert sorted(loaded.files) == ["base", "roots", "w0"]
        np.testing.assert_array_equal(loaded["w0"], arrays["w0"])
        assert loaded["roots"].dtype == np.int64


def test_write_model_dir_is_a_directory_load_model_accepts(tmp_path):
    z, y = _data()
    booster = HistGradientBoostingRegressor(max_iter=5, random_state=0).fit(z, y)
    arrays = trees_arrays(booster, np.zeros(4), np.ones(4), 0.0, 1.0)

    digest = write_model_dir(tmp_path / "m", "trees", FEATURES, arrays, "a score", {"seed": 1})
    ref = load_model(tmp_path / "m")

    assert digest == hashlib.sha256((tmp_path / "m" / "model.npz").read_bytes()).hexdigest()
    assert ref.sha256 == digest and ref.kind == "trees" and ref.features == FEATURES
