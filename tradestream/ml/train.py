"""`tradestream train`'s work: read candles, train on walk-forward folds, export, evaluate.

    result = train(TrainConfig(model="classifier", inputs=("trades.csv",), output="m/",
                               seed=7), log=print)

Steps (each says so on `log`, the command's stderr as `[train] ...`):

1. One symbol's candles from the inputs (:mod:`tradestream.ml.data`), the feature nodes
   (:mod:`tradestream.ml.features`: the default set, or the values the rules of
   `--strategy`/`--strategies` compare) computed over them.
2. The walk-forward folds of :mod:`tradestream.optimize.walk_forward` (`--train`/`--test`,
   rolling or anchored; without them, training windows of half the data and four test
   windows of an eighth each). On each fold a model is trained on the training window only:
   the supervised model (:mod:`tradestream.ml.supervised`) or the DQN agent
   (:mod:`tradestream.ml.dqn`).
3. Each fold's model trades its strategy (the same rules as DIR/strategy.yaml) on its training
   window (in-sample) and its test window (out-of-sample), beside buy-and-hold and the classic
   library: every library strategy with its defaults, the best of them in-sample (per-candle
   Sharpe) reported out-of-sample (:mod:`tradestream.ml.evaluate`). Over all test windows
   together: the deflated Sharpe ratio of the model strategy and of that classic pick, the
   trials being every strategy tried on those candles (the model, buy-and-hold, each library
   strategy).
4. The final model, trained as the next fold would be (on the last `--train` of data, rolling,
   or on all of it, anchored), is written to DIR: model.npz and manifest.json (the format of
   :mod:`tradestream.strategies.models`, with the training record), strategy.yaml (a strategy
   file whose rules read the model node) and report.html.

Supervised models trade ``crosses_above(model, threshold)`` / ``crosses_below(model,
-threshold)``: the predicted return rising above the threshold buys, falling below its
negative sells. The threshold is `--threshold`, or by default the `--quantile` of the
absolute predictions on the model's own training rows. A DQN trades ``above(model, 0.5)`` /
``below(model, -0.5)``: its buy (+1) and sell (-1) actions.

Reproducible: every random choice derives from `seed` (fold k's estimators from
``default_rng([seed, k])``, the final model's from ``[seed, folds]``), scikit-learn and BLAS
run on one thread, and model.npz is written byte for byte the same, so the same command gives
the same sha256.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.files import resolve_inputs
from tradestream.backtest.series import CandleSeries
from tradestream.ml.data import load_series
from tradestream.ml.dqn import DQNConfig, train_dqn
from tradestream.ml.evaluate import (
    best_in_sample,
    buy_and_hold,
    classic_signals,
    classic_strategies,
    model_signals,
    window_stats,
)
from tradestream.ml.export import npz_bytes, write_model_dir
from tradestream.ml.features import default_features, feature_matrix, node_spec, strategy_features
from tradestream.ml.supervised import fit_regressor, labels, training_rows, usable_rows
from tradestream.optimize.overfitting import (
    deflated_sharpe_ratio,
    moments_from_blocks,
    sharpe_from_sums,
)
from tradestream.optimize.walk_forward import Fold, Window, final_window, walk_forward_folds
from tradestream.strategies import nodes as n
from tradestream.strategies.graph import Node
from tradestream.strategies.models import ModelRef, model_values
from tradestream.strategies.strategy import Strategy

MODELS = ("classifier", "dqn")
DAY_MS = 86_400_000


class TrainError(ValueError):
    """A problem with the inputs or settings, said in one line."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything `tradestream train` was asked (the command's flags)."""

    model: str
    inputs: tuple[str, ...]
    output: str
    seed: int = 0
    estimator: str = "trees"
    strategies: tuple[Strategy, ...] = ()  # features from these; () for the default set
    symbol: str | None = None
    input_format: str = "auto"
    candle_interval_ms: int = 60_000
    max_gap: int = 60
    horizon: int = 5
    train_ms: int | None = None
    test_ms: int | None = None
    walk_forward: str = "rolling"
    threshold: float | None = None
    quantile: float = 0.9
    trees: int = 200
    hidden: tuple[int, ...] = (32, 16)
    epochs: int = 30
    dqn: DQNConfig = field(default_factory=DQNConfig)
    execution: ExecutionConfig = field(default_factory=lambda: ExecutionConfig(fee=0.001))
    classic: bool = True

    @property
    def kind(self) -> str:
        return "dqn" if self.model == "dqn" else self.estimator


