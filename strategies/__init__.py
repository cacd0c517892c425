"""TradeStream strategies: strategy graphs as data, two evaluators with one meaning, a library.

A strategy is a graph of immutable nodes (:mod:`tradestream.strategies.graph`, built with
:mod:`tradestream.strategies.nodes`): indicator nodes over the candle series (open, high, low, close,
volume) and rule nodes (``crosses_above``, ``above``, ``rising``, ``and``, ``or``, ``not``,
``cooldown``, ...). A built :class:`~tradestream.strategies.strategy.Strategy` has an entry rule (BUY) and
an exit rule (SELL), named bounded parameters and a deterministic ``strategy_id``.

Signal semantics (both evaluators implement exactly this)
--------------------------------------------------------
* Signals are a pure function of the candle history of one symbol, position-free: the
  backtester / executor decides what a BUY or SELL means for its position. Stops are expressed
  without a position too (e.g. ``close < highest(close, n) - k * ATR``).
* BUY at candle ``t`` when the entry rule is true at ``t`` and was false at ``t - 1`` (rising
  edge), so ``above(rsi, 70)`` fires once when it becomes true; ``crosses_*`` rules are already
  edges: previous candle ``a < b`` and this candle ``a > b`` (equality is neither). SELL is the
  same for the exit rule.
* If BUY and SELL fire on the same candle, nothing is emitted.
* Nothing is emitted before ``strategy.warmup``: the first candle at which every node of both
  rules and the previous candle's rule values are defined (TA-Lib's lookbacks, composed).
* Comparisons are strict; a comparison with an undefined (NaN) value is false.

Evaluators
----------
* :func:`tradestream.strategies.vectorized.evaluate_vectorized` (backtests, optimizer): whole arrays,
  shared nodes computed once, ``{strategy_id: int8 array}`` (+1 BUY, -1 SELL, 0 nothing);
  :func:`tradestream.strategies.vectorized.explain_signals` gives the reason of each signal.
* :class:`tradestream.strategies.incremental.IncrementalEvaluator` (realtime): ``update(o, h, l, c, v)``
  returns :class:`~tradestream.strategies.actions.Emission` objects; ``get_state()`` is plain JSON-able
  data and ``IncrementalEvaluator.from_state(strategies, state)`` rebuilds it exactly.

Node values are identical in both evaluators: for TA-Lib kinds the incremental side transcribes
TA-Lib's recurrence (seeding, operation order, fused multiply-add, zero tests); a few kinds
whose compiled TA-Lib arithmetic we could not reproduce bit for bit (RSI, ATR, STDDEV, SAR,
LINEARREG, ADOSC) run our own recurrence on both sides and are checked against TA-Lib to 1e-9.

Library and files: :mod:`tradestream.strategies.library` (``names()``, ``get(name)``, ``build(name,
params)``), :func:`tradestream.strategies.spec.load_strategy_file` (YAML/JSON), :mod:`tradestream.strategies.cli`.
"""

from tradestream.strategies.actions import Emission
from tradestream.strategies.candle_arrays import CandleArrays
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.incremental import IncrementalEvaluator
from tradestream.strategies.params import ParamSpec
from tradestream.strategies.strategy import Strategy, StrategyType
from tradestream.strategies.vectorized import evaluate_vectorized, explain_signals

__all__ = [
    "CandleArrays",
    "Emission",
    "IncrementalEvaluator",
    "ParamSpec",
    "Strategy",
    "StrategyError",
    "StrategyType",
    "evaluate_vectorized",
    "explain_signals",
]
