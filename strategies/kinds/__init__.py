"""The node vocabulary. Importing this package registers every kind."""

from tradestream.strategies.kinds import (  # noqa: F401  (imported for registration)
    averages,
    basic,
    custom,
    model,
    momentum,
    rules,
    timeframe,
    trend,
    volatility,
    volume,
)
from tradestream.strategies.kinds.registry import NodeKind, all_kinds, get_kind

__all__ = ["NodeKind", "all_kinds", "get_kind"]
