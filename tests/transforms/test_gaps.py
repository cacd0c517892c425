"""FillCandleGaps: flat candles for silent intervals, bounded by max_gap, output in order."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from tests.support.builders import MINUTE, T0, candle, keyed_candle, seconds, streaming_options
from tradestream.transforms.gaps import FillCandleGaps


def _summary(kv):
    c = kv[1]
    return ((c.start_ms - T0) // MINUTE, c.close, c.volume, c.filled, c.revision)


def test_gaps_silent_intervals_get_flat_candles_at_last_close():
    candles = [candle(T0, 10.0), candle(T0 + 3 * MINUTE, 13.0)]
    with TestPipeline() as p:
        out = (
            p
            | beam.Create(candles)
            | beam.Map(keyed_candle)
            | FillCandleGaps(MINUTE, max_gap=10, fill_trailing=False)
        )
        assert_that(
            out | beam.Map(_summary),
            equal_to(
                [
                    (0, 10.0, 1.0, False, 0),
                    (1, 10.0, 0.0, True, 0),
                    (2, 10.0, 0.0, True, 0),
                    (3, 13.0, 1.0, False, 0),
                ]
            ),
        )


def test_gaps_flat_candle_is_ohlc_equal_to_previous_close_volume_zero():
    candles = [candle(T0, 10.0, open_=9.0, high=11.0, low=8.0), candle(T0 + 2 * MINUTE, 12.0)]
    with TestPipeline() as p:
        out = p | beam.Create(candles) | beam.Map(keyed_candle) | FillCandleGaps(MINUTE, 5, False)
        flats = out | beam.Filter(lambda kv: kv[1].filled)
        assert_that(
            flats
            | beam.Map(lambda kv: (kv[1].open, kv[1].high, kv[1].low, kv[1].close, kv[1].volume)),
            equal_to([(10.0, 10.0, 10.0, 10.0, 0.0)]),
        )


def test_gaps_longer_than_max_gap_are_filled_only_max_gap_times():
    candles = [candle(T0, 10.0), candle(T0 + 6 * MINUTE, 16.0)]
    with TestPipeline() as p:
        out = p | beam.Create(candles) | beam.Map(keyed_candle) | FillCandleGaps(MINUTE, 2, False)
        assert_that(
            out | beam.Map(lambda kv: ((kv[1].start_ms - T0) // MINUTE, kv[1].filled)),
            equal_to([(0, False), (1, True), (2, True), (6, False)]),
        )


def test_gaps_streaming_fills_trailing_intervals_as_watermark_advances():
    stream = (
        TestStream()
        .add_elements([keyed_candle(candle(T0, 10.0))])
        .advance_watermark_to(seconds(T0 + MINUTE))
        .advance_watermark_to(seconds(T0 + 3 * MINUTE + 1))  # intervals 1 and 2 are over
        .add_elements([keyed_candle(candle(T0 + 3 * MINUTE, 13.0))])
        .advance_watermark_to(seconds(T0 + 4 * MINUTE))
        .advance_watermark_to(seconds(T0 + 20 * MINUTE))  # long silence: max_gap=3 flats
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | FillCandleGaps(MINUTE, max_gap=3, fill_trailing=True)
        assert_that(
            out | beam.Map(_summary),
            equal_to(
                [
                    (0, 10.0, 1.0, False, 0),
                    (1, 10.0, 0.0, True, 0),
                    (2, 10.0, 0.0, True, 0),
                    (3, 13.0, 1.0, False, 0),
                    (4, 13.0, 0.0, True, 0),
                    (5, 13.0, 0.0, True, 0),
                    (6, 13.0, 0.0, True, 0),
                ]
            ),
        )


def test_gaps_real_candle_for_an_already_filled_interval_passes_as_correction():
    stream = (
        TestStream()
        .add_elements([keyed_candle(candle(T0, 10.0))])
        .advance_watermark_to(seconds(T0 + 2 * MINUTE + 1))  # interval 1 filled flat
        .add_elements([keyed_candle(candle(T0 + MINUTE, 11.0, revision=0))])
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | FillCandleGaps(MINUTE, max_gap=1, fill_trailing=True)
        assert_that(
            out | beam.Map(_summary),
            equal_to(
                [
                    (0, 10.0, 1.0, False, 0),
                    (1, 10.0, 0.0, True, 0),
                    (1, 11.0, 1.0, False, 1),
                ]
            ),
        )
