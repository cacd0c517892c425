"""Named, typed, bounded strategy parameters.

A strategy type declares its parameters once as :class:`ParamSpec` objects; the optimizer reads
them by introspection and :func:`resolve_params` checks a user's values against them (unknown
names, wrong types and out-of-bounds values are :class:`StrategyError`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tradestream.strategies.errors import StrategyError

ParamValue = int | float


@dataclass(frozen=True)
class ParamSpec:
    """One tunable parameter: its name, kind, inclusive bounds, default and meaning."""

    name: str
    kind: Literal["int", "float"]
    low: ParamValue
    high: ParamValue
    default: ParamValue
    description: str

    def __post_init__(self) -> None:
        if self.kind not in ("int", "float"):
            raise StrategyError(f"parameter {self.name!r}: kind must be 'int' or 'float'")
        for label, value in (("low", self.low), ("high", self.high), ("default", self.default)):
            if not _is_number(value) or not math.isfinite(value):
                raise StrategyError(
                    f"parameter {self.name!r}: {label} must be a finite number, got {value!r}"
                )
        if not self.low <= self.default <= self.high:
            raise StrategyError(
                f"parameter {self.name!r}: default {self.default} outside [{self.low}, {self.high}]"
            )

    def coerce(self, value: object) -> ParamValue:
        """Returns ``value`` checked against kind and bounds.

        Raises:
            StrategyError: wrong type (bool, str, non-integral float for an int) or out of bounds.
        """
        if not _is_number(value):
            raise StrategyError(
                f"parameter {self.name!r} must be a number, got {type(value).__name__}"
            )
        if self.kind == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise StrategyError(f"parameter {self.name!r} must be an integer, got {value}")
                value = int(value)
        else:
            value = float(value)
        if not self.low <= value <= self.high:
            raise StrategyError(
                f"parameter {self.name!r}={value} is outside its bounds [{self.low}, {self.high}]"
            )
        return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def resolve_params(
    specs: Sequence[ParamSpec], values: Mapping[str, object] | None
) -> dict[str, ParamValue]:
    """Merges ``values`` over the defaults of ``specs`` and validates every value.

    Args:
        specs: the declared parameters of a strategy type.
        values: user overrides by name (may be partial or None).

    Returns:
        A complete name -> value dict, in declaration order.

    Raises:
        StrategyError: unknown names, wrong types or out-of-bounds values.
    """
    values = dict(values or {})
    known = {spec.name for spec in specs}
    unknown = sorted(set(values) - known)
    if unknown:
        raise StrategyError(
            f"unknown parameter(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}"
        )
    return {
        spec.name: spec.coerce(values[spec.name]) if spec.name in values else spec.default
        for spec in specs
    }
