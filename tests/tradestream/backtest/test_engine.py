"""The vectorized simulator against an independent candle-by-candle loop, and its edge cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tradestream.backtest.hand_loop import run_loop
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.engine import chunk_size_for, simulate

CONFIGS = list(itertools.product([0.0, 0.002], [0.0, 7.0], ["close", "next_open"], [False, True]))


def _market(n: int, seed: int, sigma: float = 0.02):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, sigma, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    return open_, close


def _assert_matches_loop(signals, open_, close, fee, slip, fill, short):
    config = ExecutionConfig(fee=fee, slippage_bps=slip, fill=fill, allow_short=short)
    sim = simulate(signals, open_, close, config)
    positions = sim.position()
    for row in range(signals.shape[0]):
        ref = run_loop(signals[row], open_, close, fee=fee, slippage_bps=slip, fill=fill,
                       allow_short=short)  # fmt: skip
        np.testing.assert_array_equal(positions[row], ref.positions)
        np.testing.assert_allclose(sim.equity[row], ref.equity, rtol=1e-11, atol=1e-9)
        trades = sim.trades.select(sim.trades.row == row)
        assert len(trades) == len(ref.trades)
        for i, (direction, entry, exit_, entry_price, exit_price, ret) in enumerate(ref.trades):
            assert (trades.direction[i], trades.entry[i], trades.exit[i]) == (
                direction,
                entry,
                exit_,
            )
            assert trades.entry_price[i] == pytest.approx(entry_price, rel=1e-12)
            assert trades.exit_price[i] == pytest.approx(exit_price, rel=1e-12)
            if ret is None:
                assert not trades.closed[i]
            else:
                assert trades.closed[i]
                assert trades.ret[i] == pytest.approx(ret, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("fee,slip,fill,short", CONFIGS)
def test_engine_matches_hand_loop_for_each_fill_side_and_cost(fee, slip, fill, short):
    open_, close = _market(300, seed=3)
    rng = np.random.default_rng(11)
    signals = rng.choice([-1, 0, 0, 0, 0, 0, 1], size=(5, 300)).astype(np.int8)
    signals[:, :2] = 0
    _assert_matches_loop(signals, open_, close, fee, slip, fill, short)


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_engine_matches_hand_loop_when_shorts_get_liquidated(fill):
    open_, close = _market(400, seed=8, sigma=0.25)
    rng = np.random.default_rng(4)
    signals = rng.choice([-1, 0, 0, 0, 0, 0, 1], size=(12, 400)).astype(np.int8)
    config = ExecutionConfig(allow_short=True, fill=fill)
    busted = (simulate(signals, open_, close, config).equity[:, -1] == 0).sum()
    assert busted >= 3  # the case under test does occur
    _assert_matches_loop(signals, open_, close, 0.001, 5.0, fill, True)


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.sampled_from([-1, 0, 0, 0, 1]), min_size=1, max_size=40),
    fee=st.sampled_from([0.0, 0.01]),
    fill=st.sampled_from(["close", "next_open"]),
    short=st.booleans(),
)
def test_engine_any_signal_sequence_matches_hand_loop(data, fee, fill, short):
    signals = np.array([data], dtype=np.int8)
    open_, close = _market(len(data), seed=len(data))
    _assert_matches_loop(signals, open_, close, fee, 3.0, fill, short)


def test_engine_long_only_ignores_sell_when_flat_and_repeated_buy():
    close = np.array([10.0, 11, 12, 13, 14, 15])
    signals = np.array([[-1, 1, 1, 0, -1, -1]], dtype=np.int8)
    sim = simulate(signals, close, close, ExecutionConfig())
    np.testing.assert_array_equal(sim.position()[0], [0, 1, 1, 1, 0, 0])
    assert len(sim.trades) == 1
    assert (sim.trades.entry[0], sim.trades.exit[0]) == (1, 4)
    assert sim.equity[0, -1] == pytest.approx(10_000 * 14 / 11)


def test_engine_next_open_fills_at_next_open_and_drops_last_candle_signal():
    open_ = np.array([10.0, 20, 30, 40])
    close = np.array([11.0, 21, 31, 41])
    signals = np.array([[1, 0, -1, 1]], dtype=np.int8)
    sim = simulate(signals, open_, close, ExecutionConfig(fill="next_open"))
    np.testing.assert_array_equal(sim.position()[0], [0, 1, 1, 0])
    assert sim.trades.entry_price[0] == 20.0 and sim.trades.exit_price[0] == 40.0
    assert sim.equity[0, -1] == pytest.approx(10_000 * 40 / 20)


def test_engine_short_that_loses_everything_is_liquidated_and_stops_trading():
    close = np.array([10.0, 10, 25, 30, 5, 6])
    signals = np.array([[0, -1, 0, 0, 1, -1]], dtype=np.int8)
    sim = simulate(signals, close, close, ExecutionConfig(allow_short=True))
    np.testing.assert_array_equal(sim.equity[0], [10_000, 10_000, 0, 0, 0, 0])
    np.testing.assert_array_equal(sim.position()[0], [0, -1, 0, 0, 0, 0])
    assert len(sim.trades) == 1
    assert (sim.trades.exit[0], sim.trades.ret[0], sim.trades.closed[0]) == (2, -1.0, True)


def test_engine_rows_are_independent_of_the_chunk_they_are_in():
    open_, close = _market(200, seed=5)
    signals = np.random.default_rng(2).choice([-1, 0, 0, 0, 1], size=(6, 200)).astype(np.int8)
    config = ExecutionConfig(fee=0.001, allow_short=True)
    whole = simulate(signals, open_, close, config)
    for row in range(6):
        alone = simulate(signals[row : row + 1], open_, close, config)
        np.testing.assert_allclose(alone.equity[0], whole.equity[row], rtol=1e-12)


def test_engine_chunk_size_fits_memory_budget_and_is_at_least_one():
    assert chunk_size_for(50_000, 512) == pytest.approx(512 * 2**20 // (50_000 * 64), abs=1)
    assert chunk_size_for(10**9, 1) == 1
    assert chunk_size_for(10, 10_000) == 512


@pytest.mark.parametrize(
    "kwargs",
    [{"cash": 0}, {"fee": -0.1}, {"fee": 0.6}, {"slippage_bps": -1}, {"fill": "open"}],
)
def test_execution_config_rejects_invalid_settings(kwargs):
    with pytest.raises(ValueError):
        ExecutionConfig(**kwargs)
