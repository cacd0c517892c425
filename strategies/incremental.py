"""The incremental evaluator: one candle at a time, bounded plain-data state per symbol.

Used by the realtime pipeline (one evaluator per symbol, kept in Beam/Flink state). Every node's
recurrence is plain Python over plain numbers (no TA-Lib stream handles, which cannot be
pickled), transcribed from TA-Lib so that node values, and therefore signals, are identical to
the vectorized evaluator's on the same candles.

    evaluator = IncrementalEvaluator(strategies)
    for candle in candles:
        for emission in evaluator.update(*candle):
            ...
    state = evaluator.get_state()                  # JSON-able dict
    evaluator = IncrementalEvaluator.from_state(strategies, state)

Per candle the cost is one step per distinct node (O(1) for running sums and Wilder
smoothing, O(window) for windowed extremes, regressions and CCI).
"""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Iterable
from typing import Any

from tradestream.strategies.actions import (
    BUY,
    SELL,
    Emission,
    clip_confidence,
    order_tuple,
    reason_text,
)
from tradestream.strategies.candle_arrays import BOOK_FIELDS, FIELDS
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import TIMEFRAME, Node, topological
from tradestream.strategies.kinds.registry import NAN, Incremental
from tradestream.strategies.strategy import Strategy
from tradestream.strategies.timeframes import (
    bucket_start,
    fold,
    has_timeframes,
    input_lookback,
    lookbacks,
    node_interval_ms,
    ratio,
)

# Version 2 stores node states as a list in the program's order, with a digest of that
# order (`layout`); version 1 keyed them by each node's expression, which was half of the
# ~100 KB per symbol written at every candle by the library's 66 strategies.
STATE_VERSION = 2


TIME_SLOT = len(FIELDS)  # the candle's start (ms) follows the five fields in a value list
BOOK_SLOT = TIME_SLOT + 1  # then the BOOK_FIELDS values


@functools.lru_cache(maxsize=64)
def _step_sequence(layout: tuple[tuple[tuple[int, ...], int], ...]):
    """A function `(values, calls)` that does, for each (inputs, out) slot pair of `layout` in
    turn, ``values[out] = calls[k](*values[inputs])``.

    Written out as straight-line Python source of those slot numbers (integers only) and
    compiled once per program layout: the realtime step evaluates every symbol's candle
    with it, and the loop it replaces (unpacking each step, testing its arity, indexing
    the value list through the input tuple) was 13% of an evaluation of the 66 library
    strategies (~490 steps per candle). A program's fresh copies share it.
    """
    lines = ["def sequence(v, f):"]
    for k, (inputs, out) in enumerate(layout):
        args = ", ".join(f"v[{int(i)}]" for i in inputs)
        lines.append(f"    v[{int(out)}] = f[{k}]({args})")
    lines.append("    return None")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<incremental program>", "exec"), namespace)
    return namespace["sequence"]


