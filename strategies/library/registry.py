"""The registry of built-in strategy types: ``get(name)``, ``names()``, ``build(name, params)``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import Node
from tradestream.strategies.params import ParamSpec
from tradestream.strategies.strategy import Constraint, Strategy, StrategyType, less

_TYPES: dict[str, StrategyType] = {}

Rules = Callable[[Mapping], tuple[Node, Node]]


def ip(name: str, low: int, high: int, default: int, description: str) -> ParamSpec:
    """An integer parameter."""
    return ParamSpec(name, "int", low, high, default, description)


def fp(name: str, low: float, high: float, default: float, description: str) -> ParamSpec:
    """A float parameter."""
    return ParamSpec(name, "float", float(low), float(high), float(default), description)


def strategy_type(
    name: str,
    description: str,
    params: list[ParamSpec],
    constraints: tuple[Constraint, ...] = (),
) -> Callable[[Rules], Rules]:
    """Decorator registering a rules builder as a strategy type."""

    def register(rules: Rules) -> Rules:
        if name in _TYPES:
            raise StrategyError(f"strategy type {name!r} registered twice")
        if name != name.upper():  # `get` looks names up in upper case
            raise StrategyError(f"strategy type {name!r}: type names are upper case")
        _TYPES[name] = StrategyType(name, description, tuple(params), rules, constraints)
        return rules

    return register


def get(name: str) -> StrategyType:
    """Returns the strategy type called ``name``, in any letter case (``sma_crossover``).

    Every place that takes a type name (the --strategy flags, ``strategies show``, strategy
    files, optimizer results, published strategy sets) looks it up here, so all of them accept
    any case; the type keeps its registered name (ids and outputs are unchanged).

    Raises:
        StrategyError: unknown name (the message lists the known ones).
    """
    found = _TYPES.get(name.strip().upper()) if isinstance(name, str) else None
    if found is None:  # not a name at all, e.g. a list from a JSON file: unknown too
        raise StrategyError(f"unknown strategy type {name!r}; see `strategies list`")
    return found


def names() -> list[str]:
    """Returns every registered type name, sorted."""
    return sorted(_TYPES)


def build(name: str, params: Mapping[str, object] | None = None) -> Strategy:
    """Builds the strategy type ``name`` with ``params`` over its defaults."""
    return get(name).build(params)


__all__ = ["build", "fp", "get", "ip", "less", "names", "strategy_type"]
