"""The bundled sample: a deterministic, generated day of trades for several symbols.

Prices follow regime-switching random walks (up-trends, down-trends and ranges of random
length, so strategies see trends and reversals); arrivals are Poisson; sizes log-normal.
The same seed always gives byte-identical output.

    tradestream sample --output trades.csv [--hours 24] [--seed 7]
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

import numpy as np

from tradestream.v1 import trade_pb2

START_MS = 1_704_153_600_000  # 2024-01-02T00:00:00Z
DEFAULT_SYMBOLS = {"BTC-USD": 42_000.0, "ETH-USD": 2_300.0, "SOL-USD": 100.0}


def _symbol_trades(
    symbol: str, start_price: float, hours: float, rate_per_s: float, rng: np.random.Generator
) -> Iterator[trade_pb2.Trade]:
    end_ms = START_MS + int(hours * 3_600_000)
    t = float(START_MS)
    log_price = np.log(start_price)
    regime_end = t
    drift = vol = 0.0
    trade_id = 1
    while True:
        t += rng.exponential(1000.0 / rate_per_s)
        if t >= end_ms:
            return
        if t >= regime_end:
            # A new regime every 20 min .. 3 h: trend up, trend down, or range.
            regime_end = t + rng.uniform(20, 180) * 60_000
            drift = rng.choice([-1.0, 0.0, 1.0]) * rng.uniform(
                2e-9, 8e-9
            )  # per ms: 0.7%..3% per hour
            vol = rng.uniform(1.5e-4, 4e-4)  # per trade
        gap_ms = 1000.0 / rate_per_s
        log_price += drift * gap_ms + vol * rng.standard_normal()
        price = round(float(np.exp(log_price)), 2 if start_price > 10 else 4)
        size = round(float(rng.lognormal(mean=-3.0, sigma=1.0)), 6) or 0.000001
        yield trade_pb2.Trade(
            exchange="sample",
            symbol=symbol,
            trade_id=str(trade_id),
            price=price,
            size=size,
            side=trade_pb2.SIDE_BUY if rng.random() < 0.5 else trade_pb2.SIDE_SELL,
            time_ms=int(t),
        )
        trade_id += 1


def sample_trades(
    hours: float = 24.0,
    seed: int = 7,
    symbols: dict[str, float] | None = None,
    rate_per_s: float = 1.0,
) -> Iterator[trade_pb2.Trade]:
    """All symbols' trades merged in time order (ties: symbol, then trade id)."""
    symbols = symbols or DEFAULT_SYMBOLS
    streams = []
    for index, (symbol, price) in enumerate(sorted(symbols.items())):
        rng = np.random.default_rng([seed, index])
        streams.append(_symbol_trades(symbol, price, hours, rate_per_s, rng))
    yield from heapq.merge(*streams, key=lambda t: (t.time_ms, t.symbol, int(t.trade_id)))
