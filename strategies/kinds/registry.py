"""The vocabulary of node kinds: what each kind takes, outputs, and how it is computed.

A :class:`NodeKind` pairs one batch implementation (numpy / TA-Lib over whole arrays) with one
incremental implementation (plain-Python recurrence, one candle at a time, plain-data state).
Both must give bit-identical values; the tests under ``tests/strategies/kinds`` check that, and
check the batch side against TA-Lib or hand-computed values.

Each kind declares its own *lookback*: how many candles after its inputs become defined it
needs before its first defined output. A node's absolute lookback is the maximum over its
inputs plus its own, which matches how TA-Lib skips a leading run of NaN inputs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from tradestream.strategies.errors import StrategyError

NAN = float("nan")
# TA-Lib's TA_EPSILON: the band its TA_IS_ZERO / TA_IS_ZERO_OR_NEG macros use.
TA_EPSILON = 1e-14

ValueType = Literal["series", "rule"]
# A kind may take inputs of "any" type and output the "same" type as its input (timeframe).
InputType = Literal["series", "rule", "any"]
OutputType = Literal["series", "rule", "same"]
Params = Mapping[str, Any]


class Incremental:
    """One node's recurrence: ``step`` takes this candle's input values, returns its value.

    Subclasses list their mutable attributes in ``_state``; deques and plain numbers are
    turned into lists / numbers so the state is JSON-able and rebuildable exactly.
    """

    __slots__ = ()
    _state: tuple[str, ...] = ()

    def step(self, *inputs: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def get_state(self) -> list:
        out = []
        for name in self._state:
            value = getattr(self, name)
            out.append(list(value) if isinstance(value, deque) else value)
        return out

    def set_state(self, state: list) -> None:
        if len(state) != len(self._state):
            raise StrategyError(f"{type(self).__name__}: state has {len(state)} fields")
        for name, value in zip(self._state, state, strict=True):
            current = getattr(self, name)
            if isinstance(current, deque):
                value = deque(value, maxlen=current.maxlen)
            elif isinstance(current, list):
                value = list(value)
            setattr(self, name, value)


BatchFn = Callable[[list[np.ndarray], Params, int], np.ndarray]
IncrementalFactory = Callable[[Params, int], Incremental]


@dataclass(frozen=True)
class NodeKind:
    """The definition of one node kind.

    Attributes:
        name: lower-case identifier used in graphs and strategy files (``"sma"``).
        arity: number of inputs, or None for variadic kinds such as ``and`` (at least
            ``min_inputs``, 2 unless said).
        params: parameter names in canonical order, with their Python type.
        inputs: the value type every input must have.
        output: the value type of the node.
        own_lookback: candles needed after the inputs are defined, from the params.
        batch: whole-array implementation ``(inputs, params, input_lookback) -> array``.
        incremental: factory ``(params, input_lookback) -> Incremental``.
        description: one line for ``strategies show`` and error messages.
        input_names: names of the inputs, for documentation.
        reference: for kinds whose batch side is our own recurrence (see ``loop_batch``), the
            TA-Lib batch call they are checked against with a tolerance; None otherwise.
    """

    name: str
    arity: int | None
    params: tuple[tuple[str, type], ...]
    inputs: InputType
    output: OutputType
    own_lookback: Callable[[Params], int]
    batch: BatchFn
    incremental: IncrementalFactory
    description: str
    input_names: tuple[str, ...] = field(default=())
    reference: BatchFn | None = None
    min_inputs: int = 2  # a variadic kind's least number of inputs


_KINDS: dict[str, NodeKind] = {}


def register(kind: NodeKind) -> NodeKind:
    """Adds a kind to the vocabulary (names are unique)."""
    if kind.name in _KINDS:
        raise StrategyError(f"node kind {kind.name!r} registered twice")
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> NodeKind:
    """Returns the kind called ``name``.

    Raises:
        StrategyError: no such kind.
    """
    try:
        return _KINDS[name]
    except KeyError:
        raise StrategyError(
            f"unknown node kind {name!r}; known kinds: {', '.join(sorted(_KINDS))}"
        ) from None


def all_kinds() -> dict[str, NodeKind]:
    """Returns every registered kind by name."""
    return dict(_KINDS)


def loop_batch(factory: IncrementalFactory) -> BatchFn:
    """Builds a batch function that runs the incremental recurrence over the arrays.

    Used for indicators TA-Lib does not have and that are path-dependent (Heiken Ashi open,
    Renko bricks, ...): both evaluators then share one definition, tested by hand.
    """

    def batch(inputs: list[np.ndarray], params: Params, input_lookback: int) -> np.ndarray:
        impl = factory(params, input_lookback)
        n = inputs[0].shape[0] if inputs else 0
        columns = [column.tolist() for column in inputs]
        out = [impl.step(*values) for values in zip(*columns, strict=True)] if columns else []
        return np.asarray(out, dtype=np.float64).reshape(n)

    return batch


_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp's splitting constant for doubles


def fma(a: float, b: float, c: float) -> float:
    """``a * b + c`` rounded once, like the fused multiply-add TA-Lib's compiled C uses.

    The wheel's C library is compiled with floating-point contraction, so e.g. its EMA update
    ``((x - prev) * k) + prev`` is one FMA. Python 3.11 has no ``math.fma``: the exact product
    is split (Dekker) into ``p + e`` and ``math.fsum`` rounds ``p + e + c`` exactly once.
    """
    p = a * b
    t = _SPLIT * a
    a_hi = t - (t - a)
    a_lo = a - a_hi
    t = _SPLIT * b
    b_hi = t - (t - b)
    b_lo = b - b_hi
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return math.fsum((p, e, c))


def is_nan(value: float) -> bool:
    """True for NaN (the 'not defined yet' value of a series)."""
    return value != value