@dataclass(frozen=True)
class TrainResult:
    directory: Path
    sha256: str
    manifest: dict[str, Any]
    seconds: float


@dataclass
class _Trained:
    """One trained model (a fold's or the final one) and its strategy."""

    ref: ModelRef
    threshold: float | None
    info: dict[str, Any]
    node: Node = field(init=False)
    strategy: Strategy = field(init=False)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window_json(window: Window) -> dict[str, str]:
    return {"start": iso(window.start_ms), "end": iso(window.end_ms)}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import scipy
    import sklearn

    try:
        tradestream_version = version("tradestream")
    except PackageNotFoundError:  # run from a source tree that is not installed
        tradestream_version = "unknown"
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "scipy": scipy.__version__,
        "tradestream": tradestream_version,
    }


def strategy_rules(kind: str, model: Node, threshold: float | None) -> tuple[Node, Node]:
    """The entry and exit rules that trade a model node (module docstring)."""
    if kind == "dqn":
        return n.above(model, 0.5), n.below(model, -0.5)
    return n.crosses_above(model, threshold), n.crosses_below(model, -threshold)


def strategy_name(kind: str) -> str:
    return f"ML_{kind.upper()}"


def _attach(trained: _Trained, kind: str, features: Sequence[Node]) -> _Trained:
    trained.node = n.model_node(trained.ref, *features)
    entry, exit_ = strategy_rules(kind, trained.node, trained.threshold)
    trained.strategy = Strategy(strategy_name(kind), {}, entry, exit_)
    return trained


def _seed_for(seed: int, index: int) -> int:
    return int(np.random.default_rng([seed, index]).integers(2**31 - 1))


def _fit(
    config: TrainConfig,
    series: CandleSeries,
    x: np.ndarray,
    lookback: int,
    window: tuple[int, int],
    features: Sequence[Node],
    index: int,
) -> _Trained:
    """Trains one model on the candles [first, stop) of the series."""
    first, stop = window
    series_close = series.close
    where = "an empty training window"
    if stop > first:
        start_ms, last_ms = int(series.start_ms[first]), int(series.start_ms[stop - 1])
        where = f"training window {iso(start_ms)} .. {iso(last_ms)}"
    seed = _seed_for(config.seed, index)
    texts = tuple(str(f) for f in features)
    if config.kind == "dqn":
        rows = usable_rows(x, lookback, first, stop)
        try:
            agent = train_dqn(x, series_close, rows, config.dqn, seed)
        except ValueError as error:
            raise TrainError(f"{where}: {error}") from None
        info = {
            "rows": int(rows.size),
            "updates": agent.updates,
            "episodes": agent.episodes,
            "reward_scale": agent.reward_scale,
            "final_mean_reward": agent.mean_reward,
            "random_state": seed,
        }
        ref = _ref(config.kind, texts, agent.arrays)
        return _attach(_Trained(ref, None, info), config.kind, features)
    rows = training_rows(x, lookback, first, stop, config.horizon)
    y = labels(series_close, config.horizon)
    try:
        fitted = fit_regressor(
            x[rows], y[rows], config.estimator, seed, config.trees, config.hidden, config.epochs
        )
    except ValueError as error:
        raise TrainError(f"{where}: {error}") from None
    ref = _ref(config.kind, texts, fitted.arrays)
    threshold = config.threshold
    if threshold is None:
        predicted = model_values(ref, x[rows], 0)
        threshold = float(np.quantile(np.abs(predicted), config.quantile))
    info = {
        "rows": fitted.rows,
        "iterations": fitted.iterations,
        "label_mean": fitted.y_mean,
        "label_std": fitted.y_scale,
        "random_state": seed,
    }
    return _attach(_Trained(ref, threshold, info), config.kind, features)


