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

from tradestream.strategies.candle_arrays import BOOK_FIELDS
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import TIMEFRAME, Node, _format_value, topological
from tradestream.strategies.params import ParamSpec, ParamValue, resolve_params
from tradestream.strategies.timeframes import lookbacks, node_interval_ms


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


ORDER_TYPES = ("market", "limit", "stop")


@dataclass(frozen=True)
class OrderSpec:
    """How a strategy's entries (BUY signals) are to be executed: the order type and value
    nodes for its price, protective stop and take-profit, read at the signal's candle
    (README "Order types"). None or 0 leaves a field to the executor's settings."""

    type: str = "market"
    price: Node | None = None
    time_in_force: int = 0
    stop: Node | None = None
    take_profit: Node | None = None

    def __post_init__(self) -> None:
        if self.type not in ORDER_TYPES:
            raise StrategyError(f"order type must be one of {ORDER_TYPES}, got {self.type!r}")
        if not isinstance(self.time_in_force, int) or self.time_in_force < 0:
            raise StrategyError(
                f"order time_in_force must be an integer >= 0, got {self.time_in_force!r}"
            )
        for name, node in self.nodes().items():
            if node.output == "rule":
                raise StrategyError(f"order {name} must be a value node, got the rule {node}")
        if self.type != "market" and self.price is None:
            raise StrategyError(f"a {self.type} order needs a 'price' node")

    def nodes(self) -> dict[str, Node]:
        """The value nodes it reads: price, stop, take_profit (those given)."""
        named = {"price": self.price, "stop": self.stop, "take_profit": self.take_profit}
        return {k: v for k, v in named.items() if v is not None}


@dataclass(frozen=True)
class Strategy:
    """A built strategy: fixed parameters and entry (BUY) / exit (SELL) rules, and optionally
    the order its entries ask for and a confidence node (its signals' confidence, read at
    the signal's candle and clipped to [0, 1]; without one, 1)."""

    type_name: str
    params: Mapping[str, ParamValue]
    entry: Node
    exit: Node
    description: str = ""
    order: OrderSpec | None = None
    confidence: Node | None = None
    strategy_id: str = field(init=False)

    def __post_init__(self) -> None:
        for role, rule in (("entry", self.entry), ("exit", self.exit)):
            if not isinstance(rule, Node) or rule.output != "rule":
                raise StrategyError(f"{self.type_name}: {role} must be a rule node, got {rule}")
        if self.confidence is not None and (
            not isinstance(self.confidence, Node) or self.confidence.output != "series"
        ):
            raise StrategyError(
                f"{self.type_name}: confidence must be a value node, got {self.confidence}"
            )
        object.__setattr__(self, "params", dict(self.params))
        args = ",".join(f"{k}={_format_value(v)}" for k, v in sorted(self.params.items()))
        object.__setattr__(self, "strategy_id", f"{self.type_name}({args})")

    def __hash__(self) -> int:
        return hash(self.strategy_id)

    @property
    def warmup(self) -> int:
        """Number of candles before the first possible signal (signals start at this index);
        an order's nodes count too, so that an entry's order price is defined.

        Raises:
            StrategyError: the strategy reads longer candles (its warm-up depends on the
                candle interval: `warmup_at`).
        """
        return self.warmup_at(None)

    def warmup_at(self, interval_ms: int | None) -> int:
        """`warmup` on candles of ``interval_ms`` (needed when the strategy reads longer
        candles, :mod:`tradestream.strategies.timeframes`)."""
        roots = self.roots()
        try:
            known = lookbacks(roots, interval_ms)
        except StrategyError as error:
            raise StrategyError(f"{self.strategy_id} {error}") from None
        return max(known[n] for n in roots) + 1

    @property
    def reads_book(self) -> bool:
        """Whether it reads order-book fields (level-2 data must come with the candles)."""
        return any(n.kind in BOOK_FIELDS for n in topological(self.roots()))

    @property
    def intervals_ms(self) -> tuple[int, ...]:
        """The longer candle intervals it reads, in ms, ascending (() for none)."""
        return tuple(sorted({
            node_interval_ms(n) for n in topological(self.roots()) if n.kind == TIMEFRAME
        }))  # fmt: skip

    def roots(self) -> list[Node]:
        """Every node the evaluators compute: the rules, the order's value nodes, then the
        confidence node."""
        order = list(self.order.nodes().values()) if self.order is not None else []
        confidence = [self.confidence] if self.confidence is not None else []
        return [self.entry, self.exit, *order, *confidence]


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
    # (entry, exit), (entry, exit, OrderSpec | None) or (entry, exit, order, confidence node)
    rules: Callable[[Mapping[str, Any]], tuple]
    constraints: tuple[Constraint, ...] = ()
    # The strategy file it is defined in (absolute), "" for a library type: an optimizer
    # result names it, so that its sets (and any model it reads) load again.
    source: str = ""

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
        built = self.rules(params)
        entry, exit_ = built[0], built[1]
        order = built[2] if len(built) > 2 else None
        confidence = built[3] if len(built) > 3 else None
        try:
            return Strategy(self.name, params, entry, exit_, self.description, order, confidence)
        except StrategyError as error:
            raise StrategyError(f"{self.name}: {error}") from None

    def warmup(
        self, values: Mapping[str, object] | None = None, interval_ms: int | None = None
    ) -> int:
        """Warm-up of the strategy built from ``values`` (defaults if None), on candles of
        ``interval_ms`` (needed for multi-timeframe strategies)."""
        return self.build(values).warmup_at(interval_ms)