class _Program:
    """Graph nodes compiled to steps over one list of values: the candle fields, its start
    time, the book fields, then one slot per node (constants filled once)."""

    def __init__(self, interval_ms: int | None) -> None:
        self.interval_ms = interval_ms
        self.slots: dict[Any, int] = {}
        self.keys: list[str] = []
        self.impls: list[Any] = []
        self.values: list[Any] = [0.0] * (BOOK_SLOT + len(BOOK_FIELDS))
        self.steps: list[tuple[Any, tuple[int, ...], int]] = []
        self.makers: list[Any] = []  # per step: makes its node's state afresh (see fresh)
        self.needs_time = False
        self.needs_book = False
        # What `run` calls: each step's function, in order (`_calls`), by a function made
        # for this order of slots (`_step_sequence`): the calls at the first run after `add`
        # or `fresh` (a copy's own nodes), the sequence once per layout and shared by copies.
        self._calls: list[Any] | None = None
        self._sequence: Any = None

    def add(self, roots: list[Node], key=lambda node: node, prefix: str = "") -> None:
        """Compiles every node under ``roots`` not compiled yet; ``key`` names a node's slot
        (``prefix`` its state key), so one program can hold unshared copies."""
        known = lookbacks(roots, self.interval_ms) if has_timeframes(roots) else None
        for node in topological(roots, into_timeframes=False):
            slot_key = key(node)
            if slot_key in self.slots:
                continue
            if node.kind in FIELDS:
                self.slots[slot_key] = FIELDS.index(node.kind)
                continue
            if node.kind in BOOK_FIELDS:
                self.slots[slot_key] = BOOK_SLOT + BOOK_FIELDS.index(node.kind)
                self.needs_book = True
                continue
            slot = len(self.values)
            self.slots[slot_key] = slot
            if node.kind == TIMEFRAME:
                impl = TimeframeStep(node, self.interval_ms, known[node])
                make = impl.fresh
                inputs = (*range(len(FIELDS)), TIME_SLOT)
                self.needs_time = True
            else:
                lookback = node.input_lookback if known is None else input_lookback(node, known)
                make = functools.partial(node.spec.incremental, node.param_dict, lookback)
                impl = make()
                inputs = tuple(self.slots[key(child)] for child in node.inputs)
            if node.kind == "const":
                self.values.append(impl.value)
                continue
            self.values.append(None)
            self.keys.append(prefix + str(node))
            self.impls.append(impl)
            self.makers.append(make)
            self.steps.append((impl.step, inputs, slot))
        self._calls = self._sequence = None  # `run` makes them anew for the new layout

    def _made_sequence(self):
        """The step sequence of this program's layout, made now if not yet (after `add`)."""
        if self._sequence is None:
            self._sequence = _step_sequence(tuple((i, o) for _, i, o in self.steps))
        return self._sequence

    def fresh(self) -> _Program:
        """The same compiled steps over new node states, as compiling the same roots again
        would give: compiling walks and names every node (tens of ms for the library's
        ~570 nodes), this only makes the states. Slots, keys and makers are shared."""
        self._made_sequence()  # once here rather than in every copy's first run
        new = copy.copy(self)
        new.values = list(self.values)
        new.impls = [make() for make in self.makers]
        new.steps = [
            (impl.step, inputs, out)
            for impl, (_, inputs, out) in zip(new.impls, self.steps, strict=True)
        ]
        new._calls = None  # its own nodes' steps; the same sequence
        return new

    def run(self, open, high, low, close, volume, start_ms, book=None) -> list[Any]:
        """Steps every node on one candle (``book``: its BOOK_FIELDS values, when the graph
        reads them); returns the value list."""
        values = self.values
        values[0] = float(open)
        values[1] = float(high)
        values[2] = float(low)
        values[3] = float(close)
        values[4] = float(volume)
        values[TIME_SLOT] = start_ms
        if book is not None:
            values[BOOK_SLOT : BOOK_SLOT + len(BOOK_FIELDS)] = book
        calls = self._calls
        if calls is None:  # the first run since `add` or `fresh`: this program's steps
            calls = self._calls = [step for step, _, _ in self.steps]
        (self._sequence or self._made_sequence())(values, calls)
        return values

    def get_state(self) -> list[Any]:
        """The node states, in the program's order."""
        return [impl.get_state() for impl in self.impls]

    def set_state(self, nodes: list[Any] | dict[str, Any]) -> None:
        """From `get_state`'s list, or from a version-1 dict keyed by node expression."""
        if isinstance(nodes, dict):
            if set(nodes) != set(self.keys):
                raise StrategyError("incremental state does not match these strategies' nodes")
            nodes = [nodes[key] for key in self.keys]
        if not isinstance(nodes, list) or len(nodes) != len(self.impls):
            raise StrategyError("incremental state does not match these strategies' nodes")
        for impl, state in zip(self.impls, nodes, strict=True):
            impl.set_state(state)


