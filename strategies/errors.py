"""The one exception type of the strategies package.

Every validation problem (unknown parameter, out-of-bounds value, broken constraint, bad node,
malformed strategy file) raises :class:`StrategyError`, a ``ValueError`` subclass, so callers can
catch one type and show its message to a user.
"""

from __future__ import annotations


class StrategyError(ValueError):
    """A strategy, parameter set, node or strategy file is invalid."""
