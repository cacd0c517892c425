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

from collections.abc import Iterable
from typing import Any

from tradestream.strategies.actions import BUY, SELL, Emission, order_tuple, reason_text
from tradestream.strategies.candle_arrays import FIELDS
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import Node, topological
from tradestream.strategies.strategy import Strategy

STATE_VERSION = 1


class IncrementalEvaluator:
    """Evaluates strategies candle by candle for one symbol.

    Args:
        strategies: built strategies (ids must be distinct).
        share_nodes: compute each distinct node once per candle (default) or once per
            strategy that uses it (benchmarking only).
    """

    def __init__(self, strategies: Iterable[Strategy], *, share_nodes: bool = True) -> None:
        self.strategies = list(strategies)
        ids = [s.strategy_id for s in self.strategies]
        if len(set(ids)) != len(ids):
            raise StrategyError("strategy ids must be distinct")
        self.share_nodes = share_nodes
        self._slots: dict[Any, int] = {}
        self._keys: list[str] = []
        self._impls: list[Any] = []
        self._values: list[Any] = [0.0] * len(FIELDS)
        program: list[tuple[Any, tuple[int, ...], int]] = []
        groups = [self.strategies] if share_nodes else [[s] for s in self.strategies]
        for group_index, group in enumerate(groups):
            prefix = "" if share_nodes else f"{group_index}:"
            for node in topological(r for s in group for r in s.roots()):
                key = node if share_nodes else (group_index, node)
                if node.kind in FIELDS:
                    self._slots[key] = FIELDS.index(node.kind)
                    continue
                slot = len(self._values)
                self._slots[key] = slot
                impl = node.spec.incremental(node.param_dict, node.input_lookback)
                if node.kind == "const":
                    self._values.append(impl.value)
                    continue
                self._values.append(None)
                self._keys.append(prefix + str(node))
                self._impls.append(impl)
                inputs = tuple(
                    self._slots[child if share_nodes else (group_index, child)]
                    for child in node.inputs
                )
                program.append((impl.step, inputs, slot))
        self._program = program
        self._rules: list[tuple[Strategy, int, int, int]] = []
        self._orders: dict[str, dict[str, int]] = {}  # strategy id -> order field -> slot
        for index, strategy in enumerate(self.strategies):
            group_index = 0 if share_nodes else index

            def key(node, g=group_index):
                return node if share_nodes else (g, node)

            self._rules.append(
                (strategy, self._slots[key(strategy.entry)], self._slots[key(strategy.exit)],
                 strategy.warmup)
            )  # fmt: skip
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
        self, open: float, high: float, low: float, close: float, volume: float
    ) -> list[Emission]:
        """Consumes one candle and returns the signals it produces (usually none).

        Args:
            open, high, low, close, volume: the candle, as floats.

        Returns:
            Emissions in strategy order.
        """
        values = self._values
        values[0] = float(open)
        values[1] = float(high)
        values[2] = float(low)
        values[3] = float(close)
        values[4] = float(volume)
        for step, inputs, out in self._program:
            if len(inputs) == 1:
                values[out] = step(values[inputs[0]])
            elif len(inputs) == 2:
                values[out] = step(values[inputs[0]], values[inputs[1]])
            else:
                values[out] = step(*[values[i] for i in inputs])
        t = self._t
        self._t = t + 1
        emissions: list[Emission] = []
        for (strategy, entry_slot, exit_slot, warmup), prev in zip(
            self._rules, self._prev, strict=True
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
            reason = reason_text(action, rule, self._truth(strategy))
            order = None
            if action == BUY and strategy.order is not None:
                slots = self._orders[strategy.strategy_id]
                order = order_tuple(strategy.order, lambda name, s=slots: values[s[name]])
            emissions.append(
                Emission(strategy.strategy_id, "BUY" if action == BUY else "SELL", reason, t,
                         order)
            )  # fmt: skip
        return emissions

    def _truth(self, strategy: Strategy):
        index = self.strategies.index(strategy)

        def truth(node: Node) -> bool:
            key = node if self.share_nodes else (index, node)
            return bool(self._values[self._slots[key]])

        return truth

    def get_state(self) -> dict[str, Any]:
        """Returns the evaluator's state as plain JSON-able data (dicts, lists, numbers)."""
        return {
            "version": STATE_VERSION,
            "candles": self._t,
            "nodes": {
                key: impl.get_state() for key, impl in zip(self._keys, self._impls, strict=False)
            },
            "previous": {
                s.strategy_id: list(prev)
                for s, prev in zip(self.strategies, self._prev, strict=False)
            },
        }

    @classmethod
    def from_state(
        cls, strategies: Iterable[Strategy], state: dict[str, Any], *, share_nodes: bool = True
    ) -> IncrementalEvaluator:
        """Rebuilds an evaluator from ``get_state()`` output for the same strategies.

        Raises:
            StrategyError: the state does not belong to these strategies or is malformed.
        """
        evaluator = cls(strategies, share_nodes=share_nodes)
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise StrategyError("incremental state: missing or unsupported version")
        nodes = state.get("nodes", {})
        if set(nodes) != set(evaluator._keys):
            raise StrategyError("incremental state does not match these strategies' nodes")
        previous = state.get("previous", {})
        if set(previous) != {s.strategy_id for s in evaluator.strategies}:
            raise StrategyError("incremental state does not match these strategies")
        for key, impl in zip(evaluator._keys, evaluator._impls, strict=False):
            impl.set_state(nodes[key])
        evaluator._prev = [[bool(v) for v in previous[s.strategy_id]] for s in evaluator.strategies]
        evaluator._t = int(state["candles"])
        return evaluator
