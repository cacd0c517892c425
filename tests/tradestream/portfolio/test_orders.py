"""Order types, take-profit targets and trailing stops: the documented fill rules
(tradestream/portfolio/orders.py), checked on hand-computed candles."""

from __future__ import annotations

import pytest

from tests.support.portfolio_case import series_of
from tests.support.signals import MINUTE, T0, event
from tradestream.backtest.portfolio import SymbolTimeline, run_portfolio
from tradestream.backtest.series import CandleSeries
from tradestream.market.signal_messages import make_signal, strategy_proto
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine, SignalEvent
from tradestream.portfolio.orders import entry_fill, exit_fill, order_price
from tradestream.v1 import signal_pb2

NO_LIMITS = dict(daily_loss_limit=0.0, weekly_loss_limit=0.0, max_drawdown=0.0, fee=0.0)


@pytest.mark.parametrize(
    "qty,stop,target,ohlc,expected",
    [
        (1, 98, 104, (100, 105, 99, 103), (104, "target")),  # the high reaches the target
        (1, 98, 104, (100, 105, 97, 103), (98, "stop")),  # both inside: the stop first
        (1, 98, 104, (106, 107, 97, 100), (106, "target")),  # opened above it: at the open
        (1, 98, 104, (96, 105, 95, 100), (96, "stop")),  # opened below the stop: at the open
        (1, 98, 104, (100, 103.9, 98.1, 101), None),
        (-1, 102, 96, (100, 101, 95, 97), (96, "target")),
        (-1, 102, 96, (100, 103, 95, 97), (102, "stop")),  # both: the stop first
        (-1, 102, 96, (94, 99, 93, 95), (94, "target")),  # opened below the target
        (-1, 102, None, (104, 105, 101, 103), (104, "stop")),  # gapped up through the stop
    ],
)
def test_exit_fill_rules(qty, stop, target, ohlc, expected):
    o, h, lo, _ = ohlc
    assert exit_fill(qty, stop, target, o, h, lo) == expected


@pytest.mark.parametrize(
    "side,kind,price,ohlc,expected",
    [
        ("BUY", "limit", 98, (99, 100, 97.5, 99), 98),  # low reaches the limit
        ("BUY", "limit", 98, (97, 99, 96, 98), 97),  # opened below it: at the open
        ("BUY", "limit", 98, (99, 100, 98.5, 99), None),
        ("SELL", "limit", 102, (101, 103, 100, 101), 102),
        ("SELL", "limit", 102, (104, 105, 100, 101), 104),
        ("BUY", "stop", 102, (101, 103, 100, 102), 102),  # rose to the stop
        ("BUY", "stop", 102, (104, 105, 103, 104), 104),  # opened above it: at the open
        ("BUY", "stop", 102, (100, 101.5, 99, 101), None),
        ("SELL", "stop", 98, (99, 100, 97, 98), 98),
        ("SELL", "stop", 98, (96, 97, 95, 96), 96),
    ],
)
def test_entry_fill_rules(side, kind, price, ohlc, expected):
    o, h, lo, _ = ohlc
    assert entry_fill(side, kind, price, o, h, lo) == expected


def test_order_prices_are_better_for_limits_and_worse_for_stops():
    assert order_price("BUY", "limit", 100.0, 0.02) == pytest.approx(98.0)
    assert order_price("SELL", "limit", 100.0, 0.02) == pytest.approx(102.0)
    assert order_price("BUY", "stop", 100.0, 0.02) == pytest.approx(102.0)
    assert order_price("SELL", "stop", 100.0, 0.02) == pytest.approx(98.0)


def _series(ohlc: list[tuple[float, float, float, float]]) -> CandleSeries:
    return series_of("BTC-USD", ohlc, T0)


def _run(config: PortfolioConfig, ohlc, signals: list[tuple[int, str]], **intent):
    series = _series(ohlc)
    events = tuple(
        SignalEvent(
            signal_id=f"s{i}{action}",
            symbol="BTC-USD",
            action=action,
            price=float(series.close[i]),
            candle_start_ms=int(series.start_ms[i]),
            candle_interval_ms=MINUTE,
            strategy_id="S",
            strategy_type="S",
            **intent,
        )
        for i, action in signals
    )
    return run_portfolio(config, [SymbolTimeline(series, events)])


