"""Signal actions and the "which rule fired" reason shared by both evaluators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tradestream.strategies.graph import Node

BUY = 1
SELL = -1
NONE = 0
ACTION_NAMES = {BUY: "BUY", SELL: "SELL"}


@dataclass(frozen=True)
class Emission:
    """One signal from the incremental evaluator.

    Attributes:
        strategy_id: canonical id of the strategy (``SMA_CROSSOVER(fast=10,slow=30)``).
        action: ``"BUY"`` or ``"SELL"``.
        reason: the rule that fired, e.g. ``"entry: crosses_above(sma(close,10),sma(close,30))"``.
        index: index of the candle (0-based, counted from the first candle of the symbol).
        order: the order a BUY asks for, when its strategy has one.
    """

    strategy_id: str
    action: str
    reason: str
    index: int
    # A BUY of a strategy with an OrderSpec: (type, price, time in force, stop, take-profit),
    # the nodes' values at this candle (None where not given).
    order: tuple | None = None
    # The strategy's confidence node at this candle, clipped to [0, 1] (1 without one).
    confidence: float = 1.0


def fired_rule(rule: Node, truth: Callable[[Node], bool]) -> Node:
    """Returns the most specific rule that explains why ``rule`` is true now.

    For ``or`` it descends into the first true branch; any other rule explains itself.
    """
    while rule.kind == "or":
        rule = next(child for child in rule.inputs if truth(child))
    return rule


def reason_text(action: int, rule: Node, truth: Callable[[Node], bool]) -> str:
    """Human-readable reason: ``"entry: <rule>"`` for BUY, ``"exit: <rule>"`` for SELL."""
    role = "entry" if action == BUY else "exit"
    return f"{role}: {fired_rule(rule, truth)}"


def clip_confidence(value: float) -> float:
    """A confidence node's value as a signal's confidence: clipped to [0, 1], NaN -> 0."""
    value = float(value)
    if value != value:
        return 0.0
    return min(1.0, max(0.0, value))


def order_tuple(order, value: Callable[[str], float]) -> tuple:
    """(type, price, time in force, stop, take-profit) of an OrderSpec, the nodes' values read
    with `value(name)` (both evaluators use it, so both give the same tuple)."""
    names = order.nodes()

    def read(name: str) -> float | None:
        return float(value(name)) if name in names else None

    return (order.type, read("price"), order.time_in_force, read("stop"), read("take_profit"))
