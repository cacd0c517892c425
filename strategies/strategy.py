"""Strategy types (parameterised templates) and built strategies (graphs with fixed params).

A :class:`StrategyType` declares its parameters (:class:`ParamSpec`) and constraints, and a
builder from parameter values to an (entry, exit) pair of rule nodes. ``build`` validates the
values and returns a :class:`Strategy`, whose ``strategy_id`` is a deterministic canonical string
such as ``SMA_CROSSOVER(fast=10,slow=30)`` (parameters sorted by name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import Node, _format_value
from tradestream.strategies.params import ParamSpec, ParamValue, resolve_params


@dataclass(frozen=True)
class Constraint:
    """A relation between parameters, e.g. ``fast < slow``, checked at build time."""

    text: str
    check: Callable[[Mapping[str, ParamValue]], bool]


def less(*names: str) -> Constraint:
    """Constraint that the named parameters are strictly increasing: ``a < b < c``."""

    def check(p: Mapping[str, ParamValue]) -> bool:
        return all(p[a] < p[b] for a, b in zip(names, names[1:], strict=False))

    return Constraint(" < ".join(names), check)


@dataclass(frozen=True)
class Strategy:
    """A built strategy: fixed parameters and entry (BUY) / exit (SELL) rules."""

    type_name: str
    params: Mapping[str, ParamValue]
    entry: Node
    exit: Node
    description: str = ""
    strategy_id: str = field(init=False)

    def __post_init__(self) -> None:
        for role, rule in (("entry", self.entry), ("exit", self.exit)):
            if not isinstance(rule, Node) or rule.output != "rule":
                raise StrategyError(f"{self.type_name}: {role} must be a rule node, got {rule}")
        object.__setattr__(self, "params", dict(self.params))
        args = ",".join(f"{k}={_format_value(v)}" for k, v in sorted(self.params.items()))
        object.__setattr__(self, "strategy_id", f"{self.type_name}({args})")

    def __hash__(self) -> int:
        return hash(self.strategy_id)

    @property
    def warmup(self) -> int:
        """Number of candles before the first possible signal (signals start at this index)."""
        return max(self.entry.lookback, self.exit.lookback) + 1


@dataclass(frozen=True)
class StrategyType:
    """A named, parameterised strategy template.

    Attributes:
        name: upper-case type name (``SMA_CROSSOVER``).
        description: one paragraph: the idea and the rules.
        params: declared parameters, in display order.
        rules: builder from a complete parameter dict to ``(entry, exit)`` rules.
        constraints: relations checked after bounds.
    """

    name: str
    description: str
    params: tuple[ParamSpec, ...]
    rules: Callable[[Mapping[str, Any]], tuple[Node, Node]]
    constraints: tuple[Constraint, ...] = ()

    def defaults(self) -> dict[str, ParamValue]:
        return {spec.name: spec.default for spec in self.params}

    def build(self, values: Mapping[str, object] | None = None, **kwargs: object) -> Strategy:
        """Validates parameters and builds the strategy.

        Args:
            values: parameter overrides by name (missing ones take their defaults).
            **kwargs: more overrides, merged over ``values``.

        Raises:
            StrategyError: unknown names, wrong types, out-of-bounds values, broken constraints.
        """
        merged = {**(values or {}), **kwargs}
        try:
            params = resolve_params(self.params, merged)
        except StrategyError as error:
            raise StrategyError(f"{self.name}: {error}") from None
        for constraint in self.constraints:
            if not constraint.check(params):
                shown = ", ".join(f"{k}={v}" for k, v in params.items())
                raise StrategyError(f"{self.name}: constraint {constraint.text} violated ({shown})")
        entry, exit_ = self.rules(params)
        return Strategy(self.name, params, entry, exit_, self.description)

    def warmup(self, values: Mapping[str, object] | None = None) -> int:
        """Warm-up of the strategy built from ``values`` (defaults if None)."""
        return self.build(values).warmup
