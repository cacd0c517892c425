"""Rule kinds: boolean series built from series or other rules.

``above``/``below`` compare two series strictly; ``crosses_above(a, b)`` is true when the previous
candle had ``a < b`` and this one has ``a > b`` (touching is not crossing); ``rising(x, n)`` means
``x > x[n]``; ``cooldown(rule, bars)`` passes a rising edge of ``rule`` only if it did not pass one
in the previous ``bars`` candles. A comparison with a not-yet-defined (NaN) value is false, and
the evaluators never emit a signal before every node of a strategy is defined.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from tradestream.strategies.kinds.registry import Incremental, NodeKind, Params, register


class _Compare(Incremental):
    __slots__ = ("greater",)

    def __init__(self, greater: bool) -> None:
        self.greater = greater

    def step(self, a: float, b: float) -> bool:
        return a > b if self.greater else a < b


class _Cross(Incremental):
    __slots__ = ("up", "prev_a", "prev_b")
    _state = ("prev_a", "prev_b")

    def __init__(self, up: bool) -> None:
        self.up = up
        self.prev_a = None
        self.prev_b = None

    def step(self, a: float, b: float) -> bool:
        prev_a, prev_b = self.prev_a, self.prev_b
        if a != a or b != b:
            self.prev_a = self.prev_b = None
            return False
        self.prev_a, self.prev_b = a, b
        if prev_a is None:
            return False
        if self.up:
            return prev_a < prev_b and a > b
        return prev_a > prev_b and a < b


def _cross_batch(inputs: list[np.ndarray], p: Params, lb: int, up: bool) -> np.ndarray:
    a, b = inputs
    out = np.zeros(a.shape[0], dtype=bool)
    if a.shape[0] > 1:
        if up:
            out[1:] = (a[:-1] < b[:-1]) & (a[1:] > b[1:])
        else:
            out[1:] = (a[:-1] > b[:-1]) & (a[1:] < b[1:])
    return out


class _Trend(Incremental):
    __slots__ = ("up", "window")
    _state = ("window",)

    def __init__(self, period: int, up: bool) -> None:
        self.up = up
        self.window: deque = deque(maxlen=period + 1)

    def step(self, x: float) -> bool:
        if x != x:
            self.window.clear()
            return False
        window = self.window
        window.append(x)
        if len(window) < window.maxlen:
            return False
        return x > window[0] if self.up else x < window[0]


def _trend_batch(inputs: list[np.ndarray], p: Params, lb: int, up: bool) -> np.ndarray:
    x, n = inputs[0], int(p["period"])
    out = np.zeros(x.shape[0], dtype=bool)
    if n < x.shape[0]:
        out[n:] = (x[n:] > x[:-n]) if up else (x[n:] < x[:-n])
    return out


class _Logic(Incremental):
    __slots__ = ("op",)

    def __init__(self, op: str) -> None:
        self.op = op

    def step(self, *values: bool) -> bool:
        if self.op == "and":
            return all(values)
        if self.op == "or":
            return any(values)
        return not values[0]


class _Cooldown(Incremental):
    __slots__ = ("bars", "start", "t", "prev", "last")
    _state = ("t", "prev", "last")

    def __init__(self, bars: int, input_lookback: int) -> None:
        self.bars = bars
        self.start = input_lookback + 1
        self.t = 0
        self.prev = False
        self.last = None

    def step(self, value: bool) -> bool:
        t = self.t
        self.t = t + 1
        prev = self.prev
        self.prev = bool(value)
        if t < self.start or not value or prev:
            return False
        if self.last is not None and t - self.last <= self.bars:
            return False
        self.last = t
        return True


def _cooldown_batch(inputs: list[np.ndarray], p: Params, lb: int) -> np.ndarray:
    rule = inputs[0]
    out = np.zeros(rule.shape[0], dtype=bool)
    edges = np.zeros_like(out)
    edges[1:] = rule[1:] & ~rule[:-1]
    bars, last = int(p["bars"]), None
    for t in np.flatnonzero(edges):
        if t < lb + 1:
            continue
        if last is None or t - last > bars:
            out[t] = True
            last = int(t)
    return out


_AB = ("a", "b")
for _name, _greater in (("above", True), ("below", False)):
    register(
        NodeKind(
            _name, 2, (), "series", "rule", lambda p: 0,
            lambda xs, p, lb, _g=_greater: (xs[0] > xs[1]) if _g else (xs[0] < xs[1]),
            lambda p, lb, _g=_greater: _Compare(_g),
            f"a {'>' if _greater else '<'} b",
            _AB,
        )
    )  # fmt: skip
for _name, _up in (("crosses_above", True), ("crosses_below", False)):
    register(
        NodeKind(
            _name, 2, (), "series", "rule", lambda p: 1,
            lambda xs, p, lb, _up=_up: _cross_batch(xs, p, lb, _up),
            lambda p, lb, _up=_up: _Cross(_up),
            f"previous a {'<' if _up else '>'} b and now a {'>' if _up else '<'} b",
            _AB,
        )
    )  # fmt: skip
for _name, _up in (("rising", True), ("falling", False)):
    register(
        NodeKind(
            _name, 1, (("period", int),), "series", "rule", lambda p: int(p["period"]),
            lambda xs, p, lb, _up=_up: _trend_batch(xs, p, lb, _up),
            lambda p, lb, _up=_up: _Trend(int(p["period"]), _up),
            f"x {'>' if _up else '<'} x[period]",
        )
    )  # fmt: skip
register(
    NodeKind(
        "and", None, (), "rule", "rule", lambda p: 0,
        lambda xs, p, lb: np.logical_and.reduce(xs),
        lambda p, lb: _Logic("and"),
        "all inputs true",
    )
)  # fmt: skip
register(
    NodeKind(
        "or", None, (), "rule", "rule", lambda p: 0,
        lambda xs, p, lb: np.logical_or.reduce(xs),
        lambda p, lb: _Logic("or"),
        "any input true",
    )
)  # fmt: skip
register(
    NodeKind(
        "not", 1, (), "rule", "rule", lambda p: 0,
        lambda xs, p, lb: ~xs[0],
        lambda p, lb: _Logic("not"),
        "input false",
    )
)  # fmt: skip
register(
    NodeKind(
        "cooldown", 1, (("bars", int),), "rule", "rule", lambda p: 1,
        _cooldown_batch,
        lambda p, lb: _Cooldown(int(p["bars"]), lb),
        "rising edge of the input, unless one passed in the previous `bars` candles",
    )
)  # fmt: skip


class _AsNumber(Incremental):
    __slots__ = ()

    def step(self, rule: bool) -> float:
        return 1.0 if rule else 0.0


register(
    NodeKind(
        "as_number", 1, (), "rule", "series", lambda p: 0,
        lambda xs, p, lb: xs[0].astype(np.float64),
        lambda p, lb: _AsNumber(),
        "1 where the rule is true, else 0 (to weigh and add rules, e.g. votes)",
    )
)  # fmt: skip
