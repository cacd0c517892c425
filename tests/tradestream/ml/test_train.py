"""`tradestream train` end to end on a few hours of sample trades: the model directory's
contents, reproducibility (same seed, same sha256), and the strategy file it writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.tradestream.ml.data import sample_file
from tradestream.cli import main
from tradestream.ml.data import load_series
from tradestream.ml.evaluate import model_signals
from tradestream.ml.features import default_features, feature_matrix
from tradestream.strategies.models import FORMAT, load_model, model_values
from tradestream.strategies.spec import load_strategy_file
from tradestream.strategies.vectorized import evaluate_vectorized

# Small settings: a DQN of 1,500 steps learning from step 200, 30 trees, 3 folds.
COMMON = ["--seed", "11", "--train", "3h", "--test", "1h"]
DQN = ["--model", "dqn", "--dqn_steps", "1500", "--warmup_steps", "200", "--batch", "32",
       "--episode", "100", "--target_every", "200"]  # fmt: skip
TREES = ["--model", "classifier", "--trees", "30"]


@pytest.fixture(scope="module")
def trades(tmp_path_factory) -> Path:
    return sample_file(tmp_path_factory.mktemp("data") / "trades.csv", hours=6)


def _train(trades: Path, out: Path, *flags: str) -> Path:
    code = main(["train", "--input", str(trades), "--output", str(out), *COMMON, *flags])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def trees_dir(trades, tmp_path_factory) -> Path:
    return _train(trades, tmp_path_factory.mktemp("trees") / "model", *TREES)


@pytest.fixture(scope="module")
def dqn_dir(trades, tmp_path_factory) -> Path:
    return _train(trades, tmp_path_factory.mktemp("dqn") / "model", *DQN, "--no_classic")


def _manifest(directory: Path) -> dict:
    return json.loads((directory / "manifest.json").read_text())


def test_train_manifest_follows_the_model_format_and_records_the_training(trees_dir, trades):
    manifest = _manifest(trees_dir)
    data = (trees_dir / "model.npz").read_bytes()

    assert manifest["format"] == FORMAT and manifest["kind"] == "trees"
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["features"] == [str(f) for f in default_features()]
    assert "return over the next 5 candles" in manifest["output"]
    assert manifest["seed"] == 11
    assert manifest["data"]["symbol"] == "BTC-USD" and manifest["data"]["candles"] == 360
    assert manifest["data"]["first_candle"] == "2024-01-02T00:00:00Z"
    assert manifest["data"]["inputs"] == [str(trades)]
    assert manifest["training"]["window"] == {
        "start": "2024-01-02T03:00:00Z",
        "end": "2024-01-02T06:00:00Z",
    }
    folds = manifest["walk_forward"]["folds"]
    assert [f["test"]["start"] for f in folds] == [
        "2024-01-02T03:00:00Z",
        "2024-01-02T04:00:00Z",
        "2024-01-02T05:00:00Z",
    ]
    for fold in folds:
        assert fold["train"]["end"] == fold["test"]["start"]  # no test candle in training
        for who in ("model", "buy_and_hold", "classic_pick"):
            assert set(fold[who]) >= {"in_sample", "out_of_sample"}
    assert manifest["overfitting"]["trials"] > 50  # the model, buy-and-hold, the library
    assert 0 <= manifest["overfitting"]["model"]["deflated_sharpe_ratio"] <= 1
    assert set(manifest["versions"]) >= {"python", "numpy", "scikit-learn", "scipy"}
    assert manifest["training_seconds"] > 0
    assert load_model(trees_dir).sha256 == manifest["sha256"]
    report = (trees_dir / "report.html").read_text()
    assert "out-of-sample" in report.lower() and "DSR" in report and "buy-and-hold" in report


def test_train_strategy_file_trades_the_model_as_the_report_does(trees_dir, trades):
    [strategy] = load_strategy_file(trees_dir / "strategy.yaml")
    model = strategy.entry.inputs[0]
    series = load_series([str(trades)]).series
    x, lookback = feature_matrix(list(model.inputs), series.arrays())

    values = model_values(model.params[0][1], x, lookback)
    live = evaluate_vectorized([strategy], series.arrays())[strategy.strategy_id]

    assert strategy.entry.kind == "crosses_above"
    assert strategy.entry.inputs[1].params[0][1] == _manifest(trees_dir)["threshold"] > 0
    np.testing.assert_array_equal(model_signals(strategy, model, model.inputs, x, values, series),
                                  live)  # fmt: skip
    assert (live != 0).any()


def test_train_same_seed_gives_the_same_trees_model(trees_dir, trades, tmp_path):
    again = _train(trades, tmp_path / "again", *TREES, "--no_classic")

    assert (again / "model.npz").read_bytes() == (trees_dir / "model.npz").read_bytes()
    assert _manifest(again)["sha256"] == _manifest(trees_dir)["sha256"]


def test_train_same_seed_gives_the_same_dqn_and_another_seed_another(dqn_dir, trades, tmp_path):
    again = _train(trades, tmp_path / "again", *DQN, "--no_classic")
    other = main(["train", "--input", str(trades), "--output", str(tmp_path / "other"),
                  *DQN, "--no_classic", "--train", "3h", "--test", "1h", "--seed", "12"])  # fmt: skip

    assert _manifest(again)["sha256"] == _manifest(dqn_dir)["sha256"]
    assert other == 0 and _manifest(tmp_path / "other")["sha256"] != _manifest(dqn_dir)["sha256"]


def test_train_dqn_directory_is_a_dqn_strategy(dqn_dir):
    manifest = _manifest(dqn_dir)
    [strategy] = load_strategy_file(dqn_dir / "strategy.yaml")
    ref = load_model(dqn_dir)

    assert manifest["kind"] == "dqn" and ref.kind == "dqn"
    assert ref.arrays["x_mean"].shape == (len(manifest["features"]) + 1,)
    assert ref.layers()[-1][0].shape[1] == 3  # Q of hold, buy, sell
    assert str(strategy.entry).startswith("above(model(") and str(strategy.entry).endswith(",0.5)")
    assert manifest["model"]["steps"] == 1500 and manifest["model"]["target_every"] == 200
    assert manifest["training"]["updates"] > 0


def test_train_features_from_a_strategy(trades, tmp_path):
    out = _train(trades, tmp_path / "m", *TREES, "--no_classic", "--strategy", "SMA_CROSSOVER",
                 "--param", "fast=5", "--param", "slow=20")  # fmt: skip

    assert _manifest(out)["features"] == ["sma(close,5)", "sma(close,20)"]
    [strategy] = load_strategy_file(out / "strategy.yaml")
    assert [str(f) for f in strategy.entry.inputs[0].inputs] == ["sma(close,5)", "sma(close,20)"]


def _one_line_error(capsys, argv: list[str], *words: str) -> str:
    try:
        code = main(["train", *argv])
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("tradestream train: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--model", "dqn", "--input", "x.csv"], ("--output",)),
        (["--model", "svm", "--input", "x.csv", "--output", "o"], ("--model", "svm")),
        (["--model", "dqn", "--input", "x.csv", "--output", "o", "--horizon", "0"],
         ("--horizon", "an integer > 0")),
        (["--model", "dqn", "--input", "x.csv", "--output", "o", "--train", "soon"],
         ("--train",)),
        (["--model", "dqn", "--input", "missing.csv", "--output", "o"], ("missing.csv",)),
        (["--model", "classifier", "--input", "x.csv", "--output", "o", "--hidden", "32,0"],
         ("--hidden", "32,16", "'32,0'")),
        (["--model", "dqn", "--input", "x.csv", "--output", "o", "--dqn_hidden", "a,b"],
         ("--dqn_hidden",)),
    ],
)  # fmt: skip
def test_train_bad_flags_are_one_line_errors(capsys, tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    _one_line_error(capsys, argv, *words)
    assert not (tmp_path / "o").exists()


def test_train_input_errors_are_one_line_errors(capsys, trades, tmp_path):
    base = ["--model", "classifier", "--input", str(trades)]
    _one_line_error(capsys, [*base, "--output", "o", "--train", "3h"], "--train", "--test")
    (tmp_path / "file").write_text("x")
    _one_line_error(capsys, [*base, "--output", str(tmp_path / "file")], "not a directory")
    _one_line_error(capsys, [*base, "--output", "o", "--estimator", "mlp", "--strategy", "SMA_RSI",
                             "--strategies", "x.yaml"], "--strategies")  # fmt: skip


def test_train_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    text = capsys.readouterr().out

    assert exit_.value.code == 0
    from tradestream.cli import build_parser

    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]
    for action in train_parser._actions:
        assert action.help, action.option_strings
        for flag in action.option_strings:
            assert flag in text
