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
    """

    strategy_id: str
    action: str
    reason: str
    index: int


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
