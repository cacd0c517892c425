"""A model directory's values over a whole feature matrix at once, for training reports.

    values = model_values(ref, x, lookback)

The same values as the model node (:class:`tradestream.strategies.models.ModelStep`, which the
evaluators run one candle at a time), computed over all rows together: trees level by level
over every row (the leaves are added tree by tree in the order of ``roots``, as the node adds
them, so the sums are the same floats), networks as matrix products, and a dqn's
position-dependent choices from its Q-values for both positions, then one pass over the rows
for the position. Rows before `lookback`, or with a NaN feature, are NaN (a dqn holds: 0).
"""

from __future__ import annotations

import numpy as np

from tradestream.strategies.models import BUY, HOLD, SELL, ModelRef


def _standardised(ref: ModelRef, x: np.ndarray) -> np.ndarray:
    return (x - ref.arrays["x_mean"]) / ref.arrays["x_scale"]


def forward(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """(rows, inputs) -> (rows, outputs) through ReLU layers (none after the last)."""
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < last:
            x = np.maximum(x, 0.0)
    return x


def trees_batch(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """(rows, features) standardised -> the summed trees' value per row."""
    feature, threshold = arrays["feature"], arrays["threshold"]
    left, right, value = arrays["left"], arrays["right"], arrays["value"]
    rows = np.arange(x.shape[0])
    total = np.full(x.shape[0], float(arrays["base"][0]))
    for root in arrays["roots"].tolist():
        node = np.full(x.shape[0], root, dtype=np.int64)
        inner = left[node] >= 0
        while inner.any():
            at = node[inner]
            goes_left = x[rows[inner], feature[at]] <= threshold[at]
            node[inner] = np.where(goes_left, left[at], right[at])
            inner = left[node] >= 0
        total += value[node]
    return total


def dqn_actions(ref: ModelRef, x: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """+1 buy, -1 sell, 0 hold per row, the agent's own position carried along."""
    rows = x.shape[0]
    layers = ref.layers()
    preferred = []
    for position in (0.0, 1.0):
        q = forward(layers, _standardised(ref, np.column_stack([x, np.full(rows, position)])))
        order = np.argsort(-q, axis=1, kind="stable")
        preferred.append(order)
    out = np.zeros(rows, dtype=np.float64)
    position = 0
    for t in np.flatnonzero(usable).tolist():
        for action in preferred[position][t].tolist():
            if action == BUY and position == 0:
                position, out[t] = 1, 1.0
                break
            if action == SELL and position == 1:
                position, out[t] = 0, -1.0
                break
            if action == HOLD:
                break
    return out


def model_values(ref: ModelRef, x: np.ndarray, lookback: int) -> np.ndarray:
    """The model node's value at every row of the (n, k) feature matrix `x`."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    usable = ~np.isnan(x).any(axis=1)
    usable[: min(lookback, n)] = False
    if ref.kind == "dqn":
        return dqn_actions(ref, np.where(usable[:, None], x, 0.0), usable)
    out = np.full(n, np.nan)
    if not usable.any():
        return out
    z = _standardised(ref, x[usable])
    if ref.kind == "trees":
        out[usable] = trees_batch(ref.arrays, z)
    else:
        out[usable] = forward(ref.layers(), z)[:, 0]
    return out
