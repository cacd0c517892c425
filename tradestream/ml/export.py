"""Fitted scikit-learn estimators as the arrays of a model directory, written reproducibly.

    arrays = trees_arrays(booster, x_mean, x_scale, y_mean, y_scale)   # kind "trees"
    arrays = mlp_arrays(network, x_mean, x_scale, y_mean, y_scale)     # kind "mlp"
    arrays = dqn_arrays(q_network, x_mean, x_scale)                    # kind "dqn"
    sha256 = write_model_dir(DIR, kind, features, arrays, output, record)

The format is the contract of :mod:`tradestream.strategies.models` (``tradestream-model/1``):
``DIR/model.npz`` holds the arrays, ``DIR/manifest.json`` the format, kind, features (node
texts in input order), the sha256 of model.npz's bytes, what the output means, and the
training record. Nothing is trained here: the estimators' fitted parameters are copied out.

* trees: a fitted `HistGradientBoostingRegressor` (squared error) predicts ``baseline + sum
  of the leaves reached``, a sample going left when ``x[feature] <= threshold``; its trees'
  node tables (``_predictors``) are concatenated, child indices shifted by each tree's offset.
  The booster was fitted on standardised inputs and a standardised target ``(y - y_mean) /
  y_scale``, so leaves and baseline are scaled back: the node's value is in the target's
  units (a return), and the booster's thresholds stay in the standardised input space.
* mlp: `MLPRegressor` (ReLU, identity output) layers as ``w0, b0, ...``; the last layer is
  scaled back to the target's units the same way.
* dqn: the Q-network's layers as they are (3 outputs: hold, buy, sell); only their order
  matters.

model.npz is written byte for byte the same for the same arrays (sorted names, fixed zip
times; numpy's `savez` stamps the current time), so the same training gives the same sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tradestream.strategies.models import FORMAT

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def trees_arrays(
    booster: Any, x_mean: np.ndarray, x_scale: np.ndarray, y_mean: float, y_scale: float
) -> dict[str, np.ndarray]:
    """The ``trees`` arrays of a fitted single-output HistGradientBoostingRegressor.

    Raises:
        ValueError: a booster with categorical splits or more than one output.
    """
    tables = [per_iteration[0].nodes for per_iteration in booster._predictors]
    if any(len(per_iteration) != 1 for per_iteration in booster._predictors):
        raise ValueError("only single-output boosters can be exported")
    if any(t["is_categorical"].any() for t in tables):
        raise ValueError("categorical splits cannot be exported")
    offsets = np.cumsum([0] + [len(t) for t in tables[:-1]]).astype(np.int64)
    feature, threshold, left, right, value = [], [], [], [], []
    for offset, table in zip(offsets.tolist(), tables, strict=True):
        leaf = table["is_leaf"].astype(bool)
        feature.append(np.where(leaf, -1, table["feature_idx"]).astype(np.int64))
        threshold.append(np.where(leaf, 0.0, table["num_threshold"]).astype(np.float64))
        left.append(np.where(leaf, -1, table["left"].astype(np.int64) + offset))
        right.append(np.where(leaf, -1, table["right"].astype(np.int64) + offset))
        value.append(np.where(leaf, table["value"] * y_scale, 0.0))
    base = float(np.asarray(booster._baseline_prediction).reshape(-1)[0]) * y_scale + y_mean
    return {
        "x_mean": np.asarray(x_mean, dtype=np.float64),
        "x_scale": np.asarray(x_scale, dtype=np.float64),
        "feature": np.concatenate(feature),
        "threshold": np.concatenate(threshold),
        "left": np.concatenate(left),
        "right": np.concatenate(right),
        "value": np.concatenate(value).astype(np.float64),
        "roots": offsets,
        "base": np.array([base], dtype=np.float64),
    }


def network_layers(network: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fitted MLPRegressor's (weights, biases) per layer, copied.

    Raises:
        ValueError: an activation other than ReLU (the format's only one).
    """
    if network.activation != "relu" or network.out_activation_ != "identity":
        raise ValueError("only ReLU networks with an identity output can be exported")
    return [
        (np.array(w, dtype=np.float64), np.array(b, dtype=np.float64))
        for w, b in zip(network.coefs_, network.intercepts_, strict=True)
    ]


def _layer_arrays(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    out = {}
    for i, (w, b) in enumerate(layers):
        out[f"w{i}"], out[f"b{i}"] = w, b
    return out


def mlp_arrays(
    network: Any, x_mean: np.ndarray, x_scale: np.ndarray, y_mean: float, y_scale: float
) -> dict[str, np.ndarray]:
    """The ``mlp`` arrays of a fitted one-output MLPRegressor (output in the target's units)."""
    layers = network_layers(network)
    w, b = layers[-1]
    layers[-1] = (w * y_scale, b * y_scale + y_mean)
    return {
        "x_mean": np.asarray(x_mean, dtype=np.float64),
        "x_scale": np.asarray(x_scale, dtype=np.float64),
        **_layer_arrays(layers),
    }


def dqn_arrays(
    layers: Sequence[tuple[np.ndarray, np.ndarray]], x_mean: np.ndarray, x_scale: np.ndarray
) -> dict[str, np.ndarray]:
    """The ``dqn`` arrays: the Q-network's layers; x_mean/x_scale end with the position's."""
    return {
        "x_mean": np.asarray(x_mean, dtype=np.float64),
        "x_scale": np.asarray(x_scale, dtype=np.float64),
        **_layer_arrays([(np.array(w), np.array(b)) for w, b in layers]),
    }


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An .npz archive of `arrays` (what np.load reads) whose bytes depend on the arrays only."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(
                member, np.ascontiguousarray(arrays[name]), allow_pickle=False
            )
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def write_model_dir(
    directory: str | Path,
    kind: str,
    features: Sequence[str],
    arrays: Mapping[str, np.ndarray],
    output: str,
    record: Mapping[str, Any],
) -> str:
    """Writes DIR/model.npz and DIR/manifest.json; returns the sha256 of model.npz.

    Args:
        directory: created if missing.
        kind: "mlp", "trees" or "dqn".
        features: the input nodes' texts, in input order.
        arrays: the kind's arrays.
        output: what the node's value means, for people.
        record: the training record, merged into the manifest (free form, JSON-able).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = npz_bytes(arrays)
    digest = hashlib.sha256(data).hexdigest()
    (directory / "model.npz").write_bytes(data)
    manifest = {
        "format": FORMAT,
        "kind": kind,
        "features": list(features),
        "sha256": digest,
        "output": output,
        **record,
    }
    text = json.dumps(manifest, indent=2, allow_nan=False, default=_json_default)
    (directory / "manifest.json").write_text(text + "\n", encoding="utf-8")
    return digest


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"not JSON: {value!r}")
