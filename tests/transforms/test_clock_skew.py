"""Clock skew: a trade stamped in the future is dead-lettered and never moves the watermark.

A sender with a wrong clock must not drag the watermark ahead (every other trade would then
be late); the bound is the reader's own clock plus `--max_clock_skew`.
"""

from __future__ import annotations

import time

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.support.builders import trade
from tradestream.market.trade_validation import check_trade
from tradestream.transforms.kafka_io import TradeEventTime, trade_time_ms
from tradestream.transforms.parse_trades import ParseTrades

MINUTE = 60_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_check_trade_refuses_times_after_the_given_bound():
    now = _now_ms()
    assert check_trade(trade(time_ms=now), latest_ms=now + MINUTE) is None
    problem = check_trade(trade(time_ms=now + 2 * MINUTE), latest_ms=now + MINUTE)
    assert problem is not None and problem.reason == "future_time"
    assert str(now + 2 * MINUTE) in problem.detail
    # Without a bound (backtests of files) any time in 2000..2200 is fine.
    assert check_trade(trade(time_ms=now + 365 * 24 * 60 * MINUTE)) is None


def test_source_event_time_ignores_future_trades_so_the_watermark_stays():
    now = _now_ms()
    near, far = trade(time_ms=now + 1_000), trade(time_ms=now + 10 * MINUTE)
    bounded = TradeEventTime(max_future_ms=MINUTE)
    assert bounded(None, near.SerializeToString()) == near.time_ms
    assert bounded(None, far.SerializeToString()) is None
    assert trade_time_ms(None, far.SerializeToString()) == far.time_ms  # unbounded
    # Hashable and comparable: the source keys its consumers by the read config.
    assert hash(bounded) == hash(TradeEventTime(MINUTE)) and bounded == TradeEventTime(MINUTE)


def test_parse_trades_dead_letters_future_trades_when_skew_is_bounded():
    now = _now_ms()
    ok = trade("BTC-USD", now - 5_000, 100.0, 1.0, "1")
    skewed = trade("BTC-USD", now + 10 * MINUTE, 100.0, 1.0, "2")
    records = [(b"BTC-USD", ok.SerializeToString()), (b"BTC-USD", skewed.SerializeToString())]
    with TestPipeline() as p:
        parsed = p | beam.Create(records) | ParseTrades(max_clock_skew_ms=MINUTE)
        assert_that(parsed.trades | beam.Map(lambda kv: kv[1].trade_id), equal_to(["1"]))
        assert_that(
            parsed.dead_letters | beam.Map(lambda d: (d.reason, d.payload)),
            equal_to([("future_time", skewed.SerializeToString())]),
            label="skewed",
        )
