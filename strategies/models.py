"""Trained models as graph nodes: the model file format and its inference, in both evaluators.

A ``model`` node (``{kind: model, inputs: [f1, f2, ...], params: {file: DIR}}`` in a strategy
file; ``model_node(ref, *features)`` in Python) outputs one value per candle from a model
trained by ``tradestream train`` (``tradestream/ml/``). Inference is plain numpy over float64,
one candle at a time, the same function in the vectorized and the incremental evaluator (the
vectorized side runs the recurrence row by row), so both give bit-identical values.

**A model directory** (what ``tradestream train --output DIR`` writes):

- ``DIR/model.npz``: the model's arrays (below);
- ``DIR/manifest.json``: ``format`` (``"tradestream-model/1"``), ``kind`` (``"mlp"``,
  ``"trees"`` or ``"dqn"``), ``features`` (the input nodes as text, e.g. ``"rsi(close,14)"``,
  in input order), ``sha256`` (of ``model.npz``'s bytes), ``output`` (what the value means),
  and the training record (data range, folds, seed, library versions; free form);
- ``DIR/strategy.yaml``: a strategy file whose graph reads it.

**Arrays** (float64 unless said):

- every kind: ``x_mean`` and ``x_scale`` (one per input feature; features are standardised as
  ``(x - x_mean) / x_scale`` first);
- ``mlp`` (a regressor or a classifier's decision score): ``w0, b0, w1, b1, ...`` with ReLU
  between layers and none after the last, whose single output is the node's value;
- ``trees`` (gradient-boosted regression trees, summed): ``feature`` (int64), ``threshold``,
  ``left`` and ``right`` (int64, -1 at leaves), ``value`` (a leaf's contribution, learning
  rate included), ``roots`` (int64: each tree's root index), ``base`` (shape (1,)); a sample
  goes left when its feature is ``<= threshold`` (NaN goes right); the value is ``base`` plus
  the leaves reached;
- ``dqn`` (a Deep-Q-Network trader): an ``mlp`` of ``n + 1`` inputs (the features, then the
  agent's position, 0 flat or 1 long, standardised with the last ``x_mean``/``x_scale``
  entry) and 3 outputs, the Q-values of (hold, buy, sell). The node keeps the agent's own
  position (plain state): each candle it takes the action of the highest Q-value (the first
  on a tie) that is allowed (buy only when flat, sell only when long; else hold) and outputs
  +1 for buy, -1 for sell, 0 for hold.

Before every input is defined (the inputs' lookback) the value is NaN and a dqn holds.
A NaN feature later gives NaN (a dqn holds).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradestream.strategies.errors import StrategyError

FORMAT = "tradestream-model/1"
KINDS = ("mlp", "trees", "dqn")
HOLD, BUY, SELL = 0, 1, 2  # a dqn's outputs, in this order


@dataclass(frozen=True, eq=False)
class ModelRef:
    """A loaded model: its identity (sha256 of model.npz) and arrays. Equal and hashed by
    the sha256, so two nodes of one model are one node."""

    sha256: str
    kind: str
    features: tuple[str, ...]
    arrays: dict[str, np.ndarray] = field(repr=False)
    path: str = ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelRef) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __str__(self) -> str:
        return f"{self.kind}:{self.sha256[:12]}"

    def layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        out, i = [], 0
        while f"w{i}" in self.arrays:
            out.append((self.arrays[f"w{i}"], self.arrays[f"b{i}"]))
            i += 1
        return out


def load_model(directory: str | Path) -> ModelRef:
    """Loads ``DIR/manifest.json`` and ``DIR/model.npz``, checking the format and the hash.

    Raises:
        StrategyError: missing files, another format, a hash that does not match, or arrays
            that do not fit the kind (the message names the directory).
    """
    directory = Path(directory)
    manifest_path, npz_path = directory / "manifest.json", directory / "model.npz"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        data = npz_path.read_bytes()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StrategyError(f"model {directory}: cannot read it: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StrategyError(f"model {directory}: manifest.json is not a {FORMAT} manifest")
    digest = hashlib.sha256(data).hexdigest()
    if manifest.get("sha256") != digest:
        raise StrategyError(
            f"model {directory}: model.npz does not match the manifest's sha256 "
            f"({digest[:12]} != {str(manifest.get('sha256'))[:12]}): a changed or damaged file"
        )
    kind = manifest.get("kind")
    features = manifest.get("features")
    if kind not in KINDS or not isinstance(features, list) or not features:
        raise StrategyError(f"model {directory}: manifest needs a kind {KINDS} and features")
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {name: np.array(npz[name]) for name in npz.files}
    ref = ModelRef(digest, kind, tuple(str(f) for f in features), arrays, str(directory))
    _check_arrays(ref)
    return ref


def _check_arrays(ref: ModelRef) -> None:
    n = len(ref.features) + (1 if ref.kind == "dqn" else 0)
    a = ref.arrays
    problem = None
    if a.get("x_mean", np.zeros(0)).shape != (n,) or a.get("x_scale", np.zeros(0)).shape != (n,):
        problem = f"x_mean and x_scale must have {n} entries"
    elif ref.kind in ("mlp", "dqn"):
        layers = ref.layers()
        width = n
        for w, b in layers:
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                problem = "layer shapes do not chain"
                break
            width = w.shape[1]
        if problem is None and (not layers or width != (3 if ref.kind == "dqn" else 1)):
            problem = f"the last layer must have {3 if ref.kind == 'dqn' else 1} output(s)"
    else:
        needed = ("feature", "threshold", "left", "right", "value", "roots", "base")
        if any(k not in a for k in needed):
            problem = f"trees need arrays {needed}"
    if problem:
        raise StrategyError(f"model {ref.path or ref.sha256[:12]}: {problem}")


def _standardised(ref: ModelRef, x: np.ndarray) -> np.ndarray:
    return (x - ref.arrays["x_mean"]) / ref.arrays["x_scale"]


def forward(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """(rows, inputs) -> (rows, outputs) through the layers (ReLU between them).

    Each output is accumulated input by input in a fixed order (``b + x0 w0 + x1 w1 + ...``),
    element-wise: a row gets the same floats whether it is computed alone or with others (a
    matrix product may sum in another order for another number of rows).
    """
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        out = np.broadcast_to(b, (x.shape[0], b.shape[0])).copy()
        for k in range(w.shape[0]):
            out += x[:, k : k + 1] * w[k]
        x = np.maximum(out, 0.0) if i < last else out
    return x


def trees_batch(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """(rows, features) standardised -> the summed trees' value per row (leaves added tree by
    tree in the order of ``roots``: the same floats for one row or many)."""
    feature, threshold = arrays["feature"], arrays["threshold"]
    left, right, value = arrays["left"], arrays["right"], arrays["value"]
    rows = np.arange(x.shape[0])
    total = np.full(x.shape[0], float(arrays["base"][0]))
    for root in arrays["roots"].tolist():
        node = np.full(x.shape[0], root, dtype=np.int64)
        inner = left[node] >= 0
        while inner.any():
            at = node[inner]
            goes_left = x[rows[inner], feature[at]] <= threshold[at]  # NaN goes right
            node[inner] = np.where(goes_left, left[at], right[at])
            inner = left[node] >= 0
        total += value[node]
    return total


def _dqn_preferences(ref: ModelRef, x: np.ndarray) -> list[np.ndarray]:
    """For position 0 and 1: each row's actions, best Q-value first (ties: hold, buy, sell)."""
    rows = x.shape[0]
    out = []
    for position in (0.0, 1.0):
        q = forward(ref.layers(), _standardised(ref, np.column_stack([x, np.full(rows, position)])))
        out.append(np.argsort(-q, axis=1, kind="stable"))
    return out


