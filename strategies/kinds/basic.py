"""Candle fields, constants and element-wise arithmetic.

These kinds have no TA-Lib counterpart; their batch side is plain numpy, whose element-wise
float64 operations round exactly like the Python float operations of the incremental side.
Division by zero gives 0.0 on both sides, so no NaN can appear after the warm-up.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from tradestream.strategies.candle_arrays import BOOK_FIELDS, FIELDS
from tradestream.strategies.kinds.registry import NAN, Incremental, NodeKind, Params, register


def _no_batch(inputs: list[np.ndarray], params: Params, input_lookback: int) -> np.ndarray:
    raise AssertionError("candle fields and constants are fed by the evaluators")


class _Field(Incremental):
    __slots__ = ()

    def step(self, *inputs: float) -> float:  # pragma: no cover - fed by the evaluator
        raise AssertionError("candle fields are fed by the evaluators")


class _Const(Incremental):
    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def step(self) -> float:
        return self.value


def _field_text(name: str) -> str:
    if name in BOOK_FIELDS:
        return f"the order book's {name[5:].replace('_', ' ')} at the candle's close (level 2)"
    return f"the candle {name}"


for _name in FIELDS + BOOK_FIELDS:
    register(
        NodeKind(
            name=_name,
            arity=0,
            params=(),
            inputs="series",
            output="series",
            own_lookback=lambda p: 0,
            batch=_no_batch,
            incremental=lambda p, lb: _Field(),
            description=_field_text(_name),
        )
    )

register(
    NodeKind(
        name="const",
        arity=0,
        params=(("value", float),),
        inputs="series",
        output="series",
        own_lookback=lambda p: 0,
        batch=_no_batch,
        incremental=lambda p, lb: _Const(p["value"]),
        description="a constant series (thresholds)",
    )
)


class _Binary(Incremental):
    __slots__ = ("op",)

    def __init__(self, op) -> None:
        self.op = op

    def step(self, a: float, b: float) -> float:
        return self.op(a, b)


def _py_div(a: float, b: float) -> float:
    if b == 0.0:
        return 0.0
    return a / b


def _np_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a)
    np.divide(a, b, out=out, where=b != 0.0)
    return out


def _np_max2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # NaN propagates; otherwise the larger, the first on a tie (like max(a, b)).
    return np.where(np.isnan(a) | np.isnan(b), np.nan, np.where(b > a, b, a))


def _np_min2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(a) | np.isnan(b), np.nan, np.where(b < a, b, a))


def _py_max2(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return b if b > a else a


def _py_min2(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return b if b < a else a


_BINARY = {
    "add": (np.add, lambda a, b: a + b, "a + b"),
    "sub": (np.subtract, lambda a, b: a - b, "a - b"),
    "mul": (np.multiply, lambda a, b: a * b, "a * b"),
    "div": (_np_div, _py_div, "a / b (0 where b is 0)"),
    "max2": (_np_max2, _py_max2, "element-wise larger of a and b"),
    "min2": (_np_min2, _py_min2, "element-wise smaller of a and b"),
}

for _name, (_np_op, _py_op, _text) in _BINARY.items():
    register(
        NodeKind(
            name=_name,
            arity=2,
            params=(),
            inputs="series",
            output="series",
            own_lookback=lambda p: 0,
            batch=lambda inputs, p, lb, _op=_np_op: _op(inputs[0], inputs[1]),
            incremental=lambda p, lb, _op=_py_op: _Binary(_op),
            description=_text,
        )
    )


class _Lag(Incremental):
    __slots__ = ("window",)
    _state = ("window",)

    def __init__(self, period: int) -> None:
        self.window: deque = deque(maxlen=period + 1)

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        self.window.append(x)
        if len(self.window) < self.window.maxlen:
            return NAN
        return self.window[0]


def _lag_batch(inputs: list[np.ndarray], p: Params, lb: int) -> np.ndarray:
    x, n = inputs[0], int(p["period"])
    out = np.full_like(x, np.nan)
    if n < x.shape[0]:
        out[n:] = x[:-n] if n else x
    return out


register(
    NodeKind(
        name="lag",
        arity=1,
        params=(("period", int),),
        inputs="series",
        output="series",
        own_lookback=lambda p: int(p["period"]),
        batch=_lag_batch,
        incremental=lambda p, lb: _Lag(int(p["period"])),
        description="the input's value `period` candles ago",
    )
)


class _CumSum(Incremental):
    __slots__ = ("total",)
    _state = ("total",)

    def __init__(self) -> None:
        self.total = 0.0

    def step(self, x: float) -> float:
        if x != x:
            return NAN
        self.total += x
        return self.total


def _cumsum_batch(inputs: list[np.ndarray], p: Params, lb: int) -> np.ndarray:
    x = inputs[0]
    out = np.full_like(x, np.nan)
    defined = ~np.isnan(x)
    if defined.any():
        first = int(np.argmax(defined))
        # add.accumulate is sequential (no pairwise summation), like the running total.
        out[first:] = np.add.accumulate(np.concatenate(([0.0], x[first:])))[1:]
    return out


register(
    NodeKind(
        name="cumsum",
        arity=1,
        params=(),
        inputs="series",
        output="series",
        own_lookback=lambda p: 0,
        batch=_cumsum_batch,
        incremental=lambda p, lb: _CumSum(),
        description="running total of the input since it became defined",
    )
)
