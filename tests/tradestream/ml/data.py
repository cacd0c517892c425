"""Small inputs for the training tests: a few hours of sample trades of one symbol."""

from __future__ import annotations

from pathlib import Path

from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades


def sample_file(path: Path, hours: float = 8.0, seed: int = 7) -> Path:
    """A trades CSV of BTC-USD: `hours` of the sample day at one trade every 4 s."""
    trades = sample_trades(hours=hours, seed=seed, symbols={"BTC-USD": 42_000.0}, rate_per_s=0.25)
    write_trades(path, trades)
    return path
