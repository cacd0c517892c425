"""Parameter grids: `--grid fast=5:50:5 --grid slow=20:200:10` -> every valid parameter set.

A grid axis is `NAME=START:STOP:STEP` (stop included), `NAME=V1,V2,...` or `NAME=V`. Values
are checked against the parameter's declared kind and bounds (an out-of-bounds value or an
unknown name is an error naming the bounds); parameters without an axis keep their `--param`
value or default. The grid is the cartesian product of the axes, in axis order (the last
axis varies fastest); combinations that break a constraint of the strategy type (`fast <
slow`) are skipped and counted, so a triangle of a square grid is evaluated in one run.

A grid is lazy: expanding it only checks the constraints and keeps one bit per combination.
Strategies are built when a chunk of parameter sets is evaluated (`grid.strategies[a:b]`),
so a grid of a million sets costs about 125 KB until then, and pickles as small into every
Beam step that needs it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import _format_value
from tradestream.strategies.params import ParamSpec, ParamValue, resolve_params
from tradestream.strategies.strategy import Strategy, StrategyType

MAX_COMBINATIONS = 1_000_000
_BLOCK = 1 << 16  # combinations per block of the valid-combination index


@dataclass(frozen=True)
class GridAxis:
    """One searched parameter and its values."""

    name: str
    values: tuple[ParamValue, ...]


class ValidCombinations:
    """Which combinations of a grid are valid: one bit each, plus a count per block of 65,536
    so that the i-th valid combination is found without a full index (8 bytes a set)."""

    def __init__(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        self.size = int(mask.shape[0])
        self._bits = np.packbits(mask)
        counts = [int(np.count_nonzero(mask[i : i + _BLOCK])) for i in range(0, self.size, _BLOCK)]
        self._before = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])

    @property
    def count(self) -> int:
        return int(self._before[-1])

    def _block(self, block: int) -> np.ndarray:
        start = block * _BLOCK
        stop = min(start + _BLOCK, self.size)
        bits = np.unpackbits(self._bits[start // 8 : (stop + 7) // 8], count=stop - start)
        return start + np.flatnonzero(bits)

    def combinations_of(self, sets: np.ndarray) -> np.ndarray:
        """The combination index of each valid set index (0 <= set < count)."""
        sets = np.asarray(sets, dtype=np.int64)
        out = np.empty(sets.shape, dtype=np.int64)
        blocks = np.searchsorted(self._before, sets, side="right") - 1
        for block in np.unique(blocks):
            where = blocks == block
            out[where] = self._block(int(block))[sets[where] - self._before[block]]
        return out


def format_strategy_id(type_name: str, params: Mapping[str, ParamValue]) -> str:
    """The id a strategy built from `params` has (see :class:`tradestream.strategies.strategy.Strategy`)."""
    args = ",".join(f"{k}={_format_value(v)}" for k, v in sorted(params.items()))
    return f"{type_name}({args})"


@dataclass(frozen=True, eq=False)
class GridSets:
    """The valid parameter sets of a grid, by index (grid order), and what each is called.

    Holds no strategy type, so it pickles with the standard pickle (Beam's element coder)
    wherever results are named.

    Attributes:
        type_name: the strategy type searched.
        axes: the searched parameters, in flag order.
        fixed: the values of the parameters that are not searched.
        valid: the valid combinations, None when every combination is.
    """

    type_name: str
    axes: tuple[GridAxis, ...]
    fixed: Mapping[str, ParamValue]
    valid: ValidCombinations | None = None
    _id_ranks: tuple[np.ndarray, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ranks = []
        for axis in self.axes:
            texts = [_format_value(v) for v in axis.values]
            order = {text: i for i, text in enumerate(sorted(set(texts)))}
            ranks.append(np.array([order[t] for t in texts], dtype=np.int64))
        object.__setattr__(self, "_id_ranks", tuple(ranks))

    def __len__(self) -> int:
        if self.valid is not None:
            return self.valid.count
        return math.prod(len(a.values) for a in self.axes)

    def positions(self, sets: np.ndarray) -> np.ndarray:
        """(k, axes) int64: the position of each set's value on each axis."""
        sets = np.asarray(sets, dtype=np.int64)
        combos = sets if self.valid is None else self.valid.combinations_of(sets)
        out = np.empty((sets.shape[0], len(self.axes)), dtype=np.int64)
        for j in range(len(self.axes) - 1, -1, -1):  # the last axis varies fastest
            size = len(self.axes[j].values)
            out[:, j] = combos % size
            combos = combos // size
        return out

    def params(self, index: int) -> dict[str, ParamValue]:
        """The parameter values of set `index`."""
        return self.describe(np.array([index]))[0][1]

    def describe(self, sets: np.ndarray) -> list[tuple[str, dict[str, ParamValue], str]]:
        """(type name, parameter values, strategy id) of each set, without building it."""
        out = []
        for position in self.positions(sets).tolist():
            params = dict(self.fixed)
            for axis, at in zip(self.axes, position, strict=True):
                params[axis.name] = axis.values[at]
            out.append((self.type_name, params, format_strategy_id(self.type_name, params)))
        return out

    def id_keys(self, sets: np.ndarray) -> np.ndarray:
        """int64 keys that order sets as their strategy ids order (as strings).

        Ids are `TYPE(a=..,b=..)` with the parameters sorted by name and the same names in
        every set, so they compare as the tuples of their value texts in name order (a text
        that is a prefix of another sorts first either way: `,` and `)` sort below every
        character of a number); each axis contributes the rank of its value's text.
        """
        positions = self.positions(sets)
        keys = np.zeros(positions.shape[0], dtype=np.int64)
        for j in sorted(range(len(self.axes)), key=lambda j: self.axes[j].name):
            rank = self._id_ranks[j]
            keys = keys * len(rank) + rank[positions[:, j]]
        return keys


@dataclass(frozen=True, eq=False)
class Grid:
    """The expansion of a grid over one strategy type.

    Attributes:
        type_name: the strategy type searched.
        axes: the searched parameters, in flag order.
        combinations: the size of the cartesian product.
        skipped: combinations that broke a constraint.
        constraints: the type's constraints, as text.
        sets: the valid parameter sets and their names.
        stype: the strategy type (builds a set's strategy on demand).
    """

    type_name: str
    axes: tuple[GridAxis, ...]
    combinations: int
    skipped: int
    constraints: tuple[str, ...]
    sets: GridSets
    stype: StrategyType

    @property
    def strategies(self) -> GridStrategies:
        """One strategy per valid combination, in grid order, built when indexed."""
        return GridStrategies(self.sets, self.stype)

    def __len__(self) -> int:
        """The number of valid parameter sets."""
        return self.combinations - self.skipped

    def describe(self) -> str:
        """One line for the console: what was searched and what was skipped."""
        axes = ", ".join(f"{a.name} ({len(a.values)} values)" for a in self.axes)
        text = (
            f"grid over {self.type_name}: {axes}: {self.combinations} combinations, "
            f"{len(self)} evaluated"
        )
        if self.skipped:
            text += f", {self.skipped} skipped (constraint {' and '.join(self.constraints)})"
        return text


class GridStrategies(Sequence[Strategy]):
    """The strategies of a grid as a sequence, built when indexed or sliced.

    Attributes:
        sets: the grid's sets (`names()` returns them: naming needs no strategy).
    """

    def __init__(self, sets: GridSets, stype: StrategyType) -> None:
        self.sets = sets
        self._stype = stype

    def __len__(self) -> int:
        return len(self.sets)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"parameter set {index} of {len(self)}")
        try:
            return self._stype.build(self.sets.params(index))
        except StrategyError as exc:
            raise ValueError(str(exc)) from None

    def __iter__(self) -> Iterator[Strategy]:
        for index in range(len(self)):
            yield self[index]

    def names(self) -> GridSets:
        """What each set is called (see :func:`tradestream.backtest.ranking.set_names`)."""
        return self.sets


