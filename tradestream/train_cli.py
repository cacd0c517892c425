"""`tradestream train`: train a model on walk-forward folds and write it as a strategy.

    tradestream sample --output trades.csv
    tradestream train --model classifier --input trades.csv --seed 7 --output model/
    tradestream train --model dqn --input 'candles/*.csv' --train 90d --test 30d --seed 7 \\
        --output dqn/
    tradestream backtest --strategies model/strategy.yaml --input trades.csv --output bt/

What it does and writes: :mod:`tradestream.ml.train` (DIR/model.npz, DIR/manifest.json,
DIR/strategy.yaml, DIR/report.html). Progress on stderr as `[train] ...`. Exit status 0 on
success, 2 for a bad flag or input (one line: `tradestream train: error: ...`).
"""

from __future__ import annotations

import argparse
import sys

from tradestream.cli_types import (
    duration_ms,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)

PROG = "tradestream train"


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"expected layer sizes such as 32,16, got {text!r}")
    return sizes


def _threshold(text: str) -> float | None:
    if text.strip().lower() == "auto":
        return None
    return non_negative_float(text)


def _quantile(text: str) -> float:
    value = fraction(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from tradestream.ml.dqn import DQNConfig
    from tradestream.ml.features import default_features
    from tradestream.strategies.flags import param_item, strategy_item

    dqn = DQNConfig()
    p = subparsers.add_parser(
        "train",
        help="train a model (gradient-boosted trees, an MLP, or a DQN trader) on walk-forward "
        "folds and write it as a strategy",
        description="Trains a model on indicator features of one symbol's candles, on the "
        "folds of the optimizer's walk-forward splitter (each fold trained on its training "
        "window, judged on the test window after it), then the final model on the most recent "
        "training window. DIR gets model.npz and manifest.json (the model node's format), "
        "strategy.yaml (a strategy file that trades it: `backtest --strategies "
        "DIR/strategy.yaml`) and report.html (in-sample vs out-of-sample per fold against "
        "buy-and-hold and the best classic strategy, deflated Sharpe ratio). The same flags "
        "and seed give the same model.npz (its sha256).",
    )
    what = p.add_argument_group("what to train")
    what.add_argument(
        "--model",
        required=True,
        choices=["classifier", "dqn"],
        help="classifier: a supervised model of the next --horizon candles' return (trades "
        "when the prediction crosses +/- the threshold); dqn: a Deep-Q-Network trader "
        "(state: features and position; actions: hold, buy, sell; reward: P&L after --fee)",
    )
    what.add_argument(
        "--estimator",
        choices=["trees", "mlp"],
        default="trees",
        help="classifier only: trees = scikit-learn HistGradientBoostingRegressor, mlp = "
        "MLPRegressor (default trees)",
    )
    what.add_argument(
        "--seed", type=non_negative_int, default=0, help="every random choice (default 0)"
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--input",
        nargs="+",
        action="extend",
        required=True,
        metavar="FILE",
        help="trades or candles files (.csv, .csv.gz, .parquet) or glob patterns, read as "
        "`tradestream backtest` reads them",
    )
    data.add_argument("--output", required=True, metavar="DIR", help="the model directory")
    data.add_argument(
        "--input_format",
        choices=["auto", "trades", "candles"],
        default="auto",
        help="auto: from each file's header (default)",
    )
    data.add_argument(
        "--symbol",
        default=None,
        help="the symbol to train on (default: the first of the inputs' symbols, sorted)",
    )
    data.add_argument(
        "--candle_interval",
        metavar="DURATION",
        type=duration_ms,
        default=60_000,
        help="candle length for trades files: 1m, 5m, 1h ... (default 1m)",
    )
    data.add_argument(
        "--max_gap",
        metavar="N",
        type=non_negative_int,
        default=60,
        help="at most this many flat candles fill a silent stretch of trades (default 60)",
    )
    features = p.add_argument_group(
        "features",
        "Without --strategy/--strategies: "
        + ", ".join(str(f) for f in default_features())
        + " (returns in percent, ratios to the close, oscillators: scale-free).",
    )
    features.add_argument(
        "--strategy",
        dest="strategy_spec",
        action="append",
        type=strategy_item,
        metavar="NAME",
        help="features = the value nodes this library strategy's rules compare (repeatable; "
        "--param NAME=VALUE after it sets its parameters)",
    )
    features.add_argument(
        "--param",
        dest="strategy_spec",
        action="append",
        type=param_item,
        metavar="NAME=VALUE",
        help="NAME=VALUE for the preceding --strategy",
    )
    features.add_argument(
        "--strategies",
        dest="strategies_file",
        default=None,
        metavar="FILE",
        help="features = the value nodes the rules of this strategy file's strategies compare",
    )
    folds = p.add_argument_group("walk-forward folds (as tradestream optimize)")
    folds.add_argument(
        "--train",
        metavar="DURATION",
        type=duration_ms,
        default=None,
        help="training window length, e.g. 90d (with --test; default: half the data)",
    )
    folds.add_argument(
        "--test",
        metavar="DURATION",
        type=duration_ms,
        default=None,
        help="test window length, e.g. 30d (with --train; default: an eighth of the data)",
    )
    folds.add_argument(
        "--walk_forward",
        choices=["rolling", "anchored"],
        default="rolling",
        help="rolling: fixed training windows; anchored: growing from the start (default rolling)",
    )
    sup = p.add_argument_group("classifier")
    sup.add_argument(
        "--horizon",
        metavar="N",
        type=positive_int,
        default=5,
        help="the label: the return over the next N candles (default 5)",
    )
    sup.add_argument(
        "--threshold",
        metavar="FRACTION|auto",
        type=_threshold,
        default=None,
        help="buy when the predicted return crosses above this, sell below its negative "
        "(a fraction, e.g. 0.002), or auto: the --quantile of the absolute in-sample "
        "predictions (default auto)",
    )
    sup.add_argument(
        "--quantile",
        type=_quantile,
        default=0.9,
        help="for --threshold auto (default 0.9)",
    )
    sup.add_argument(
        "--trees", type=positive_int, default=200, help="trees: boosting rounds (default 200)"
    )
    sup.add_argument(
        "--hidden",
        metavar="SIZES",
        type=_hidden,
        default=(32, 16),
        help="mlp: hidden layer sizes (default 32,16)",
    )
    sup.add_argument(
        "--epochs", type=positive_int, default=30, help="mlp: most passes (default 30)"
    )
    rl = p.add_argument_group("dqn")
    rl.add_argument(
        "--dqn_steps",
        type=positive_int,
        default=dqn.steps,
        help=f"environment steps (candles traded) per training (default {dqn.steps})",
    )
    rl.add_argument(
        "--episode",
        type=positive_int,
        default=dqn.episode,
        help=f"candles per episode, from a random start (default {dqn.episode})",
    )
    rl.add_argument(
        "--gamma",
        type=fraction,
        default=dqn.gamma,
        help=f"discount of the next state's value (default {dqn.gamma})",
    )
    rl.add_argument(
        "--replay",
        type=positive_int,
        default=dqn.replay,
        help=f"replay memory, in steps (default {dqn.replay})",
    )
    rl.add_argument(
        "--warmup_steps",
        type=positive_int,
        default=dqn.warmup,
        help=f"steps taken at random before the first training minibatch (default {dqn.warmup})",
    )
    rl.add_argument(
        "--batch",
        type=positive_int,
        default=dqn.batch,
        help=f"training minibatch size (default {dqn.batch})",
    )
    rl.add_argument(
        "--target_every",
        type=positive_int,
        default=dqn.target_every,
        help=f"K: steps between target-network refreshes (default {dqn.target_every})",
    )
    rl.add_argument(
        "--train_every",
        type=positive_int,
        default=dqn.train_every,
        help=f"steps between training minibatches (default {dqn.train_every})",
    )
    rl.add_argument(
        "--epsilon_end",
        type=fraction,
        default=dqn.epsilon_end,
        help=f"exploration rate reached after half the steps, from 1 (default {dqn.epsilon_end})",
    )
    rl.add_argument(
        "--dqn_hidden",
        metavar="SIZES",
        type=_hidden,
        default=dqn.hidden,
        help="Q-network hidden layer sizes (default 32,32)",
    )
    run = p.add_argument_group("execution (the DQN's reward and every backtest of the report)")
    run.add_argument(
        "--fee",
        type=non_negative_float,
        default=0.001,
        help="fee per side as a fraction of the notional (default 0.001; note backtest's "
        "default is 0)",
    )
    run.add_argument(
        "--slippage_bps",
        type=non_negative_float,
        default=0.0,
        help="adverse price move per fill in basis points (default 0)",
    )
    run.add_argument("--cash", type=positive_float, default=10_000.0, help="(default 10000)")
    run.add_argument(
        "--no_classic",
        dest="classic",
        action="store_false",
        help="leave the classic library strategies out of the report (faster)",
    )
    p.set_defaults(handler=_run)


def _strategies(args: argparse.Namespace) -> tuple:
    """The strategies whose values are the features (() for the default set)."""
    from tradestream.strategies import library
    from tradestream.strategies.flags import decode_strategy_flags
    from tradestream.strategies.spec import load_strategy_file

    if args.strategy_spec and args.strategies_file:
        raise ValueError("--strategy and --strategies: give one of them")
    if args.strategies_file:
        return tuple(load_strategy_file(args.strategies_file))
    return tuple(
        library.build(name, params) for name, params in decode_strategy_flags(args.strategy_spec)
    )


def _run(args: argparse.Namespace) -> int:
    from tradestream.backtest.config import ExecutionConfig
    from tradestream.market.trade_files import TradeFileError
    from tradestream.ml.dqn import DQNConfig
    from tradestream.ml.train import TrainConfig, TrainError, train
    from tradestream.strategies.errors import StrategyError

    def log(line: str) -> None:
        print(f"[train] {line}", file=sys.stderr, flush=True)

    import importlib.util

    if importlib.util.find_spec("sklearn") is None:
        print(
            "tradestream train: error: training needs scikit-learn, the `ml` extra: "
            "pip install 'tradestream[ml]' (`make install` has it)",
            file=sys.stderr,
        )
        return 2

    try:
        if args.model == "dqn" and args.estimator != "trees":
            raise ValueError("--estimator is for --model classifier")
        config = TrainConfig(
            model=args.model,
            inputs=tuple(args.input),
            output=args.output,
            seed=args.seed,
            estimator=args.estimator,
            strategies=_strategies(args),
            symbol=args.symbol,
            input_format=args.input_format,
            candle_interval_ms=args.candle_interval,
            max_gap=args.max_gap,
            horizon=args.horizon,
            train_ms=args.train,
            test_ms=args.test,
            walk_forward=args.walk_forward,
            threshold=args.threshold,
            quantile=args.quantile,
            trees=args.trees,
            hidden=args.hidden,
            epochs=args.epochs,
            dqn=DQNConfig(
                steps=args.dqn_steps,
                episode=args.episode,
                hidden=args.dqn_hidden,
                gamma=args.gamma,
                batch=args.batch,
                replay=args.replay,
                warmup=args.warmup_steps,
                train_every=args.train_every,
                target_every=args.target_every,
                epsilon_end=args.epsilon_end,
                fee=args.fee,
            ),
            execution=ExecutionConfig(cash=args.cash, fee=args.fee, slippage_bps=args.slippage_bps),
            classic=args.classic,
        )
        train(config, log)
    except (TrainError, TradeFileError, StrategyError, ValueError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    return 0