class TimeframeStep(Incremental):
    """A timeframe node, one candle at a time: folds candles into the open longer candle,
    steps its input's graph when that closes, and shows the last closed value (the rules of
    :mod:`tradestream.strategies.timeframes`, as `aggregate` applies them to whole arrays)."""

    __slots__ = ("interval", "longer", "lookback", "rule", "child", "program",
                 "bucket", "acc", "seen", "last")  # fmt: skip
    _state = ("bucket", "acc", "seen", "last")

    def __init__(self, node: Node, interval_ms: int | None, lookback: int) -> None:
        ratio(node, interval_ms)  # a clear error when the interval does not divide it
        self.interval = interval_ms
        self.longer = node_interval_ms(node)
        self.lookback = lookback
        self.child = node.inputs[0]
        self.rule = self.child.output == "rule"
        self.program = _Program(self.longer)
        self.program.add([self.child])
        self.bucket: int | None = None
        self.acc: list[float] | None = None
        self.seen = 0
        self.last: Any = False if self.rule else NAN

    def fresh(self) -> TimeframeStep:
        """A new step of the same node, before its first candle (its program not compiled
        again: see `_Program.fresh`)."""
        new = TimeframeStep.__new__(TimeframeStep)
        for name in ("interval", "longer", "lookback", "child", "rule"):
            setattr(new, name, getattr(self, name))
        new.program = self.program.fresh()
        new.bucket, new.acc, new.seen = None, None, 0
        new.last = False if self.rule else NAN
        return new

    def step(self, open, high, low, close, volume, start_ms) -> Any:
        if start_ms is None:
            raise StrategyError(f"{self.child} on longer candles needs each candle's start time")
        bucket = bucket_start(int(start_ms), self.longer)
        if self.acc is not None and bucket != self.bucket:
            self._close()
        if self.acc is None:
            self.bucket = bucket
        self.acc = fold(self.acc, open, high, low, close, volume)
        if start_ms + self.interval == bucket + self.longer:
            self._close()
        self.seen += 1
        if self.seen <= self.lookback:
            return False if self.rule else NAN
        return self.last

    def _close(self) -> None:
        values = self.program.run(*self.acc, self.bucket)
        value = values[self.program.slots[self.child]]
        self.last = bool(value) if self.rule else value
        self.acc = None

    def get_state(self) -> list:
        bucket, acc, seen, last = super().get_state()
        if last != last:  # NaN: not JSON
            last = None
        return [bucket, acc, seen, last, self.program.get_state()]

    def set_state(self, state: list) -> None:
        if not isinstance(state, list) or len(state) != len(self._state) + 1:
            raise StrategyError("TimeframeStep: malformed state")
        bucket, acc, seen, last, program = state
        super().set_state([bucket, acc, seen, NAN if last is None else last])
        self.program.set_state(program)