def _ref(kind: str, features: tuple[str, ...], arrays: dict[str, np.ndarray]) -> ModelRef:
    digest = hashlib.sha256(npz_bytes(arrays)).hexdigest()
    return ModelRef(digest, kind, features, arrays)


def _folds(config: TrainConfig, first_ms: int, end_ms: int) -> tuple[list[Fold], int, int]:
    """The folds, and the train and test lengths used."""
    span = end_ms - first_ms
    train_ms = config.train_ms if config.train_ms is not None else span // 2
    test_ms = config.test_ms if config.test_ms is not None else span // 8
    if train_ms <= 0 or test_ms <= 0:
        raise TrainError("the data is too short to split into folds")
    try:
        folds = walk_forward_folds(first_ms, end_ms, train_ms, test_ms, config.walk_forward)
    except ValueError as error:
        raise TrainError(str(error)) from None
    return folds, train_ms, test_ms


def _window_signals(
    trained: _Trained,
    features: Sequence[Node],
    x: np.ndarray,
    lookback: int,
    series: CandleSeries,
    window: tuple[int, int],
) -> np.ndarray:
    """The model strategy's signals for the window [first, stop) (zeros elsewhere).

    The model node's values are computed from two candles before the window (enough for its
    rules' crossings and their rising edges); a DQN agent starts there flat, as the
    simulated account does at the window's start."""
    first, stop = max(0, window[0] - 2), window[1]
    values = np.full(x.shape[0], 0.0 if trained.ref.kind == "dqn" else np.nan)
    if stop > first:
        values[first:stop] = model_values(trained.ref, x[first:stop], max(0, lookback - first))
    return model_signals(trained.strategy, trained.node, features, x, values, series)


def _dsr_json(sums: np.ndarray, trial_sharpes: np.ndarray) -> dict[str, Any]:
    result = deflated_sharpe_ratio(moments_from_blocks(sums[None, :]), trial_sharpes)
    return {
        k: (v if not isinstance(v, float) or math.isfinite(v) else None)
        for k, v in asdict(result).items()
    }


def train(config: TrainConfig, log: Callable[[str], None] = lambda line: None) -> TrainResult:
    """Runs the whole training (module docstring) and writes DIR.

    Raises:
        TrainError: bad settings or inputs (one line).
        TradeFileError: unreadable inputs.
        StrategyError: features that cannot be computed or written.
    """
    # The native libraries must be loaded before their thread pools can be limited: BLAS
    # (numpy) and scikit-learn's OpenMP. One thread gives the same sums every run, and on a
    # busy machine OpenMP's spinning threads made a small booster 10x slower (measured).
    import sklearn.ensemble  # noqa: F401
    import sklearn.neural_network  # noqa: F401
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    # What can be checked before reading anything is, so that its error is the only line.
    if config.model not in MODELS:
        raise TrainError(f"--model must be one of {', '.join(MODELS)}, got {config.model!r}")
    if (config.train_ms is None) != (config.test_ms is None):
        raise TrainError("--train and --test go together (or neither: half and eighths)")
    output = Path(config.output)
    if output.exists() and not output.is_dir():
        raise TrainError(f"--output {output}: exists and is not a directory")
    resolve_inputs(config.inputs, config.input_format)
    with threadpool_limits(limits=1):
        return _train(config, output, started, log)