def parse_axis_text(text: str) -> tuple[str, str]:
    """Splits `NAME=SPEC`.

    Raises:
        ValueError: no `=` or an empty name or spec.
    """
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise ValueError(f"--grid needs NAME=START:STOP:STEP (or NAME=V1,V2,...), got {text!r}")
    return name.strip(), spec.strip()


def _number(text: str, spec: ParamSpec) -> ParamValue:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--grid {spec.name}: {text!r} is not a number") from None
    if spec.kind == "int":
        if not value.is_integer():
            raise ValueError(f"--grid {spec.name}: {text!r} is not an integer")
        return int(value)
    return value


def axis_values(spec: ParamSpec, text: str) -> tuple[ParamValue, ...]:
    """The values of one axis, checked against the parameter's kind and bounds.

    Raises:
        ValueError: malformed text, a step <= 0, start > stop, or values out of bounds.
    """
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"--grid {spec.name}: use START:STOP:STEP, got {text!r}")
        start, stop, step = (_number(p, spec) for p in parts)
        if step <= 0:
            raise ValueError(f"--grid {spec.name}: step must be > 0, got {step}")
        if start > stop:
            raise ValueError(f"--grid {spec.name}: start {start} is above stop {stop}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_COMBINATIONS:
            raise ValueError(f"--grid {spec.name}: {count} values is too many")
        if spec.kind == "int":
            values = tuple(range(int(start), int(stop) + 1, int(step)))
        else:
            values = tuple(round(start + i * step, 12) for i in range(count))
    else:
        values = tuple(_number(p.strip(), spec) for p in text.split(",") if p.strip())
        if not values:
            raise ValueError(f"--grid {spec.name}: no values in {text!r}")
    try:
        return tuple(dict.fromkeys(spec.coerce(v) for v in values))
    except StrategyError as exc:
        raise ValueError(f"--grid {spec.name}: {exc}") from None


def expand_grid(
    stype: StrategyType,
    base: Mapping[str, object],
    axes_text: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
) -> Grid:
    """Checks every combination of a grid over one strategy type against its constraints.

    Args:
        stype: the strategy type (library or strategy file).
        base: fixed parameter values (`--param`) over the defaults.
        axes_text: the `--grid` flags, `NAME=SPEC` each.
        progress: called as `progress(checked, combinations)` every 65,536 combinations
            when the type has constraints (a million take a few seconds).

    Returns:
        The Grid (of no set when every combination breaks a constraint).

    Raises:
        ValueError: unknown parameter, an axis given twice or also as --param, bad values,
            too many combinations, or a first valid set that cannot be built.
    """
    specs = {spec.name: spec for spec in stype.params}
    axes: list[GridAxis] = []
    for text in axes_text:
        name, spec_text = parse_axis_text(text)
        if name not in specs:
            raise ValueError(
                f"--grid {name}: {stype.name} has no parameter {name!r}; "
                f"its parameters are {', '.join(specs)}"
            )
        if any(a.name == name for a in axes):
            raise ValueError(f"--grid {name} is given twice")
        if name in base:
            raise ValueError(f"{name} is given both as --param and as --grid")
        axes.append(GridAxis(name, axis_values(specs[name], spec_text)))
    combinations = math.prod(len(a.values) for a in axes)
    if combinations > MAX_COMBINATIONS:
        raise ValueError(f"the grid has {combinations} combinations; at most {MAX_COMBINATIONS}")
    try:
        fixed = resolve_params(stype.params, base)
    except StrategyError as exc:
        raise ValueError(f"{stype.name}: {exc}") from None
    valid = None
    if stype.constraints:
        valid = ValidCombinations(_check_constraints(stype, fixed, axes, combinations, progress))
    sets = GridSets(stype.name, tuple(axes), fixed, valid)
    grid = Grid(
        type_name=stype.name,
        axes=tuple(axes),
        combinations=combinations,
        skipped=combinations - len(sets),
        constraints=tuple(c.text for c in stype.constraints),
        sets=sets,
        stype=stype,
    )
    if len(grid):
        grid.strategies[0]  # noqa: B018 - a builder error shows now, not in a worker
    return grid


def _check_constraints(
    stype: StrategyType,
    fixed: Mapping[str, ParamValue],
    axes: Sequence[GridAxis],
    combinations: int,
    progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    """The bool mask of the combinations that keep every constraint, in grid order."""
    names = [a.name for a in axes]
    checks = [c.check for c in stype.constraints]
    mask = np.empty(combinations, dtype=bool)
    params = dict(fixed)
    product = itertools.product(*(a.values for a in axes))
    for start in range(0, combinations, _BLOCK):
        for i, values in enumerate(itertools.islice(product, _BLOCK), start):
            params.update(zip(names, values, strict=True))
            mask[i] = all(check(params) for check in checks)
        if progress is not None:
            progress(min(start + _BLOCK, combinations), combinations)
    return mask
