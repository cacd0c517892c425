"""WindowTradesToCandles: OHLCV/VWAP per symbol in event time; late trades defined and tested."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from tests.support.builders import MINUTE, T0, keyed_trade, seconds, streaming_options, trade
from tradestream.transforms.trades_to_candles import WindowTradesToCandles


def _summary(kv):
    c = kv[1]
    return (
        c.symbol,
        c.start_ms - T0,
        c.open,
        c.high,
        c.low,
        c.close,
        c.volume,
        round(c.vwap, 9),
        c.trade_count,
        c.revision,
    )


def test_candles_ohlcv_vwap_count_per_symbol_in_event_time_order():
    trades = [
        # Arrival order differs from event-time order: open/close follow event time.
        trade("BTC-USD", T0 + 30_000, 102.0, 1.0, "3"),
        trade("BTC-USD", T0 + 1_000, 100.0, 2.0, "1"),
        trade("BTC-USD", T0 + 59_999, 101.0, 1.0, "4"),
        trade("BTC-USD", T0 + 10_000, 99.0, 1.0, "2"),
        trade("ETH-USD", T0 + 5_000, 10.0, 3.0, "9"),
        trade("BTC-USD", T0 + MINUTE, 105.0, 1.0, "5"),
    ]
    stream = (
        TestStream()
        .add_elements([keyed_trade(t) for t in trades])
        .advance_watermark_to(seconds(T0 + 3 * MINUTE))
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=streaming_options()) as p:
        built = p | stream | WindowTradesToCandles(MINUTE)
        vwap = (100 * 2 + 102 + 101 + 99) / 5.0
        assert_that(
            built.candles | beam.Map(_summary),
            equal_to(
                [
                    ("BTC-USD", 0, 100.0, 102.0, 99.0, 101.0, 5.0, round(vwap, 9), 4, 0),
                    ("BTC-USD", MINUTE, 105.0, 105.0, 105.0, 105.0, 1.0, 105.0, 1, 0),
                    ("ETH-USD", 0, 10.0, 10.0, 10.0, 10.0, 3.0, 10.0, 1, 0),
                ]
            ),
        )
        assert_that(built.dead_letters, equal_to([]), label="no_dead_letters")


def test_candles_late_trade_within_lateness_emits_corrected_candle():
    stream = (
        TestStream()
        .add_elements([keyed_trade(trade(time_ms=T0 + 1_000, price=100.0, trade_id="1"))])
        .advance_watermark_to(seconds(T0 + MINUTE + 5_000))  # candle 0 is emitted
        .add_elements([keyed_trade(trade(time_ms=T0 + 50_000, price=120.0, trade_id="2"))])
        .advance_watermark_to(seconds(T0 + 5 * MINUTE))
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=streaming_options()) as p:
        built = p | stream | WindowTradesToCandles(MINUTE, allowed_lateness_ms=2 * MINUTE)
        assert_that(
            built.candles | beam.Map(lambda kv: (kv[1].revision, kv[1].close, kv[1].high)),
            equal_to([(0, 100.0, 100.0), (1, 120.0, 120.0)]),
        )
        assert_that(built.dead_letters, equal_to([]), label="no_dead_letters")


def test_candles_late_trade_beyond_lateness_is_dead_lettered_as_late():
    late = trade(time_ms=T0 + 2_000, price=90.0, trade_id="2")
    stream = (
        TestStream()
        .add_elements([keyed_trade(trade(time_ms=T0 + 1_000, price=100.0, trade_id="1"))])
        .advance_watermark_to(seconds(T0 + 3 * MINUTE))  # closes candle 0 (lateness 1m)
        .add_elements([keyed_trade(late)])
        .advance_watermark_to(seconds(T0 + 5 * MINUTE))
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=streaming_options()) as p:
        built = p | stream | WindowTradesToCandles(MINUTE, allowed_lateness_ms=MINUTE)
        assert_that(
            built.candles | beam.Map(lambda kv: (kv[1].revision, kv[1].close)),
            equal_to([(0, 100.0)]),
        )
        assert_that(
            built.dead_letters | beam.Map(lambda d: (d.reason, d.symbol, d.payload)),
            equal_to([("late", "BTC-USD", late.SerializeToString())]),
            label="late",
        )


def test_candles_symbol_appearing_mid_stream_starts_its_own_candles():
    stream = (
        TestStream()
        .add_elements([keyed_trade(trade("BTC-USD", T0 + 1_000, 100.0))])
        .advance_watermark_to(seconds(T0 + 2 * MINUTE))
        .add_elements([keyed_trade(trade("NEW-USD", T0 + 2 * MINUTE + 1, 5.0))])
        .advance_watermark_to(seconds(T0 + 4 * MINUTE))
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=streaming_options()) as p:
        built = p | stream | WindowTradesToCandles(MINUTE)
        assert_that(
            built.candles | beam.Map(lambda kv: (kv[0], kv[1].start_ms - T0)),
            equal_to([("BTC-USD", 0), ("NEW-USD", 2 * MINUTE)]),
        )


def test_candles_batch_input_builds_the_same_candles():
    trades = [trade(time_ms=T0 + i * 20_000, price=100.0 + i, trade_id=str(i)) for i in range(6)]
    with TestPipeline() as p:
        built = p | beam.Create(trades) | beam.Map(keyed_trade) | WindowTradesToCandles(MINUTE)
        assert_that(
            built.candles | beam.Map(lambda kv: (kv[1].start_ms - T0, kv[1].open, kv[1].close)),
            equal_to([(0, 100.0, 102.0), (MINUTE, 103.0, 105.0)]),
        )


def test_candles_duplicate_trades_count_once_and_are_dead_lettered():
    first = trade("BTC-USD", T0 + 1_000, 100.0, 2.0, "1")
    second = trade("BTC-USD", T0 + 2_000, 104.0, 1.0, "2")
    # The same trade re-sent in the same bundle, and again in a later one (a replay).
    stream = (
        TestStream()
        .add_elements([keyed_trade(first), keyed_trade(second), keyed_trade(first)])
        .advance_watermark_to(seconds(T0 + 30_000))
        .add_elements(
            [keyed_trade(second), keyed_trade(trade("BTC-USD", T0 + 3_000, 99.0, 1.0, "3"))]
        )
        .advance_watermark_to(seconds(T0 + 3 * MINUTE))
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=streaming_options()) as p:
        built = p | stream | WindowTradesToCandles(MINUTE)
        vwap = (100.0 * 2 + 104.0 + 99.0) / 4.0
        assert_that(
            built.candles | beam.Map(_summary),
            equal_to([("BTC-USD", 0, 100.0, 104.0, 99.0, 99.0, 4.0, round(vwap, 9), 3, 0)]),
        )
        assert_that(
            built.dead_letters | beam.Map(lambda d: (d.reason, d.payload)),
            equal_to(
                [
                    ("duplicate", first.SerializeToString()),
                    ("duplicate", second.SerializeToString()),
                ]
            ),
            label="duplicates",
        )


def test_candles_same_trade_id_on_two_exchanges_is_two_trades():
    a = trade("BTC-USD", T0 + 1_000, 100.0, 1.0, "7")
    b = trade("BTC-USD", T0 + 2_000, 102.0, 1.0, "7")
    b.exchange = "other"
    stream = (
        TestStream()
        .add_elements([keyed_trade(a), keyed_trade(b)])
        .advance_watermark_to(seconds(T0 + 2 * MINUTE))
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=streaming_options()) as p:
        built = p | stream | WindowTradesToCandles(MINUTE)
        assert_that(
            built.candles | beam.Map(lambda kv: (kv[1].trade_count, kv[1].volume)),
            equal_to([(2, 2.0)]),
        )
        assert_that(built.dead_letters, equal_to([]), label="none")