def _train(config: TrainConfig, output: Path, started: float, log) -> TrainResult:
    log(f"{config.model} ({config.kind}), seed {config.seed}: reading {', '.join(config.inputs)}")
    loaded = load_series(
        config.inputs, config.candle_interval_ms, config.symbol, config.input_format, config.max_gap
    )
    series = loaded.series
    if len(loaded.symbols) > 1 and config.symbol is None:
        log(
            f"the inputs hold {', '.join(loaded.symbols)}; training on {series.symbol} "
            "(--symbol to choose)"
        )
    if loaded.rejected:
        log("unusable rows: " + ", ".join(f"{k} {v}" for k, v in sorted(loaded.rejected.items())))
    if len(series) < 50:
        raise TrainError(f"{series.symbol}: {len(series)} candles; training needs at least 50")
    interval = series.interval_ms
    first_ms, end_ms = int(series.start_ms[0]), int(series.start_ms[-1]) + interval
    log(
        f"{series.symbol}: {len(series):,} candles of {interval // 1000}s, "
        f"{iso(first_ms)} .. {iso(end_ms)}"
    )

    features = strategy_features(config.strategies) if config.strategies else default_features()
    for feature in features:
        node_spec(feature)  # a feature the strategy file cannot spell fails now
    x, lookback = feature_matrix(features, series.arrays())
    log(
        f"{len(features)} features ({', '.join(str(f) for f in features)}), defined from "
        f"candle {lookback}"
    )
    folds, train_ms, test_ms = _folds(config, first_ms, end_ms)
    log(
        f"{len(folds)} walk-forward folds ({config.walk_forward}): train "
        f"{train_ms / DAY_MS:.3g} d, test {test_ms / DAY_MS:.3g} d"
    )

    execution = config.execution
    classics = classic_strategies(interval) if config.classic else []
    classic_matrix = np.zeros((0, len(series)), dtype=np.int8)
    if classics:
        t0 = time.perf_counter()
        classic_matrix = classic_signals(classics, series)
        log(
            f"{len(classics)} classic library strategies evaluated "
            f"({time.perf_counter() - t0:.1f} s)"
        )

    fold_rows, curves = [], []
    oos_sums = {"model": np.zeros(5), "buy_and_hold": np.zeros(5), "classic_pick": np.zeros(5)}
    classic_oos_sums = np.zeros((len(classics), 5))
    train_seconds = 0.0
    for fold in folds:
        train_w = fold.train.indices(series.start_ms)
        test_w = fold.test.indices(series.start_ms)
        t0 = time.perf_counter()
        trained = _fit(config, series, x, lookback, train_w, features, fold.index)
        train_seconds += time.perf_counter() - t0
        rows_is = [
            _window_signals(trained, features, x, lookback, series, train_w),
            buy_and_hold(len(series), train_w[0]),
        ]
        rows_oos = [
            _window_signals(trained, features, x, lookback, series, test_w),
            buy_and_hold(len(series), test_w[0]),
        ]
        stats_is = window_stats(np.stack(rows_is), series, *train_w, execution)
        stats_oos = window_stats(np.stack(rows_oos), series, *test_w, execution, keep_equity=True)
        entry: dict[str, Any] = {
            "fold": fold.index,
            "train": _window_json(fold.train),
            "test": _window_json(fold.test),
            "training": trained.info,
            "threshold": trained.threshold,
            "model": {"in_sample": stats_is.row(0), "out_of_sample": stats_oos.row(0)},
            "buy_and_hold": {"in_sample": stats_is.row(1), "out_of_sample": stats_oos.row(1)},
        }
        equity = [stats_oos.equity[0], stats_oos.equity[1]]
        oos_sums["model"] += stats_oos.sums[0]
        oos_sums["buy_and_hold"] += stats_oos.sums[1]
        if classics:
            classic_is = window_stats(classic_matrix, series, *train_w, execution)
            classic_oos = window_stats(classic_matrix, series, *test_w, execution, keep_equity=True)
            pick = best_in_sample(classic_is)
            entry["classic_pick"] = {
                "strategy": classics[pick].strategy_id,
                "in_sample": classic_is.row(pick),
                "out_of_sample": classic_oos.row(pick),
            }
            equity.append(classic_oos.equity[pick])
            oos_sums["classic_pick"] += classic_oos.sums[pick]
            classic_oos_sums += classic_oos.sums
        entry["annualized_omitted"] = stats_oos.annualized_omitted
        fold_rows.append(entry)
        curves.append((series.start_ms[test_w[0] : test_w[1]], equity))
        model_oos = entry["model"]["out_of_sample"]
        log(
            f"fold {fold.index + 1}/{len(folds)}: trained on {trained.info['rows']:,} rows; "
            f"out-of-sample return {_pct(model_oos['total_return'])} "
            f"({_trades(model_oos['num_trades'])}), buy-and-hold "
            f"{_pct(entry['buy_and_hold']['out_of_sample']['total_return'])}"
            + (
                f", {entry['classic_pick']['strategy']} "
                f"{_pct(entry['classic_pick']['out_of_sample']['total_return'])}"
                if classics
                else ""
            )
        )

    trials = np.concatenate(
        [
            sharpe_from_sums(np.stack([oos_sums["model"], oos_sums["buy_and_hold"]])),
            sharpe_from_sums(classic_oos_sums) if classics else np.zeros(0),
        ]
    )
    summary = _summary(fold_rows, classics)
    overfitting = {
        "trials": int(np.isfinite(trials).sum()),
        "what": "the model strategy, buy-and-hold and every classic library strategy, each "
        "over the same out-of-sample candles (all test windows together)",
        "model": _dsr_json(oos_sums["model"], trials),
    }
    if classics:
        overfitting["classic_pick"] = _dsr_json(oos_sums["classic_pick"], trials)

    final = final_window(first_ms, end_ms, train_ms, config.walk_forward)
    final_w = final.indices(series.start_ms)
    t0 = time.perf_counter()
    trained = _fit(config, series, x, lookback, final_w, features, len(folds))
    train_seconds += time.perf_counter() - t0
    signals = _window_signals(trained, features, x, lookback, series, final_w)
    final_stats = window_stats(
        np.stack([signals, buy_and_hold(len(series), final_w[0])]), series, *final_w, execution
    )
    log(
        f"final model trained on {trained.info['rows']:,} rows of "
        f"{iso(final.start_ms)} .. {iso(final.end_ms)}"
    )

    record = {
        "graph": {
            "strategy": strategy_name(config.kind),
            "entry": str(trained.strategy.entry),
            "exit": str(trained.strategy.exit),
            "file": "strategy.yaml",
        },
        "threshold": trained.threshold,
        "label": None
        if config.kind == "dqn"
        else {
            "horizon": config.horizon,
            "what": f"close[t + {config.horizon}] / close[t] - 1",
        },
        "model": _model_settings(config),
        "data": {
            "symbol": series.symbol,
            "inputs": list(loaded.paths),
            "input_kind": loaded.kind,
            "candle_interval_ms": interval,
            "candles": len(series),
            "first_candle": iso(first_ms),
            "end": iso(end_ms),
            "rejected_rows": loaded.rejected,
            "feature_lookback": lookback,
        },
        "training": {
            "window": _window_json(final),
            **trained.info,
            "in_sample": final_stats.row(0),
            "buy_and_hold_in_sample": final_stats.row(1),
        },
        "walk_forward": {
            "mode": config.walk_forward,
            "train_ms": train_ms,
            "test_ms": test_ms,
            "folds": fold_rows,
            "summary": summary,
        },
        "overfitting": overfitting,
        "execution": {
            "fee": execution.fee,
            "slippage_bps": execution.slippage_bps,
            "cash": execution.cash,
            "fill": execution.fill,
        },
        "seed": config.seed,
        "versions": _versions(),
        "training_seconds": round(train_seconds, 3),
    }
    output.mkdir(parents=True, exist_ok=True)
    output_text = (
        "the DQN's action at each candle: +1 buy, -1 sell, 0 hold"
        if config.kind == "dqn"
        else f"the predicted return over the next {config.horizon} candles (a fraction)"
    )
    record["total_seconds"] = round(time.perf_counter() - started, 3)
    texts = [str(f) for f in features]
    digest = write_model_dir(
        output, config.kind, texts, trained.ref.arrays, output_text, _clean(record)
    )
    (output / "strategy.yaml").write_text(
        strategy_yaml(config.kind, features, trained.threshold, digest), encoding="utf-8"
    )
    manifest = {
        "format": "tradestream-model/1",
        "kind": config.kind,
        "features": texts,
        "sha256": digest,
        "output": output_text,
        **_clean(record),
    }
    from tradestream.ml.report import write_report

    write_report(output / "report.html", manifest, curves, series.start_ms[0])
    seconds = time.perf_counter() - started
    log(
        f"wrote {output}/ (model.npz sha256 {digest[:12]}, manifest.json, strategy.yaml, "
        f"report.html) in {seconds:.1f} s"
    )
    return TrainResult(output, digest, manifest, seconds)