def _dqn_act(preferred: list[int], position: int) -> tuple[float, int]:
    """The first allowed action of a preference list -> (value, new position)."""
    for action in preferred:
        if action == BUY and position == 0:
            return 1.0, 1
        if action == SELL and position == 1:
            return -1.0, 0
        if action == HOLD:
            return 0.0, position
    return 0.0, position


def model_values(ref: ModelRef, x: np.ndarray, lookback: int) -> np.ndarray:
    """The model node's value at every row of the (rows, features) matrix `x` (the batch
    side; `ModelStep` gives the same floats one row at a time)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, len(ref.features))
    n = x.shape[0]
    usable = ~np.isnan(x).any(axis=1)
    usable[: min(lookback, n)] = False
    if ref.kind == "dqn":
        out = np.zeros(n, dtype=np.float64)
        if usable.any():
            preferred = _dqn_preferences(ref, np.where(usable[:, None], x, 0.0))
            position = 0
            for t in np.flatnonzero(usable).tolist():
                out[t], position = _dqn_act(preferred[position][t].tolist(), position)
        return out
    out = np.full(n, np.nan)
    if usable.any():
        z = _standardised(ref, x[usable])
        if ref.kind == "trees":
            out[usable] = trees_batch(ref.arrays, z)
        else:
            out[usable] = forward(ref.layers(), z)[:, 0]
    return out


class ModelStep:
    """The model node one candle at a time (the incremental evaluator's side): the batch
    functions above on a one-row matrix, so both evaluators give the same floats."""

    __slots__ = ("ref", "lookback", "seen", "position")

    def __init__(self, ref: ModelRef, input_lookback: int) -> None:
        self.ref = ref
        self.lookback = input_lookback
        self.seen = 0
        self.position = 0

    def step(self, *features: float) -> float:
        t = self.seen
        self.seen = t + 1
        if t < self.lookback or any(f != f for f in features):
            return 0.0 if self.ref.kind == "dqn" else math.nan
        x = np.asarray([features], dtype=np.float64)
        if self.ref.kind == "dqn":
            preferred = _dqn_preferences(self.ref, x)[self.position][0].tolist()
            value, self.position = _dqn_act(preferred, self.position)
            return value
        z = _standardised(self.ref, x)
        if self.ref.kind == "trees":
            return float(trees_batch(self.ref.arrays, z)[0])
        return float(forward(self.ref.layers(), z)[0, 0])

    def get_state(self) -> list[Any]:
        return [self.seen, self.position]

    def set_state(self, state: list[Any]) -> None:
        if not isinstance(state, list) or len(state) != 2:
            raise StrategyError("model node: malformed state")
        self.seen, self.position = int(state[0]), int(state[1])


def check_features(ref: ModelRef, inputs: list[str], where: str) -> None:
    """Refuses a model whose manifest's features are not these input nodes, in order."""
    if list(ref.features) != list(inputs):
        raise StrategyError(
            f"{where}: model {ref.path or ref}: its features {list(ref.features)} do not match "
            f"the node's inputs {list(inputs)} (the graph it was trained for must feed it)"
        )
