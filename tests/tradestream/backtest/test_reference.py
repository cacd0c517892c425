"""SMA crossover on a public OHLCV dataset (daily GOOG 2004-2013) against independent references.

* backtesting.py with `trade_on_close=True`, no commission, fractional sizes (its own
  virtualenv, see `public_data`), and
* a hand loop (`hand_loop.run_loop`) fed with SMA crossovers computed here with pandas,
must agree with TradeStream's candle reader + strategy library + vectorized engine on the
number of trades (and each trade's bars) and on the final return within 0.1%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.tradestream.backtest.hand_loop import run_loop
from tests.tradestream.backtest.public_data import goog_csv, run_backtesting_py
from tradestream.backtest.chunks import chunk_results, simulate_chunk
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.files import read_candles
from tradestream.backtest.series import build_series
from tradestream.strategies import library

PAIRS = [(10, 20), (5, 30), (20, 50)]
CASH = 10_000.0


def _ours(csv):
    candles = list(read_candles(csv))
    series = build_series("GOOG", candles, 86_400_000)
    strategies = [library.build("SMA_CROSSOVER", {"fast": f, "slow": s}) for f, s in PAIRS]
    config = ExecutionConfig(cash=CASH)
    chunk = simulate_chunk(series, strategies, config)
    return series, chunk, chunk_results(chunk, config)


def _pandas_crossover_signals(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    a = pd.Series(close).rolling(fast).mean().to_numpy()
    b = pd.Series(close).rolling(slow).mean().to_numpy()
    signals = np.zeros(close.shape[0], dtype=np.int8)
    with np.errstate(invalid="ignore"):
        signals[1:][(a[:-1] < b[:-1]) & (a[1:] > b[1:])] = 1
        signals[1:][(a[:-1] > b[:-1]) & (a[1:] < b[1:])] = -1
    return signals


def test_reference_goog_dataset_is_the_public_daily_series():
    series, _, _ = _ours(goog_csv())
    assert len(series) == 2148 and series.interval_ms == 86_400_000
    assert series.close[0] == 100.34  # 2004-08-19


def test_reference_sma_crossover_matches_hand_loop_on_goog():
    series, chunk, results = _ours(goog_csv())
    for row, (fast, slow) in enumerate(PAIRS):
        signals = _pandas_crossover_signals(series.close, fast, slow)
        ref = run_loop(signals, series.open, series.close, cash=CASH)
        closed = [t for t in ref.trades if t[5] is not None]
        metrics = results[row].metrics
        assert metrics.num_trades == len(closed) > 10
        assert metrics.final_equity == pytest.approx(ref.equity[-1], rel=1e-3)
        ours = chunk.simulation.trades.select(chunk.simulation.trades.row == row)
        assert [(int(a), int(b)) for a, b in zip(ours.entry, ours.exit, strict=True)] == [
            (t[1], t[2]) for t in ref.trades
        ]


def test_reference_sma_crossover_matches_backtesting_py_on_goog():
    csv = goog_csv()
    _, chunk, results = _ours(csv)
    reference = run_backtesting_py(csv, CASH, PAIRS)
    for row, ref in enumerate(reference):
        metrics = results[row].metrics
        assert metrics.num_trades == ref["num_trades"] > 10, (ref["fast"], ref["slow"])
        ours_return = metrics.final_equity / CASH - 1
        ref_return = ref["final_equity"] / CASH - 1
        assert ours_return == pytest.approx(ref_return, rel=1e-3)
        trades = chunk.simulation.trades.select(chunk.simulation.trades.closed)
        trades = trades.select(trades.row == row)
        assert [[int(a), int(b)] for a, b in zip(trades.entry, trades.exit, strict=True)] == [
            t[:2] for t in ref["trades"]
        ]
        np.testing.assert_allclose(trades.entry_price, [t[2] for t in ref["trades"]], rtol=1e-9)
