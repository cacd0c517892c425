"""Model directories written by hand in the format of `tradestream train`
(tradestream/strategies/models.py), with outputs known without the inference code."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from tradestream.strategies import nodes as n
from tradestream.strategies.models import FORMAT

RSI = n.rsi(n.close, 5)
MOM = n.mom(n.close, 3)


def write_model(directory: Path, kind: str, features: list[str], arrays: dict) -> Path:
    """A model directory as `tradestream train` writes it (manifest hash of model.npz)."""
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    (directory / "model.npz").write_bytes(data)
    manifest = {"format": FORMAT, "kind": kind, "features": features, "output": "test",
                "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def mlp_model(tmp_path: Path) -> Path:
    # value = relu(2 * (rsi - 50) / 10) - 1: positive once RSI is above 55
    return write_model(tmp_path / "mlp", "mlp", [str(RSI)], {
        "x_mean": np.array([50.0]), "x_scale": np.array([10.0]),
        "w0": np.array([[2.0]]), "b0": np.array([0.0]),
        "w1": np.array([[1.0]]), "b1": np.array([-1.0]),
    })  # fmt: skip


def trees_model(tmp_path: Path) -> Path:
    # tree 1: rsi <= 50 -> -1 else +1; tree 2: mom <= 0 -> -0.5 else +0.5; base 0.25
    return write_model(tmp_path / "trees", "trees", [str(RSI), str(MOM)], {
        "x_mean": np.zeros(2), "x_scale": np.ones(2),
        "feature": np.array([0, 0, 0, 1, 0, 0], dtype=np.int64),
        "threshold": np.array([50.0, 0, 0, 0.0, 0, 0]),
        "left": np.array([1, -1, -1, 4, -1, -1], dtype=np.int64),
        "right": np.array([2, -1, -1, 5, -1, -1], dtype=np.int64),
        "value": np.array([0.0, -1.0, 1.0, 0.0, -0.5, 0.5]),
        "roots": np.array([0, 3], dtype=np.int64),
        "base": np.array([0.25]),
    })  # fmt: skip


def dqn_model(tmp_path: Path) -> Path:
    # Q(hold, buy, sell) = (0.1, mom, -mom): buy on momentum up (when flat), sell on down.
    return write_model(tmp_path / "dqn", "dqn", [str(MOM)], {
        "x_mean": np.zeros(2), "x_scale": np.ones(2),
        "w0": np.array([[0.0, 1.0, -1.0], [0.0, 0.0, 0.0]]), "b0": np.array([0.1, 0.0, 0.0]),
    })  # fmt: skip