class IncrementalEvaluator:
    """Evaluates strategies candle by candle for one symbol.

    Args:
        strategies: built strategies (ids must be distinct).
        share_nodes: compute each distinct node once per candle (default) or once per
            strategy that uses it (benchmarking only).
        interval_ms: the candle interval; needed (with each candle's start) by strategies
            that read longer candles (:mod:`tradestream.strategies.timeframes`).

    Raises:
        StrategyError: ids repeat, or a strategy reads longer candles that ``interval_ms``
            does not divide (or it is not given).
    """

    def __init__(
        self,
        strategies: Iterable[Strategy],
        *,
        share_nodes: bool = True,
        interval_ms: int | None = None,
    ) -> None:
        self.strategies = list(strategies)
        ids = [s.strategy_id for s in self.strategies]
        if len(set(ids)) != len(ids):
            raise StrategyError("strategy ids must be distinct")
        self.share_nodes = share_nodes
        self.interval_ms = interval_ms
        warmups = [s.warmup_at(interval_ms) for s in self.strategies]  # errors name the strategy
        program = self._program = _Program(interval_ms)
        if share_nodes:
            program.add([r for s in self.strategies for r in s.roots()])
        else:
            for index, strategy in enumerate(self.strategies):
                program.add(strategy.roots(), lambda node, g=index: (g, node), f"{index}:")
        self._slots = program.slots
        # What a stored state's list of node states must have been made by: the nodes in
        # program order and the strategies (copied, not recomputed, by `fresh`).
        digest = hashlib.blake2b(digest_size=12)
        for name in (*program.keys, "", *ids):
            digest.update(name.encode() + b"\n")
        self._layout = digest.hexdigest()
        self._impls = program.impls
        self._values = program.values
        self._rules: list[tuple[Strategy, int, int, int]] = []
        self._orders: dict[str, dict[str, int]] = {}  # strategy id -> order field -> slot
        self._confidence: dict[str, int] = {}  # strategy id -> its confidence node's slot
        for index, strategy in enumerate(self.strategies):
            group_index = 0 if share_nodes else index

            def key(node, g=group_index):
                return node if share_nodes else (g, node)

            self._rules.append(
                (strategy, self._slots[key(strategy.entry)], self._slots[key(strategy.exit)],
                 warmups[index])
            )  # fmt: skip
            if strategy.confidence is not None:
                self._confidence[strategy.strategy_id] = self._slots[key(strategy.confidence)]
            if strategy.order is not None:
                self._orders[strategy.strategy_id] = {
                    name: self._slots[key(node)] for name, node in strategy.order.nodes().items()
                }
        self._prev: list[list[bool]] = [[False, False] for _ in self.strategies]
        self._t = 0

    @property
    def candles_seen(self) -> int:
        """Number of candles consumed so far."""
        return self._t

    def update(
        self,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        start_ms: int | None = None,
        book: tuple[float, ...] | None = None,
    ) -> list[Emission]:
        """Consumes one candle and returns the signals it produces (usually none).

        Args:
            open, high, low, close, volume: the candle, as floats.
            start_ms: its start (epoch ms); needed by strategies that read longer candles.
            book: its BOOK_FIELDS values (`candle_arrays.book_row`); needed by strategies
                that read the order book.

        Returns:
            Emissions in strategy order.
        """
        if start_ms is None and self._program.needs_time:
            raise StrategyError("strategies that read longer candles need each candle's start")
        if book is None and self._program.needs_book:
            raise StrategyError("strategies that read the order book need its values per candle")
        values = self._program.run(open, high, low, close, volume, start_ms, book)
        t = self._t
        self._t = t + 1
        emissions: list[Emission] = []
        for index, ((strategy, entry_slot, exit_slot, warmup), prev) in enumerate(
            zip(self._rules, self._prev, strict=True)
        ):
            entry = bool(values[entry_slot])
            exit_ = bool(values[exit_slot])
            buy = entry and not prev[0]
            sell = exit_ and not prev[1]
            prev[0] = entry
            prev[1] = exit_
            if t < warmup or buy == sell:
                continue
            action = BUY if buy else SELL
            rule = strategy.entry if buy else strategy.exit
            reason = reason_text(action, rule, self._truth(index))
            order = None
            if action == BUY and strategy.order is not None:
                slots = self._orders[strategy.strategy_id]
                order = order_tuple(strategy.order, lambda name, s=slots: values[s[name]])
            confidence = 1.0
            if strategy.confidence is not None:
                confidence = clip_confidence(values[self._confidence[strategy.strategy_id]])
            emissions.append(
                Emission(strategy.strategy_id, "BUY" if action == BUY else "SELL", reason, t,
                         order, confidence)
            )  # fmt: skip
        return emissions

    def _truth(self, index: int):
        """Whether a node of the `index`-th strategy holds at the current candle."""

        def truth(node: Node) -> bool:
            key = node if self.share_nodes else (index, node)
            return bool(self._values[self._slots[key]])

        return truth

    def get_state(self) -> dict[str, Any]:
        """Returns the evaluator's state as plain JSON-able data (dicts, lists, numbers)."""
        return {
            "version": STATE_VERSION,
            "candles": self._t,
            "layout": self._layout,
            "nodes": self._program.get_state(),
            "previous": [list(prev) for prev in self._prev],  # in the strategies' order
        }

    @classmethod
    def from_state(
        cls,
        strategies: Iterable[Strategy],
        state: dict[str, Any],
        *,
        share_nodes: bool = True,
        interval_ms: int | None = None,
    ) -> IncrementalEvaluator:
        """Rebuilds an evaluator from ``get_state()`` output for the same strategies.

        Raises:
            StrategyError: the state does not belong to these strategies or is malformed.
        """
        evaluator = cls(strategies, share_nodes=share_nodes, interval_ms=interval_ms)
        evaluator._load(state)
        return evaluator

    def fresh(self) -> IncrementalEvaluator:
        """A new evaluator of the same strategies, before its first candle.

        What the constructor gives for the same arguments, without compiling the graph again
        (see `_Program.fresh`): the realtime step makes one per symbol from one compiled
        evaluator.
        """
        new = copy.copy(self)
        program = new._program = self._program.fresh()
        new._impls = program.impls
        new._values = program.values
        new._prev = [[False, False] for _ in self.strategies]
        new._t = 0
        return new

    def with_state(self, state: dict[str, Any]) -> IncrementalEvaluator:
        """`from_state` for this evaluator's strategies, from a fresh copy of it (see fresh).

        Raises:
            StrategyError: the state does not belong to these strategies or is malformed.
        """
        evaluator = self.fresh()
        evaluator._load(state)
        return evaluator

    def _load(self, state: dict[str, Any]) -> None:
        version = state.get("version") if isinstance(state, dict) else None
        ids = [s.strategy_id for s in self.strategies]
        previous = state.get("previous") if version in (1, STATE_VERSION) else None
        if version == 1:  # states stored before version 2 (e.g. in a retained checkpoint)
            if not isinstance(previous, dict) or set(previous) != set(ids):
                raise StrategyError("incremental state does not match these strategies")
            previous = [previous[i] for i in ids]
        elif version == STATE_VERSION:
            if (
                state.get("layout") != self._layout
                or not isinstance(previous, list)
                or len(previous) != len(ids)
            ):
                raise StrategyError("incremental state does not match these strategies")
        else:
            raise StrategyError("incremental state: missing or unsupported version")
        self._program.set_state(state.get("nodes"))
        self._prev = [[bool(v) for v in prev] for prev in previous]
        self._t = int(state["candles"])
