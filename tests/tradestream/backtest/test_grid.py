"""Parameter grids and strategy selection for backtests."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tradestream.backtest.grid import axis_values, expand_grid
from tradestream.backtest.selection import select_strategies
from tradestream.strategies import library

SMA = library.get("SMA_CROSSOVER")


def _spec(name):
    return next(p for p in SMA.params if p.name == name)


def test_grid_range_includes_stop():
    assert axis_values(_spec("fast"), "5:50:5") == (5, 10, 15, 20, 25, 30, 35, 40, 45, 50)
    assert axis_values(_spec("fast"), "5:52:5")[-1] == 50


def test_grid_accepts_lists_and_single_values():
    assert axis_values(_spec("fast"), "7, 3,7") == (7, 3)
    assert axis_values(_spec("fast"), "9") == (9,)


def test_grid_float_axis_steps_without_drift():
    spec = next(p for p in library.get("ATR_TRAILING_STOP").params if p.name == "multiplier")
    low = spec.low
    values = axis_values(spec, f"{low}:{low + 0.3}:0.1")
    assert values == pytest.approx((low, low + 0.1, low + 0.2, low + 0.3))
    assert all(isinstance(v, float) for v in values)


@pytest.mark.parametrize(
    "text,message",
    [
        ("1:10:1", "outside its bounds"),
        ("5:50:0", "step must be > 0"),
        ("50:5:5", "above stop"),
        ("5:50", "START:STOP:STEP"),
        ("5.5", "not an integer"),
        ("x", "not a number"),
    ],
)
def test_grid_rejects_bad_axis_values(text, message):
    with pytest.raises(ValueError, match=message):
        axis_values(_spec("fast"), text)


def test_grid_skips_combinations_breaking_constraints_and_counts_them():
    grid = expand_grid(SMA, {}, ["fast=5:50:5", "slow=20:200:10"])
    assert grid.combinations == 10 * 19
    assert grid.skipped == 16  # fast >= slow: 20/20, 25/20, 30/20..30, ..., 50/20..50
    assert len(grid.strategies) == 174
    assert all(s.params["fast"] < s.params["slow"] for s in grid.strategies)
    assert grid.strategies[0].strategy_id == "SMA_CROSSOVER(fast=5,slow=20)"
    assert "16 skipped (constraint fast < slow)" in grid.describe()


def test_grid_keeps_fixed_params_from_param_flags():
    grid = expand_grid(SMA, {"slow": 60}, ["fast=10:30:10"])
    assert [s.strategy_id for s in grid.strategies] == [
        "SMA_CROSSOVER(fast=10,slow=60)",
        "SMA_CROSSOVER(fast=20,slow=60)",
        "SMA_CROSSOVER(fast=30,slow=60)",
    ]


@pytest.mark.parametrize(
    "base,axes,message",
    [
        ({}, ["period=5:10:1"], "has no parameter 'period'"),
        ({}, ["fast=5", "fast=6"], "given twice"),
        ({"fast": 5}, ["fast=6:8:1"], "both as --param and as --grid"),
        ({}, ["fast"], "NAME=START:STOP:STEP"),
    ],
)
def test_grid_rejects_unknown_duplicate_or_conflicting_axes(base, axes, message):
    with pytest.raises(ValueError, match=message):
        expand_grid(SMA, base, axes)


def test_selection_builds_each_strategy_once_with_numeric_params():
    spec = [
        ("strategy", "SMA_CROSSOVER"),
        ("param", "fast=5"),
        ("param", "slow=20"),
        ("strategy", "sma_crossover"),
        ("param", "fast=5"),
        ("param", "slow=20"),
    ]
    selection = select_strategies(spec, None)
    assert [s.strategy_id for s in selection.strategies] == ["SMA_CROSSOVER(fast=5,slow=20)"]
    assert selection.grid is None


def test_selection_accepts_string_spec_items():
    spec = ["strategy:SMA_CROSSOVER", "param:fast=8"]
    assert select_strategies(spec, None).strategies[0].params["fast"] == 8


def test_selection_grid_over_a_strategy_file_type(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        """
strategies:
  - name: MY_CROSS
    params:
      fast: {kind: int, low: 2, high: 100, default: 10, description: fast}
      slow: {kind: int, low: 3, high: 300, default: 30, description: slow}
    constraints: ["fast < slow"]
    nodes:
      f: {kind: sma, inputs: [close], params: {period: $fast}}
      s: {kind: sma, inputs: [close], params: {period: $slow}}
    entry: {kind: crosses_above, inputs: [f, s]}
    exit: {kind: crosses_below, inputs: [f, s]}
