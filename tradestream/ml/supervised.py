"""The supervised model: the next `horizon` candles' return from the features at a candle.

    rows = training_rows(x, close, lookback, first, stop, horizon)
    fitted = fit_regressor(x[rows], labels(close, horizon)[rows], estimator="trees", seed=7)
    fitted.arrays        # the model directory's arrays (kind fitted.kind)

Label of candle t: ``close[t + horizon] / close[t] - 1``, the return a position opened at t's
close (the backtest's default fill) makes over the horizon. Labels look ahead; features never
do. A training window [first, stop) uses the candles t whose features are defined and whose
label ends inside it (``t + horizon < stop``), so no label reads the test window after it.

Inputs are standardised with the training rows' mean and standard deviation (a constant
feature keeps scale 1), and so is the label; the estimators fit those, and the export scales
their output back to a return (:mod:`tradestream.ml.export`).

Estimators (scikit-learn, every random choice from `seed`, one thread):
* ``trees``: `HistGradientBoostingRegressor` (squared error, `trees` boosting rounds, at most
  15 leaves a tree, learning rate 0.05, at least 50 rows a leaf, L2 1.0, no early stopping);
* ``mlp``: `MLPRegressor` with ReLU layers (default 32, 16), Adam, L2 1e-3, minibatches of
  256, at most `epochs` passes, early stopping on a seeded 10% of the training rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from tradestream.ml.export import mlp_arrays, trees_arrays

ESTIMATORS = ("trees", "mlp")


def labels(close: np.ndarray, horizon: int) -> np.ndarray:
    """The forward return over `horizon` candles (NaN for the last `horizon` candles)."""
    close = np.asarray(close, dtype=np.float64)
    out = np.full(close.shape[0], np.nan)
    if close.shape[0] > horizon:
        out[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    return out


def usable_rows(x: np.ndarray, lookback: int, first: int, stop: int) -> np.ndarray:
    """Indices in [first, stop) from the lookback on whose features are all finite."""
    first = max(first, lookback)
    if stop <= first:
        return np.zeros(0, dtype=np.int64)
    finite = np.isfinite(x[first:stop]).all(axis=1)
    return first + np.flatnonzero(finite)


def training_rows(x: np.ndarray, lookback: int, first: int, stop: int, horizon: int) -> np.ndarray:
    """The usable rows of [first, stop) whose label ends inside the window."""
    return usable_rows(x, lookback, first, max(first, stop - horizon))


def standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation (1 where a column is constant)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12 * np.maximum(np.abs(mean), 1.0), scale, 1.0)
    return mean, scale


@dataclass(frozen=True)
class Fitted:
    """A fitted supervised model: its kind, exported arrays and what it was fitted on."""

    kind: str  # "trees" or "mlp"
    arrays: dict[str, np.ndarray]
    estimator: object  # the scikit-learn estimator (fitted on standardised data)
    y_mean: float
    y_scale: float
    rows: int
    iterations: int


def fit_regressor(
    x: np.ndarray,
    y: np.ndarray,
    estimator: str,
    seed: int,
    trees: int = 200,
    hidden: tuple[int, ...] = (32, 16),
    epochs: int = 30,
) -> Fitted:
    """Fits the estimator on rows `x` (features) and `y` (returns) and exports it.

    Raises:
        ValueError: fewer than 20 rows, or an unknown estimator.
    """
    if x.shape[0] < 20:
        raise ValueError(f"{x.shape[0]} training rows; at least 20 are needed")
    x_mean, x_scale = standardisation(x)
    y_mean = float(y.mean())
    y_scale = float(y.std()) or 1.0
    z = (x - x_mean) / x_scale
    target = (y - y_mean) / y_scale
    if estimator == "trees":
        from sklearn.ensemble import HistGradientBoostingRegressor

        model = HistGradientBoostingRegressor(
            loss="squared_error",
            learning_rate=0.05,
            max_iter=trees,
            max_leaf_nodes=15,
            min_samples_leaf=50,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
        model.fit(z, target)
        arrays = trees_arrays(model, x_mean, x_scale, y_mean, y_scale)
        iterations = int(model.n_iter_)
    elif estimator == "mlp":
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        model = MLPRegressor(
            hidden_layer_sizes=hidden,
            activation="relu",
            solver="adam",
            alpha=1e-3,
            batch_size=256,
            learning_rate_init=1e-3,
            max_iter=epochs,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=5,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(z, target)
        arrays = mlp_arrays(model, x_mean, x_scale, y_mean, y_scale)
        iterations = int(model.n_iter_)
    else:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    return Fitted(estimator, arrays, model, y_mean, y_scale, int(x.shape[0]), iterations)
