"""Fuzzing the paper executor's signal decoding: a record value is a usable SignalEvent or a
ValueError saying why, never another exception (the executor counts it and moves on)."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.signals import T0
from tradestream.market.signal_messages import make_signal, strategy_proto
from tradestream.portfolio.engine import SignalEvent, decode_signal
from tradestream.v1 import signal_pb2

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.floats(), st.sampled_from([0.0, -1.0, 1.0, 0.5, 2.0, float("nan"), float("inf")])
)
int64s = st.integers(-(2**63), 2**63 - 1)


def _good() -> signal_pb2.Signal:
    return signal_pb2.Signal(
        signal_id="abc",
        symbol="BTC-USD",
        action=signal_pb2.ACTION_BUY,
        price=100.0,
        candle_start_ms=T0,
        candle_interval_ms=60_000,
        reason="r",
        confidence=1.0,
    )


@st.composite
def signal_bytes(draw) -> bytes:
    signal = _good()
    signal.signal_id = draw(st.sampled_from(["abc", ""]) | st.text(max_size=10))
    signal.symbol = draw(st.sampled_from(["BTC-USD", ""]) | st.text(max_size=10))
    signal.action = draw(st.integers(-3, 5))
    signal.price = draw(numbers)
    signal.confidence = draw(numbers)
    signal.candle_start_ms = draw(st.just(T0) | int64s)
    signal.candle_interval_ms = draw(st.just(60_000) | int64s)
    data = bytearray(signal.SerializeToString())
    if draw(st.integers(0, 4)) == 0 and data:
        del data[draw(st.integers(0, len(data) - 1)) :]
    return bytes(data)


def _check(value) -> None:
    try:
        event = decode_signal(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(event, SignalEvent)
    assert event.signal_id and event.symbol and event.action in ("BUY", "SELL")
    assert math.isfinite(event.price) and event.price > 0
    assert 0 <= event.confidence <= 1
    assert event.candle_start_ms >= 0 and event.candle_interval_ms >= 0


@FUZZ
@given(st.one_of(signal_bytes(), st.binary(max_size=64), st.none()))
def test_fuzz_decode_signal_gives_a_usable_event_or_a_value_error(value):
    _check(value)


def test_fuzz_decode_signal_good_signal_round_trips():
    strategy = strategy_proto("SMA_CROSSOVER", {}, "S1")
    proto = make_signal(strategy, "BTC-USD", "BUY", 100.0, T0, 60_000, "r")
    event = decode_signal(proto.SerializeToString())
    assert (event.action, event.price, event.confidence) == ("BUY", 100.0, 1.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("confidence", float("nan")), ("confidence", 1.5), ("candle_interval_ms", -60_000)],
)
def test_fuzz_decode_signal_out_of_range_values_raise_value_error(field, value):
    signal = _good()
    setattr(signal, field, value)
    with pytest.raises(ValueError, match=field.split("_")[-2 if field.endswith("_ms") else -1]):
        decode_signal(signal.SerializeToString())


def test_fuzz_decode_signal_tombstone_raises_value_error():
    with pytest.raises(ValueError, match="without a value"):
        decode_signal(None)