"""
    )
    selection = select_strategies(None, str(path), ["fast=5:15:5", "slow=10:20:10"])
    assert selection.grid.skipped == 2  # 10/10 and 15/10
    assert len(selection.strategies) == 4


@pytest.mark.parametrize(
    "spec,axes,message",
    [
        ([], [], "choose strategies"),
        ([("param", "fast=5")], [], "must follow a --strategy"),
        ([("strategy", "SMA_CROSSOVER"), ("param", "fast=five")], [], "must be an integer"),
        ([("strategy", "NOPE")], [], "unknown strategy type"),
        (
            [("strategy", "SMA_CROSSOVER"), ("param", "fast=40"), ("param", "slow=20")],
            [],
            "fast < slow",
        ),
        ([("strategy", "SMA_CROSSOVER"), ("strategy", "ADX_DMI")], ["fast=5"], "one strategy type"),
    ],
)
def test_selection_errors_name_the_problem(spec, axes, message):
    with pytest.raises(ValueError, match=message):
        select_strategies(spec, None, axes)


def test_grid_is_lazy_one_bit_per_combination_and_builds_the_same_strategies():
    from apache_beam.internal import pickler

    axes = ["short=2:50:1", "medium=3:100:1", "long=4:70:1"]  # 321,734 combinations
    values = [range(2, 51), range(3, 101), range(4, 71)]
    valid = [c for c in itertools.product(*values) if c[0] < c[1] < c[2]]
    checked = []
    grid = expand_grid(library.get("TRIPLE_EMA_CROSSOVER"), {}, axes, lambda n, of: checked.append((n, of)))  # fmt: skip
    assert grid.combinations == 321_734 and len(grid) == len(valid)
    assert grid.skipped == grid.combinations - len(valid)
    assert checked[-1] == (321_734, 321_734) and len(checked) == 5  # a block of 65,536 each
    assert len(pickler.dumps(grid.strategies)) < 200_000  # every Beam step that needs them
    rng = np.random.default_rng(0)
    picks = sorted({0, len(valid) - 1, *rng.integers(0, len(valid), 300).tolist()})
    for i in picks:
        short, medium, long_ = valid[i]
        expected = library.build("TRIPLE_EMA_CROSSOVER", {"short": short, "medium": medium, "long": long_})  # fmt: skip
        assert grid.strategies[i] == expected
        assert grid.sets.describe(np.array([i]))[0][2] == expected.strategy_id
    with pytest.raises(IndexError):
        grid.strategies[len(valid)]


@pytest.mark.parametrize(
    "type_name,axes",
    [
        ("SMA_CROSSOVER", ["fast=2:12:1", "slow=3:120:7"]),  # 10 < 2 < 3 ... as text
        ("BBAND_W_R", ["bb_width=0.5:1.5:0.05", "bb_period=5,50,10,100", "wr_period=2:30:3"]),
        ("PARABOLIC_SAR", ["acceleration=0.001,0.01,0.1,0.002,0.02", "maximum=0.01:1:0.09"]),
    ],
)
def test_grid_id_keys_sort_sets_as_their_strategy_ids_sort(type_name, axes):
    grid = expand_grid(library.get(type_name), {}, axes)
    ids = [s.strategy_id for s in grid.strategies]
    keys = grid.sets.id_keys(np.arange(len(grid)))
    assert [ids[i] for i in np.argsort(keys, kind="stable")] == sorted(ids)
    assert len(set(keys.tolist())) == len(ids)


def test_selection_runs_the_optimizers_best_json(tmp_path):
    # The optimizer's DIR/best.json: one entry per symbol and top set, best first.
    best = tmp_path / "best.json"
    best.write_text(
        '[{"strategy": "SMA_CROSSOVER", "symbol": "A", "params": {"fast": 9, "slow": 31}},'
        ' {"strategy": "SMA_CROSSOVER", "symbol": "B", "params": {"fast": 9, "slow": 31}},'
        ' {"strategy": "EMA_MACD", "symbol": "A", "params": {"fast": 8, "slow": 21, "signal": 5}}]'
    )
    selection = select_strategies(None, str(best))
    assert [s.strategy_id for s in selection.strategies] == [
        "SMA_CROSSOVER(fast=9,slow=31)",  # once, though chosen on two symbols
        "EMA_MACD(ema_period=50,fast=8,signal=5,slow=21)",  # ema_period: its default
    ]
