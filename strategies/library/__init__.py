"""The built-in strategy library.

    from tradestream.strategies import library
    library.names()                               # ['ADX_DMI', ..., 'VWAP_MEAN_REVERSION']
    library.get("SMA_CROSSOVER").params           # ParamSpec tuple (bounds, defaults)
    library.build("SMA_CROSSOVER", {"fast": 5})   # Strategy, validated

Each family lives in its own module; importing this package registers them all.
"""

from tradestream.strategies.library import (  # noqa: F401  (imported for registration)
    momentum,
    moving_averages,
    multi_timeframe,
    order_book,
    oscillators,
    price_action,
    trend,
    volatility,
    volume,
)
from tradestream.strategies.library.registry import build, get, names

__all__ = ["build", "get", "names"]
