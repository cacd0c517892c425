"""Exported models compute what scikit-learn's fitted estimators predict.

The reference is the estimator's own `predict`; the exported side is the model node's
inference (tradestream/strategies/models.py), one candle at a time, and the batch inference
of the training report (tradestream/ml/inference.py).
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
from tradestream.ml.inference import model_values, trees_batch
from tradestream.strategies.models import ModelRef, ModelStep, load_model, mlp_forward, trees_value

FEATURES = ("a", "b", "c", "d")

# Short fits on purpose: the tests compare an export with its estimator, converged or not.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(seed: int = 0, rows: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(rows, len(FEATURES)))
    y = np.tanh(z[:, 0]) + 0.5 * z[:, 1] * z[:, 2] + 0.1 * rng.normal(size=rows)
    return z, y


def test_export_trees_value_is_the_boosters_prediction_to_1e_9():
    z, y = _data()
    booster = HistGradientBoostingRegressor(max_iter=40, max_leaf_nodes=7, random_state=0)
    booster.fit(z, y)
    arrays = trees_arrays(booster, np.zeros(4), np.ones(4), 0.0, 1.0)
    probe = np.random.default_rng(1).normal(size=(300, 4)) * 1.5

    expected = booster.predict(probe)
    one_by_one = np.array([trees_value(arrays, row) for row in probe])

    np.testing.assert_allclose(one_by_one, expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(trees_batch(arrays, probe), one_by_one)
    assert len(arrays["roots"]) == booster.n_iter_


def test_export_trees_scales_leaves_back_to_the_targets_units():
    z, y = _data(2)
    mean, scale = 0.003, 0.02
    booster = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(z, y)
    arrays = trees_arrays(booster, np.zeros(4), np.ones(4), mean, scale)

    values = np.array([trees_value(arrays, row) for row in z[:50]])

    np.testing.assert_allclose(values, booster.predict(z[:50]) * scale + mean, atol=1e-12)


def test_export_mlp_value_is_the_networks_prediction_to_1e_9():
    z, y = _data(3)
    network = MLPRegressor(hidden_layer_sizes=(8, 5), max_iter=60, random_state=0).fit(z, y)
    arrays = mlp_arrays(network, np.zeros(4), np.ones(4), 0.0, 1.0)
    layers = ModelRef("x", "mlp", FEATURES, arrays).layers()
    probe = np.random.default_rng(4).normal(size=(200, 4))

    one_by_one = np.array([mlp_forward(layers, row)[0] for row in probe])

    np.testing.assert_allclose(one_by_one, network.predict(probe), rtol=0, atol=1e-9)
    assert [w.shape for w, _ in layers] == [(4, 8), (8, 5), (5, 1)]


def test_export_rejects_networks_the_format_cannot_hold():
    z, y = _data()
    network = MLPRegressor(hidden_layer_sizes=(3,), activation="tanh", max_iter=5).fit(z, y)

    with pytest.raises(ValueError, match="ReLU"):
        mlp_arrays(network, np.zeros(4), np.ones(4), 0.0, 1.0)


def test_inference_batch_equals_the_model_node_step_by_step():
    z, y = _data(5)
    booster = HistGradientBoostingRegressor(max_iter=15, random_state=0).fit(z, y)
    x_mean, x_scale = np.array([0.1, -0.2, 0.0, 0.3]), np.array([1.5, 0.5, 2.0, 1.0])
    ref = ModelRef("t", "trees", FEATURES, trees_arrays(booster, x_mean, x_scale, 0.0, 1.0))
    x = np.random.default_rng(6).normal(size=(120, 4))
    x[40, 2] = np.nan  # a missing feature: NaN, as the node gives
    step = ModelStep(ref, 10)

    expected = [step.step(*row) for row in x.tolist()]

    np.testing.assert_array_equal(model_values(ref, x, 10), expected)


def test_inference_dqn_actions_equal_the_model_node_with_its_position():
    rng = np.random.default_rng(7)
    layers = [
        (rng.normal(size=(5, 6)), rng.normal(size=6)),
        (rng.normal(size=(6, 3)), rng.normal(size=3)),
    ]
    arrays = dqn_arrays(layers, np.zeros(5), np.ones(5))
    ref = ModelRef("d", "dqn", FEATURES, arrays)
    x = rng.normal(size=(300, 4))
    step = ModelStep(ref, 3)

    expected = [step.step(*row) for row in x.tolist()]
    values = model_values(ref, x, 3)

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
