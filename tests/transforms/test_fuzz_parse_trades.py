"""Fuzzing ParseTradeFn: any record is either a valid Trade or one dead letter with a reason.

The DoFn is called directly (no pipeline per example): every input yields exactly one output,
and an accepted trade satisfies the documented invariants of `tradestream.v1.Trade`.
"""

from __future__ import annotations

import math
import re

from apache_beam import pvalue
from apache_beam.transforms.window import TimestampedValue
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.builders import T0, trade
from tradestream.market.dead_letters import DEAD_LETTER_TAG
from tradestream.market.trade_validation import MAX_TIME_MS, MIN_TIME_MS
from tradestream.transforms.parse_trades import ParseTradeFn
from tradestream.v1 import trade_pb2

REASONS = {
    "malformed",
    "missing_field",
    "invalid_symbol",
    "unknown_symbol",
    "invalid_price",
    "invalid_size",
    "invalid_side",
    "invalid_time",
}
# The documented form, matched in full (a trailing newline is not part of a symbol).
BASE_QUOTE = re.compile(r"[A-Z0-9]{1,20}-[A-Z0-9]{1,20}")
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 1e-320, 1e308, float("nan"), float("inf")]),
)
int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
junk_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "BTC-USD", "btc-usd", "BTC_USD", "BTC-", "ÄÖ-ÜSD", "BTC-USD\n", "\0"]),
)


@st.composite
def trade_messages(draw) -> bytes:
    """A Trade with every field drawn from good and bad values."""
    good = trade("BTC-USD", T0, 100.0, 1.0, "1")
    fields = {
        "symbol": draw(st.one_of(st.just(good.symbol), junk_text)),
        "trade_id": draw(st.one_of(st.just(good.trade_id), junk_text)),
        "price": draw(st.one_of(st.just(good.price), numbers)),
        "size": draw(st.one_of(st.just(good.size), numbers)),
        "time_ms": draw(st.one_of(st.just(good.time_ms), int64s, st.sampled_from([0, -1]))),
        "side": draw(st.one_of(st.just(good.side), st.integers(-(2**31), 2**31 - 1))),
        "exchange": draw(junk_text),
    }
    return trade_pb2.Trade(**fields).SerializeToString()


@st.composite
def mutated_bytes(draw) -> bytes:
    """A valid Trade's bytes, truncated, with bytes flipped, inserted or appended."""
    data = bytearray(trade("ETH-USD", T0 + 5, 2000.5, 0.25, "42").SerializeToString())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "append"]))
        at = draw(st.integers(0, len(data)))
        if op == "truncate":
            del data[at:]
        elif op == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


records = st.one_of(
    trade_messages(),
    mutated_bytes(),
    st.binary(max_size=64),
    st.none(),
)


def _run(element, allowed=None) -> list:
    return list(ParseTradeFn(allowed, "trades").process(element))


def _check_one(element, allowed=None) -> None:
    outputs = _run(element, allowed)
    assert len(outputs) == 1, f"{element!r} gave {len(outputs)} outputs"
    (out,) = outputs
    if isinstance(out, pvalue.TaggedOutput):
        assert out.tag == DEAD_LETTER_TAG
        letter = out.value
        assert letter.reason in REASONS, letter.reason
        assert letter.detail
        assert letter.source_topic == "trades"
        return
    assert isinstance(out, TimestampedValue)
    symbol, t = out.value
    assert symbol == t.symbol and BASE_QUOTE.fullmatch(t.symbol)
    assert allowed is None or t.symbol in allowed
    assert t.trade_id
    assert math.isfinite(t.price) and t.price > 0
    assert math.isfinite(t.size) and t.size > 0
    assert t.side in (trade_pb2.SIDE_UNSPECIFIED, trade_pb2.SIDE_BUY, trade_pb2.SIDE_SELL)
    assert MIN_TIME_MS <= t.time_ms <= MAX_TIME_MS
    assert out.timestamp.micros == t.time_ms * 1000


@FUZZ
@given(records)
def test_fuzz_parse_trade_fn_any_bytes_give_one_valid_trade_or_one_dead_letter(payload):
    _check_one(payload)


@FUZZ
@given(records, st.binary(max_size=8) | st.none())
def test_fuzz_parse_trade_fn_keyed_records_behave_like_bare_values(payload, key):
    _check_one((key, payload))


@FUZZ
@given(trade_messages())
def test_fuzz_parse_trade_fn_allow_list_rejects_other_symbols(payload):
    _check_one(payload, allowed={"BTC-USD"})


def test_fuzz_parse_trade_fn_unknown_side_is_dead_lettered():
    bad = trade()
    bad.side = 7  # proto3 enums are open: any int32 decodes
    (out,) = _run(bad.SerializeToString())
    assert isinstance(out, pvalue.TaggedOutput)
    assert out.value.reason == "invalid_side"


def test_fuzz_parse_trade_fn_text_payload_is_dead_lettered_not_raised():
    (out,) = _run("not bytes")
    assert isinstance(out, pvalue.TaggedOutput)
    assert out.value.reason == "malformed"
    assert out.value.payload == b"not bytes"


def test_fuzz_parse_trade_fn_symbol_with_trailing_newline_is_dead_lettered():
    (out,) = _run(trade(symbol="BTC-USD\n").SerializeToString())
    assert isinstance(out, pvalue.TaggedOutput)
    assert out.value.reason == "invalid_symbol"
