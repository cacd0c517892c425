"""Which strategies a backtest runs, from the shared strategy flags plus `--grid`.

* `--strategy NAME [--param k=v ...]` (repeatable) and/or `--strategies FILE` (a strategy
  file or an optimizer's `best.json`, read by :mod:`tradestream.strategies.spec`): those
  strategies, each once;
* with `--grid NAME=SPEC ...`: every valid parameter set of exactly one strategy type (the
  one `--strategy`, or the one type of the `--strategies` file), its `--param`s (or the
  file's `values`) fixed (see :mod:`tradestream.backtest.grid`).

`--param` values are typed by their parameters (:mod:`tradestream.strategies.flags`); bounds are checked
by the type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tradestream.backtest.grid import Grid, expand_grid
from tradestream.backtest.progress import Progress
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.flags import decode_strategy_flags
from tradestream.strategies.strategy import Strategy, StrategyType

GRID_PROGRESS_FROM = 200_000  # combinations: below, checking them takes under a second


@dataclass(frozen=True)
class Selection:
    """The strategies of a run, and the grid they came from (if any).

    For a grid, `strategies` is the grid's lazy sequence: a strategy is built when indexed.
    """

    strategies: Sequence[Strategy]
    grid: Grid | None = None


def grid_progress(label: str = "[backtest]") -> Callable[[int, int], None]:
    """A `progress(checked, combinations)` for `select_strategies` that prints on stderr
    (every 2 s) while a big grid's constraints are checked."""
    state: dict[str, object] = {"done": 0, "meter": None}

    def report(checked: int, combinations: int) -> None:
        if combinations < GRID_PROGRESS_FROM:
            return
        if state["meter"] is None:
            state["meter"] = Progress(label, combinations, "grid combinations checked", 2.0)
        state["meter"].advance(checked - state["done"])
        state["done"] = checked

    return report


def select_strategies(
    strategy_spec: Sequence[str | tuple[str, str]] | None,
    strategies_file: str | None,
    axes_text: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> Selection:
    """The strategies of a backtest (see the module docstring).

    Args:
        strategy_spec: `StrategyOptions.strategy_spec` items (--strategy/--param).
        strategies_file: a --strategies file, or None.
        axes_text: the --grid flags.
        progress: `progress(checked, combinations)` while a grid's constraints are checked.

    Raises:
        ValueError: nothing selected, an unknown type or parameter, an invalid value, or a
            grid over other than exactly one strategy type.
    """
    from tradestream.strategies import library
    from tradestream.strategies.spec import load_strategy_types

    types: list[tuple[StrategyType, Mapping[str, object]]] = []
    try:
        for name, params in decode_strategy_flags(strategy_spec):
            types.append((library.get(name), params))
        if strategies_file:
            types.extend(load_strategy_types(strategies_file))
    except StrategyError as exc:
        raise ValueError(str(exc)) from None
    except OSError as exc:
        raise ValueError(f"--strategies {strategies_file}: {exc}") from None
    if not types:
        raise ValueError(
            "choose strategies with --strategy NAME [--param k=v ...], --strategies FILE, "
            "or --strategy NAME --grid NAME=START:STOP:STEP"
        )
    if axes_text:
        if len(types) != 1:
            raise ValueError(
                f"--grid searches one strategy type; got {len(types)} "
                "(use one --strategy NAME, or a --strategies file with one strategy)"
            )
        stype, base = types[0]
        grid = expand_grid(stype, base, axes_text, progress)
        return Selection(grid.strategies, grid)
    built: dict[str, Strategy] = {}
    try:
        for stype, params in types:
            strategy = stype.build(params)
            built.setdefault(strategy.strategy_id, strategy)  # the same strategy runs once
    except StrategyError as exc:
        raise ValueError(str(exc)) from None
    return Selection(tuple(built.values()))
