"""Walk-forward windows: their layout, and that test data never reaches training."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tradestream.optimize.builders import (
    fitness_config,
    saved,
    series_from_close,
    sine_close,
    task,
)
from tradestream.optimize.fitness import evaluate_genomes
from tradestream.optimize.genome import make_space
from tradestream.optimize.walk_forward import Window, final_window, walk_forward_folds
from tradestream.strategies import library

H = 3_600_000


def _spans(folds):
    return [((f.train.start_ms, f.train.end_ms), (f.test.start_ms, f.test.end_ms)) for f in folds]


def test_walk_forward_rolling_folds_slide_by_the_test_length():
    folds = walk_forward_folds(0, 10 * H, train_ms=4 * H, test_ms=2 * H, mode="rolling")
    assert _spans(folds) == [
        ((0, 4 * H), (4 * H, 6 * H)),
        ((2 * H, 6 * H), (6 * H, 8 * H)),
        ((4 * H, 8 * H), (8 * H, 10 * H)),
    ]
    assert final_window(0, 10 * H, 4 * H, "rolling") == Window(6 * H, 10 * H)


def test_walk_forward_anchored_folds_grow_from_the_start():
    folds = walk_forward_folds(0, 11 * H, train_ms=4 * H, test_ms=2 * H, mode="anchored")
    assert _spans(folds) == [
        ((0, 4 * H), (4 * H, 6 * H)),
        ((0, 6 * H), (6 * H, 8 * H)),
        ((0, 8 * H), (8 * H, 10 * H)),
    ]  # the last hour cannot hold a whole test window
    assert final_window(0, 11 * H, 4 * H, "anchored") == Window(0, 11 * H)
    assert final_window(0, 11 * H) == Window(0, 11 * H)


def test_walk_forward_rejects_data_shorter_than_one_fold_and_bad_settings():
    with pytest.raises(ValueError, match="one walk-forward fold needs"):
        walk_forward_folds(0, 5 * H, 4 * H, 2 * H)
    with pytest.raises(ValueError, match="mode"):
        walk_forward_folds(0, 10 * H, 4 * H, 2 * H, mode="expanding")
    with pytest.raises(ValueError):
        walk_forward_folds(0, 10 * H, 0, 2 * H)


@settings(max_examples=200, deadline=None)
@given(
    span=st.integers(1, 500),
    train=st.integers(1, 100),
    test=st.integers(1, 100),
    mode=st.sampled_from(["rolling", "anchored"]),
)
def test_walk_forward_test_windows_never_overlap_training_and_tile_the_rest(
    span, train, test, mode
):
    try:
        folds = walk_forward_folds(1000, 1000 + span, train, test, mode)
    except ValueError:
        assert train + test > span
        return
    for fold in folds:
        assert fold.train.end_ms == fold.test.start_ms  # training ends where testing starts
        assert fold.train.end_ms - fold.train.start_ms >= train
        assert fold.test.end_ms - fold.test.start_ms == test
        assert fold.test.end_ms <= 1000 + span
        assert all(f.train.end_ms <= fold.test.start_ms for f in folds[: fold.index + 1])
    tests = [(f.test.start_ms, f.test.end_ms) for f in folds]
    assert all(a[1] == b[0] for a, b in zip(tests, tests[1:], strict=False))
    assert tests[0][0] == 1000 + train
    assert 1000 + span - tests[-1][1] < test  # no room left for another fold


def test_walk_forward_training_fitness_ignores_every_candle_after_the_window(tmp_path):
    close = sine_close(1200)
    changed = close.copy()
    changed[700:] = changed[700:][::-1] * 1.3  # a different future after candle 700
    a = saved(series_from_close(close), tmp_path / "a")
    b = saved(series_from_close(changed), tmp_path / "b")
    window = Window(a.first_ms + 200 * 60_000, a.first_ms + 700 * 60_000)
    space = make_space(library.get("SMA_CROSSOVER"), bounds={"fast": (2, 30), "slow": (5, 60)})
    genomes = [(5, 20), (10, 30), (12, 48)]
    config = fitness_config()
    from tradestream.optimize.store import load_series

    on_a = evaluate_genomes(task(space, a, window), load_series(a.path), genomes, config)
    on_b = evaluate_genomes(task(space, b, window), load_series(b.path), genomes, config)
    for x, y in zip(on_a, on_b, strict=True):
        assert x.fitness == y.fitness
        np.testing.assert_equal(x.metrics, y.metrics)
        np.testing.assert_array_equal(x.blocks, y.blocks)
    # ...while the test window after it sees the change.
    after = Window(window.end_ms, window.end_ms + 300 * 60_000)
    test_a = evaluate_genomes(task(space, a, after), load_series(a.path), genomes, config)
    test_b = evaluate_genomes(task(space, b, after), load_series(b.path), genomes, config)
    assert [r.metrics for r in test_a] != [r.metrics for r in test_b]
