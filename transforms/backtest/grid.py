"""Parameter grids: `--grid fast=5:50:5 --grid slow=20:200:10` -> every valid parameter set.

A grid axis is `NAME=START:STOP:STEP` (stop included), `NAME=V1,V2,...` or `NAME=V`. Values
are checked against the parameter's declared kind and bounds (an out-of-bounds value or an
unknown name is an error naming the bounds); parameters without an axis keep their `--param`
value or default. The grid is the cartesian product of the axes, in axis order (the last
axis varies fastest); combinations that break a constraint of the strategy type (`fast <
slow`) are skipped and counted, so a triangle of a square grid is evaluated in one run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from strategies.errors import StrategyError
from strategies.params import ParamSpec, ParamValue, resolve_params
from strategies.strategy import Strategy, StrategyType

MAX_COMBINATIONS = 1_000_000


@dataclass(frozen=True)
class GridAxis:
    """One searched parameter and its values."""

    name: str
    values: tuple[ParamValue, ...]


@dataclass(frozen=True)
class Grid:
    """The expansion of a grid over one strategy type.

    Attributes:
        type_name: the strategy type searched.
        axes: the searched parameters, in flag order.
        strategies: one built strategy per valid combination, in grid order.
        combinations: the size of the cartesian product.
        skipped: combinations that broke a constraint.
        constraints: the type's constraints, as text.
    """

    type_name: str
    axes: tuple[GridAxis, ...]
    strategies: tuple[Strategy, ...]
    combinations: int
    skipped: int
    constraints: tuple[str, ...]

    def describe(self) -> str:
        """One line for the console: what was searched and what was skipped."""
        axes = ", ".join(f"{a.name} ({len(a.values)} values)" for a in self.axes)
        text = (
            f"grid over {self.type_name}: {axes}: {self.combinations} combinations, "
            f"{len(self.strategies)} evaluated"
        )
        if self.skipped:
            text += f", {self.skipped} skipped (constraint {' and '.join(self.constraints)})"
        return text


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


def expand_grid(stype: StrategyType, base: Mapping[str, object], axes_text: Sequence[str]) -> Grid:
    """Builds every valid parameter set of a grid over one strategy type.

    Args:
        stype: the strategy type (library or strategy file).
        base: fixed parameter values (`--param`) over the defaults.
        axes_text: the `--grid` flags, `NAME=SPEC` each.

    Returns:
        The Grid (an empty `strategies` when every combination breaks a constraint).

    Raises:
        ValueError: unknown parameter, an axis given twice or also as --param, bad values,
            or too many combinations.
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
    built: list[Strategy] = []
    skipped = 0
    for values in itertools.product(*(a.values for a in axes)):
        params = dict(fixed)
        params.update(zip((a.name for a in axes), values, strict=True))
        if not all(c.check(params) for c in stype.constraints):
            skipped += 1
            continue
        try:
            built.append(stype.build(params))
        except StrategyError as exc:
            raise ValueError(str(exc)) from None
    return Grid(
        type_name=stype.name,
        axes=tuple(axes),
        strategies=tuple(built),
        combinations=combinations,
        skipped=skipped,
        constraints=tuple(c.text for c in stype.constraints),
    )
