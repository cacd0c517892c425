"""Strategy graphs as data: immutable, hashable nodes.

A :class:`Node` is ``(kind, inputs, params)``. Two nodes with the same kind, inputs and params are
equal and hash alike, so when many strategies run on one symbol a node such as
``sma(close,20)`` is computed once however many strategies use it. Nodes validate themselves on
construction (known kind, arity, parameter names and types, input value types).

``node.lookback`` is the index of the first candle at which the node is defined (0 for candle
fields), i.e. the largest input lookback plus the kind's own lookback. A graph with
``timeframe`` nodes (longer candles, :mod:`tradestream.strategies.timeframes`) has lookbacks
that depend on the candle interval: ``timeframes.lookbacks(roots, interval_ms)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tradestream.strategies.errors import StrategyError
from tradestream.strategies.kinds import get_kind
from tradestream.strategies.kinds.registry import NodeKind

# The kind whose input is computed on longer candles (tradestream.strategies.timeframes).
TIMEFRAME = "timeframe"


def _format_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return repr(value) if isinstance(value, float) else str(value)


def interval_text(ms: int) -> str:
    """``3600000`` -> ``1h``: in the largest unit that divides it (d, h, m, s, ms)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


@dataclass(frozen=True, eq=True)
class Node:
    """One node of a strategy graph.

    Attributes:
        kind: the kind name (see :mod:`tradestream.strategies.kinds`).
        inputs: input nodes, in the kind's order.
        params: ``(name, value)`` pairs in the kind's canonical parameter order.
    """

    kind: str
    inputs: tuple[Node, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spec = get_kind(self.kind)
        if spec.arity is None:
            if len(self.inputs) < spec.min_inputs:
                raise StrategyError(
                    f"{self.kind}: needs at least {spec.min_inputs} inputs, got {len(self.inputs)}"
                )
        elif len(self.inputs) != spec.arity:
            raise StrategyError(f"{self.kind}: takes {spec.arity} input(s), got {len(self.inputs)}")
        for i, child in enumerate(self.inputs):
            if not isinstance(child, Node):
                raise StrategyError(f"{self.kind}: input {i} is not a node: {child!r}")
            if spec.inputs != "any" and child.output != spec.inputs:
                raise StrategyError(
                    f"{self.kind}: input {i} ({child}) is a {child.output}, expected a {spec.inputs}"
                )
        given = dict(self.params)
        expected = [name for name, _ in spec.params]
        missing = [name for name in expected if name not in given]
        unknown = sorted(set(given) - set(expected))
        if missing or unknown:
            raise StrategyError(
                f"{self.kind}: parameters must be exactly {expected}; "
                f"missing {missing}, unknown {unknown}"
            )
        ordered = []
        for name, kind in spec.params:
            value = given[name]
            if kind not in (int, float):  # an object parameter (a model node's ModelRef)
                if not isinstance(value, kind):
                    raise StrategyError(
                        f"{self.kind}: parameter {name!r} must be a {kind.__name__}"
                    )
                ordered.append((name, value))
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise StrategyError(f"{self.kind}: parameter {name!r} must be a number")
            if not math.isfinite(value):
                raise StrategyError(f"{self.kind}: parameter {name!r} must be finite, got {value}")
            if kind is int:
                if float(value) != int(value):
                    raise StrategyError(f"{self.kind}: parameter {name!r} must be an integer")
                value = int(value)
                if value < 1:
                    raise StrategyError(f"{self.kind}: parameter {name!r} must be >= 1")
            else:
                value = float(value)
            ordered.append((name, value))
        object.__setattr__(self, "params", tuple(ordered))
        object.__setattr__(self, "_hash", hash((self.kind, self.inputs, self.params)))
        self._check(spec)

    def _check(self, spec: NodeKind) -> None:
        p = self.param_dict
        if self.kind == "macd" and not p["fast"] < p["slow"]:
            raise StrategyError("macd: fast must be < slow")
        if self.kind == "frama" and p["period"] % 2:
            raise StrategyError("frama: period must be even")
        if (
            self.kind
            in (
                "sma",
                "ema",
                "sum",
                "max",
                "min",
                "stddev",
                "rsi",
                "cmo",
                "adx",
                "plus_di",
                "minus_di",
                "aroon_up",
                "aroon_down",
                "linearreg",
                "linearreg_slope",
                "mfi",
                "cci",
                "atr",
            )
            and p["period"] < 2
        ):
            raise StrategyError(f"{self.kind}: period must be >= 2")  # fmt: skip

    def __hash__(self) -> int:
        return self._hash

    @property
    def spec(self) -> NodeKind:
        """The kind definition of this node."""
        return get_kind(self.kind)

    @property
    def output(self) -> str:
        """``"series"`` or ``"rule"`` (a timeframe node: its input's)."""
        output = get_kind(self.kind).output
        return self.inputs[0].output if output == "same" else output

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def lookback(self) -> int:
        """Index of the first candle at which this node is defined."""
        cached = self.__dict__.get("_lookback")
        if cached is None:
            if self.kind == TIMEFRAME:
                raise StrategyError(
                    f"{self}: the lookback of a node on longer candles depends on the candle "
                    "interval (tradestream.strategies.timeframes.lookbacks)"
                )
            base = max((child.lookback for child in self.inputs), default=0)
            cached = base + self.spec.own_lookback(self.param_dict)
            object.__setattr__(self, "_lookback", cached)
        return cached

    @property
    def input_lookback(self) -> int:
        """Index of the first candle at which all inputs are defined."""
        return max((child.lookback for child in self.inputs), default=0)

    def __str__(self) -> str:
        # Cached (nodes are immutable): every signal's reason names its rule, and the
        # library's rules are trees of tens of nodes.
        text = self.__dict__.get("_text")
        if text is None:
            text = self._format()
            object.__setattr__(self, "_text", text)
        return text

    def _format(self) -> str:
        if self.kind == "const":
            return _format_value(self.params[0][1])
        if self.kind == TIMEFRAME:
            return f"{self.inputs[0]}@{interval_text(self.params[0][1] * 1000)}"
        if not self.inputs and not self.params:
            return self.kind
        args = [str(child) for child in self.inputs]
        args += [_format_value(value) for _, value in self.params]
        return f"{self.kind}({','.join(args)})"

    def walk(self) -> Iterator[Node]:
        """Yields every node of the graph below and including this one, inputs first."""
        seen: set[Node] = set()
        yield from _walk(self, seen)


def _walk(node: Node, seen: set[Node], into_timeframes: bool = True) -> Iterator[Node]:
    if node in seen:
        return
    if into_timeframes or node.kind != TIMEFRAME:
        for child in node.inputs:
            yield from _walk(child, seen, into_timeframes)
    seen.add(node)
    yield node


def topological(roots: Iterable[Node], *, into_timeframes: bool = True) -> list[Node]:
    """Returns the distinct nodes under ``roots``, each after its inputs (shared once).

    ``into_timeframes=False`` stops at timeframe nodes: the nodes computed on the roots' own
    candles (a timeframe node's input is computed on its longer candles)."""
    seen: set[Node] = set()
    order: list[Node] = []
    for root in roots:
        for node in _walk(root, seen, into_timeframes):
            order.append(node)
    return order
