"""The ``timeframe`` kind: its input computed on longer candles (multi-timeframe graphs).

Both evaluators compute it themselves (it runs a graph of its own on the longer candles; see
:mod:`tradestream.strategies.timeframes`), so its batch and incremental sides here only say
so; its lookback depends on the candle interval (``timeframes.lookbacks``).
"""

from __future__ import annotations

import numpy as np

from tradestream.strategies.kinds.registry import Incremental, NodeKind, Params, register


def _evaluator_only(inputs: list[np.ndarray], params: Params, input_lookback: int) -> np.ndarray:
    raise AssertionError("timeframe nodes are computed by the evaluators")


class _EvaluatorOnly(Incremental):
    __slots__ = ()

    def step(self, *inputs: float) -> float:  # pragma: no cover - computed by the evaluator
        raise AssertionError("timeframe nodes are computed by the evaluators")


register(
    NodeKind(
        name="timeframe",
        arity=1,
        params=(("seconds", int),),
        inputs="any",
        output="same",
        own_lookback=lambda p: 0,  # not used: timeframes.lookbacks
        batch=_evaluator_only,
        incremental=lambda p, lb: _EvaluatorOnly(),
        description="its input computed on candles of `seconds`, seen once each has closed",
        input_names=("x",),
    )
)