def _model_settings(config: TrainConfig) -> dict[str, Any]:
    if config.kind == "dqn":
        return {
            "kind": "dqn",
            "library": "sklearn.neural_network.MLPRegressor (partial_fit)",
            **asdict(config.dqn),
        }
    if config.kind == "trees":
        return {
            "kind": "trees",
            "library": "sklearn.ensemble.HistGradientBoostingRegressor",
            "max_iter": config.trees,
            "learning_rate": 0.05,
            "max_leaf_nodes": 15,
            "min_samples_leaf": 50,
            "l2_regularization": 1.0,
            "quantile": config.quantile,
        }
    return {
        "kind": "mlp",
        "library": "sklearn.neural_network.MLPRegressor",
        "hidden": list(config.hidden),
        "max_epochs": config.epochs,
        "alpha": 1e-3,
        "batch_size": 256,
        "quantile": config.quantile,
    }


def _trades(count: int) -> str:
    return f"{count} closed trade{'' if count == 1 else 's'}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f}%"


def _compounded(rows: list[dict], who: str) -> float | None:
    growth = 1.0
    for row in rows:
        value = row.get(who, {}).get("out_of_sample", {}).get("total_return")
        if value is None:
            return None
        growth *= 1.0 + value
    return growth - 1.0


def _summary(rows: list[dict], classics: list) -> dict[str, Any]:
    def mean(who: str, side: str, key: str) -> float | None:
        values = [r[who][side][key] for r in rows if who in r and r[who][side][key] is not None]
        return float(np.mean(values)) if values else None

    out: dict[str, Any] = {}
    for who in ("model", "buy_and_hold", *(("classic_pick",) if classics else ())):
        out[who] = {
            "out_of_sample_compounded_return": _compounded(rows, who),
            "mean_in_sample_return": mean(who, "in_sample", "total_return"),
            "mean_out_of_sample_return": mean(who, "out_of_sample", "total_return"),
            "mean_in_sample_sharpe": mean(who, "in_sample", "sharpe"),
            "mean_out_of_sample_sharpe": mean(who, "out_of_sample", "sharpe"),
            "out_of_sample_trades": sum(
                r[who]["out_of_sample"]["num_trades"] for r in rows if who in r
            ),
        }
    return out


