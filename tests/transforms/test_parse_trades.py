"""ParseTrades: good trades keyed and stamped, every bad record dead-lettered with a reason."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.builders import T0, trade
from tradestream.transforms.parse_trades import ParseTrades


def _bytes(t) -> bytes:
    return t.SerializeToString()


def test_parse_trades_good_trade_is_keyed_and_stamped_with_its_time():
    good = trade("ETH-USD", T0 + 1234, 2000.5, 0.25, "77")
    with TestPipeline() as p:
        parsed = p | beam.Create([(b"ETH-USD", _bytes(good))]) | ParseTrades()
        stamped = parsed.trades | beam.Map(
            lambda kv, ts=beam.DoFn.TimestampParam: (kv[0], kv[1].trade_id, ts.micros // 1000)
        )
        assert_that(stamped, equal_to([("ETH-USD", "77", T0 + 1234)]), label="trades")
        assert_that(parsed.dead_letters, equal_to([]), label="no_dead_letters")


def test_parse_trades_bad_records_are_dead_lettered_with_reason_and_original_bytes():
    bad = {
        b"\xff\xff\xff garbage": "malformed",
        _bytes(trade(price=float("nan"))): "invalid_price",
        _bytes(trade(price=-1.0)): "invalid_price",
        _bytes(trade(price=0.0)): "invalid_price",
        _bytes(trade(size=0.0)): "invalid_size",
        _bytes(trade(size=float("inf"))): "invalid_size",
        _bytes(trade(symbol="")): "missing_field",
        _bytes(trade(trade_id="")): "missing_field",
        _bytes(trade(time_ms=0)): "missing_field",
        _bytes(trade(time_ms=1_700_000_000)): "invalid_time",  # seconds, not ms
        _bytes(trade(symbol="btcusd")): "invalid_symbol",
        _bytes(trade(symbol="DOGE-USD")): "unknown_symbol",
    }
    good = _bytes(trade("BTC-USD"))
    with TestPipeline() as p:
        parsed = (
            p
            | beam.Create([good, *bad])
            | ParseTrades(allowed_symbols={"BTC-USD", "ETH-USD"}, source_topic="trades")
        )
        assert_that(
            parsed.trades | beam.Map(lambda kv: kv[0]), equal_to(["BTC-USD"]), label="trades"
        )
        assert_that(
            parsed.dead_letters | beam.Map(lambda d: (d.payload, d.reason, d.source_topic)),
            equal_to([(payload, reason, "trades") for payload, reason in bad.items()]),
            label="dead_letters",
        )


def test_parse_trades_without_allow_list_accepts_new_symbols():
    records = [_bytes(trade(sym)) for sym in ("BTC-USD", "NEW-COIN", "SOL-EUR")]
    with TestPipeline() as p:
        parsed = p | beam.Create(records) | ParseTrades()
        assert_that(
            parsed.trades | beam.Map(lambda kv: kv[0]),
            equal_to(["BTC-USD", "NEW-COIN", "SOL-EUR"]),
        )


def test_parse_trades_none_value_is_dead_lettered_not_a_crash():
    with TestPipeline() as p:
        parsed = p | beam.Create([(b"k", None)]) | ParseTrades()
        assert_that(parsed.dead_letters | beam.Map(lambda d: d.reason), equal_to(["missing_field"]))
