"""Walk-forward windows: optimize on a training window, judge on the test window after it.

    folds = walk_forward_folds(first_ms, end_ms, train_ms=90 * DAY, test_ms=30 * DAY,
                               mode="rolling")
    final = final_window(first_ms, end_ms, train_ms, mode)    # where the final choice is made

Times are candle starts in epoch ms; a window [start, end) holds the candles that start in it.
With `train` and `test` lengths (`--train 90d --test 30d`) and the data spanning
[first, end):

* rolling (default): fold k trains on [first + k*test, first + k*test + train) and tests on
  the `test` that follows;
* anchored: fold k trains on [first, first + train + k*test) (a growing window) and tests
  on the `test` that follows.

Folds are added while their test window ends by `end`, so every test window is complete
and the test windows tile the data after the first training window without overlap. Each
fold's training window ends where its test window starts: no test candle is ever in
training. The parameters chosen on a fold's training window are then backtested on its test
window, which gives the out-of-sample side of the report.

The final choice (the parameters written to best.json) is made the way the next fold would
be: on the most recent `train` of data (rolling) or on all of it (anchored). Without
walk-forward it is made on all of the data.

Indicators may look back before a window (they are computed from up to a strategy's
warm-up of earlier candles, so a test window starts with warmed-up indicators), but never
after it, and trades happen only inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES = ("rolling", "anchored")


@dataclass(frozen=True)
class Window:
    """A time range [start_ms, end_ms) of candle starts."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"empty window [{self.start_ms}, {self.end_ms})")

    def indices(self, start_ms: np.ndarray) -> tuple[int, int]:
        """[first, stop) indices of the candles of a sorted series that start in the window."""
        first = int(np.searchsorted(start_ms, self.start_ms, side="left"))
        stop = int(np.searchsorted(start_ms, self.end_ms, side="left"))
        return first, stop


@dataclass(frozen=True)
class Fold:
    """One walk-forward step: a training window and the test window right after it."""

    index: int
    train: Window
    test: Window


def walk_forward_folds(
    first_ms: int, end_ms: int, train_ms: int, test_ms: int, mode: str = "rolling"
) -> list[Fold]:
    """The folds over data spanning [first_ms, end_ms) (module docstring).

    Raises:
        ValueError: a non-positive length, an unknown mode, or data shorter than one fold.
    """
    if mode not in MODES:
        raise ValueError(f"walk-forward mode must be one of {', '.join(MODES)}, got {mode!r}")
    if train_ms <= 0 or test_ms <= 0:
        raise ValueError("--train and --test must be > 0")
    folds = []
    k = 0
    while True:
        train_start = first_ms if mode == "anchored" else first_ms + k * test_ms
        train_end = first_ms + train_ms + k * test_ms
        test_end = train_end + test_ms
        if test_end > end_ms:
            break
        folds.append(Fold(k, Window(train_start, train_end), Window(train_end, test_end)))
        k += 1
    if not folds:
        raise ValueError(
            f"the data spans {(end_ms - first_ms) / 86_400_000:.2f} days; one walk-forward "
            f"fold needs --train + --test = {(train_ms + test_ms) / 86_400_000:.2f} days"
        )
    return folds


def final_window(
    first_ms: int, end_ms: int, train_ms: int | None = None, mode: str = "rolling"
) -> Window:
    """Where the final choice is optimized: the last `train` (rolling) or everything."""
    if train_ms is None or mode == "anchored":
        return Window(first_ms, end_ms)
    return Window(max(first_ms, end_ms - train_ms), end_ms)