def _clean(value: Any) -> Any:
    """JSON-ready: NaN and infinities as null, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def strategy_yaml(kind: str, features: Sequence[Node], threshold: float | None, sha: str) -> str:
    """DIR/strategy.yaml: a strategy file whose rules read the model in DIR (one line a node)."""
    names = [f"f{i + 1}" for i in range(len(features))]
    nodes: dict[str, Any] = {name: node_spec(f) for name, f in zip(names, features, strict=True)}
    nodes["model"] = {"kind": "model", "inputs": names, "params": {"file": "."}}
    if kind == "dqn":
        entry = {"kind": "above", "inputs": ["model", 0.5]}
        exit_ = {"kind": "below", "inputs": ["model", -0.5]}
        description = (
            "A Deep-Q-Network trader (tradestream train --model dqn): BUY on its buy action, "
            "SELL on its sell action."
        )
    else:
        entry = {"kind": "crosses_above", "inputs": ["model", float(threshold)]}
        exit_ = {"kind": "crosses_below", "inputs": ["model", -float(threshold)]}
        description = (
            f"A {kind} model of the coming return (tradestream train): BUY when the prediction "
            "rises above the threshold, SELL when it falls below its negative."
        )

    def flow(value: Any) -> str:
        if isinstance(value, str):
            return json.dumps(value)  # a JSON string is a YAML string
        return yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()

    lines = [
        f"# Written by `tradestream train`: the model in this directory (model.npz, sha256 "
        f"{sha[:12]}...)",
        "# as a strategy. The model node's file is this directory (relative to this file); its",
        "# inputs are the features it was trained on, in order.",
        "#   tradestream backtest --strategies DIR/strategy.yaml --input ...",
        "strategies:",
        f"  - name: {strategy_name(kind)}",
        f"    description: {flow(description)}",
        "    nodes:",
        *(f"      {name}: {flow(spec)}" for name, spec in nodes.items()),
        f"    entry: {flow(entry)}",
        f"    exit: {flow(exit_)}",
    ]
    return "\n".join(lines) + "\n"
