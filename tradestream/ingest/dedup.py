"""De-duplication of trades by (symbol, trade_id) in bounded memory.

A reconnect (and the snapshot every new subscription starts with) replays trades already
produced. `RecentTradeIds` remembers the last `window` trade ids of each symbol; a repeat within
that window is a duplicate, whatever the ids look like.

Beyond the window, Coinbase's ids help: they are integers that increase per product. When an id
leaves the window its value becomes the symbol's *floor*, and a numeric id at or below the floor
is taken as a duplicate too (a trade that old can only come from a replay). So with monotone ids
the check is exact in bounded memory; with other ids it is exact within the window.

The default window (10,000 ids per symbol, ~1 MB) is far larger than the ~100-trade snapshot a
reconnect replays.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

DEFAULT_WINDOW = 10_000


@dataclass
class _SymbolIds:
    ids: set[str] = field(default_factory=set)
    order: deque[str] = field(default_factory=deque)
    floor: int | None = None


class RecentTradeIds:
    """The recent trade ids of each symbol.

    Args:
        window: ids remembered per symbol (> 0).
    """

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window <= 0:
            raise ValueError(f"dedup window must be > 0, got {window}")
        self.window = window
        self._symbols: dict[str, _SymbolIds] = {}

    def seen(self, symbol: str, trade_id: str) -> bool:
        """True for a duplicate; otherwise records the id and returns False."""
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _SymbolIds()
        if trade_id in state.ids:
            return True
        numeric = trade_id.isdigit()
        if numeric and state.floor is not None and int(trade_id) <= state.floor:
            return True
        state.ids.add(trade_id)
        state.order.append(trade_id)
        if len(state.order) > self.window:
            old = state.order.popleft()
            state.ids.discard(old)
            if old.isdigit():
                value = int(old)
                if state.floor is None or value > state.floor:
                    state.floor = value
        return False

    def __len__(self) -> int:
        return sum(len(s.order) for s in self._symbols.values())