def _fills(run) -> list[tuple]:
    return [(f.kind, f.side, round(f.qty, 9), round(f.price, 9), (f.time_ms - T0) // MINUTE)
            for f in run.fills]  # fmt: skip


def test_a_limit_entry_fills_in_a_later_candle_at_its_price_with_its_stop():
    # BUY at close 100, limit 2% below (98), 3 candles to fill. Candle 2 does not reach it;
    # candle 3 does (low 97.5): 10 units (fraction 0.98 of 1000 at 98), stop 5% below 98.
    config = PortfolioConfig(initial_cash=1_000.0, fraction=0.98, entry_order="limit",
                             entry_offset_pct=0.02, time_in_force=3, stop="pct", stop_pct=0.05,
                             **NO_LIMITS)  # fmt: skip
    run = _run(config, [(100, 100, 100, 100), (100, 101, 98.5, 100), (99, 100, 97.5, 99),
                        (99, 99, 99, 99)], [(0, "BUY")])  # fmt: skip
    assert _fills(run) == [("entry", "BUY", 10.0, 98.0, 3)]
    [position] = run.snapshot["positions"]
    assert position[4] == pytest.approx(98.0 * 0.95)
    assert run.signals[0].decision == "ordered:limit@98"


def test_a_limit_entry_that_no_candle_reaches_expires():
    config = PortfolioConfig(initial_cash=1_000.0, entry_order="limit", entry_offset_pct=0.02,
                             time_in_force=1, **NO_LIMITS)  # fmt: skip
    run = _run(config, [(100, 100, 100, 100), (100, 101, 98.5, 100), (99, 99, 97, 99)],
               [(0, "BUY")])  # fmt: skip
    assert run.fills == [] and run.snapshot["positions"] == []
    assert run.counters["orders_expired"] == 1  # candle 3 would have filled it: too late


def test_an_entry_filled_inside_a_candle_is_stopped_in_it_when_the_range_reaches_the_stop():
    config = PortfolioConfig(initial_cash=1_000.0, fraction=0.98, entry_order="limit",
                             entry_offset_pct=0.02, stop="pct", stop_pct=0.05, **NO_LIMITS)  # fmt: skip
    run = _run(config, [(100, 100, 100, 100), (99, 99, 92, 93)], [(0, "BUY")])
    assert _fills(run) == [("entry", "BUY", 10.0, 98.0, 2), ("stop", "SELL", 10.0, 93.1, 2)]


def test_a_take_profit_at_two_r_and_the_stop_first_when_a_candle_reaches_both():
    config = PortfolioConfig(initial_cash=1_000.0, fraction=0.5, stop="pct", stop_pct=0.02,
                             take_profit_r=2.0, **NO_LIMITS)  # fmt: skip
    # Long at 100: stop 98, target 104. Candle 2 reaches 105: out at 104.
    run = _run(config, [(100, 100, 100, 100), (100, 105, 99, 103)], [(0, "BUY")])
    assert _fills(run) == [("entry", "BUY", 5.0, 100.0, 1), ("target", "SELL", 5.0, 104.0, 2)]
    # The same, but the candle also dips to 97: the stop is assumed first.
    run = _run(config, [(100, 100, 100, 100), (100, 105, 97, 103)], [(0, "BUY")])
    assert _fills(run) == [("entry", "BUY", 5.0, 100.0, 1), ("stop", "SELL", 5.0, 98.0, 2)]


def test_a_trailing_stop_follows_the_high_and_never_moves_back():
    config = PortfolioConfig(initial_cash=1_000.0, fraction=0.5, stop="pct", stop_pct=0.05,
                             trailing_stop=True, **NO_LIMITS)  # fmt: skip
    # Long at 100, stop 95 (distance 5). Highs 104 then 108: stop 99, then 103; a lower
    # high (106) leaves it at 103; the next candle's low 102.5 stops it at 103.
    run = _run(config, [(100, 100, 100, 100), (100, 104, 100, 103), (103, 108, 103, 107),
                        (107, 106, 104, 105), (105, 105, 102.5, 103)], [(0, "BUY")])  # fmt: skip
    assert _fills(run)[-1] == ("stop", "SELL", 5.0, 103.0, 5)


def test_a_signals_order_intent_is_read_from_the_protobuf_and_used():
    strategy = strategy_proto("S", {}, "S")
    proto = make_signal(strategy, "BTC-USD", "BUY", 100.0, T0, MINUTE, "r")
    proto.order.type = signal_pb2.ORDER_TYPE_LIMIT
    proto.order.price = 97.0
    proto.order.time_in_force_candles = 2
    proto.order.stop_price = 90.0
    proto.order.take_profit_price = 120.0
    ev = SignalEvent.from_proto(signal_pb2.Signal.FromString(proto.SerializeToString()))
    assert (ev.order_type, ev.order_price, ev.time_in_force) == ("limit", 97.0, 2)
    assert (ev.stop_price, ev.take_profit_price) == (90.0, 120.0)
    engine = PortfolioEngine(PortfolioConfig(initial_cash=1_000.0, **NO_LIMITS), candles=True)
    assert engine.on_signal(ev, set()) == "ordered:limit@97"
    engine.on_candle("BTC-USD", T0 + MINUTE, MINUTE, 98.0, 99.0, 96.0, 97.5)
    [pos] = engine.state.portfolio.positions.values()
    assert (pos.avg_price, pos.stop_price, pos.target_price) == (97.0, 90.0, 120.0)
    # Without candles (paper run without --candles) a limit intent cannot fill: skipped.
    plain = PortfolioEngine(PortfolioConfig(initial_cash=1_000.0, **NO_LIMITS))
    assert plain.on_signal(ev, set()) == "skipped:order_needs_candles"


def test_a_new_signal_cancels_the_books_pending_order():
    config = PortfolioConfig(initial_cash=1_000.0, entry_order="limit", entry_offset_pct=0.02,
                             time_in_force=5, allow_short=True, **NO_LIMITS)  # fmt: skip
    engine = PortfolioEngine(config, candles=True)
    engine.on_signal(event("BUY", 100.0, 0), set())
    decision = engine.on_signal(event("SELL", 100.0, 1), set())
    assert decision == "cancelled:limit ordered:limit@102"
    assert [o.side for o in engine.state.orders.values()] == ["SELL"]
