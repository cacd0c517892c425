"""TradesToSignals: the fused realtime step gives the signals of an independent reference.

The reference (tests/support/realtime.py) folds trades into candles and fills gaps from the
documented rules, with no Beam and none of the candle or gap code (`candle_math`, `CandleBook`,
`GapFiller`), and builds signal ids from the documented formula. What it does share is the
strategy evaluation: the vectorized evaluator (`tradestream.strategies.vectorized`), which the fused step
does not run (it runs the incremental one) and which tests/strategies checks against TA-Lib.
"""

from __future__ import annotations

import random

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from tests.support.builders import (
    MINUTE,
    T0,
    keyed_trade,
    seconds,
    signal_row,
    streaming_options,
    trade,
)
from tests.support.realtime import reference_candles, reference_signals
from tradestream.market.signal_messages import ACTION_NAMES
from tradestream.strategies import library
from tradestream.transforms.symbol_signals import RecordsToSignals, TradesToSignals

MAX_GAP = 3
STRATEGIES = [
    library.build("SMA_CROSSOVER", {"fast": 2, "slow": 4}),
    library.build("SMA_CROSSOVER", {"fast": 3, "slow": 6}),
]


def _walk(symbol: str, minutes: int, seed: int, silent: set[int]) -> list:
    """A few trades a minute (none in the `silent` minutes), zig-zag trend, shuffled ids."""
    rng = random.Random(seed)
    price, out = 100.0, []
    for m in range(minutes):
        if m in silent:
            continue
        drift = 0.8 if (m // 7) % 2 == 0 else -0.8
        for _ in range(rng.randint(1, 4)):
            price = max(1.0, price + drift + rng.gauss(0, 0.3))
            out.append(trade(symbol, T0 + m * MINUTE + rng.randrange(MINUTE), round(price, 4)))
    return out


def _reference(trades):
    """The streams end with the watermark well past the last trade: MAX_GAP flats follow."""
    return reference_candles(trades, MINUTE, MAX_GAP, trailing=True)


def test_fused_step_signals_equal_reference_with_gaps_and_out_of_order_trades():
    minutes = 60
    trades = _walk("BTC-USD", minutes, 1, silent={10, 11, 30, 31, 32, 33, 34, 35})
    trades += _walk("ETH-USD", minutes, 2, silent={5, 40})
    trades += [t for t in _walk("NEW-USD", minutes, 3, set()) if t.time_ms >= T0 + 20 * MINUTE]
    expected = reference_signals(STRATEGIES, _reference(trades))
    assert {ACTION_NAMES[s.action] for s in expected} == {"BUY", "SELL"}

    # Arrival order: shuffled within each minute; the watermark follows minute by minute.
    rng = random.Random(9)
    stream = TestStream()
    for m in range(minutes):
        batch = [t for t in trades if T0 + m * MINUTE <= t.time_ms < T0 + (m + 1) * MINUTE]
        rng.shuffle(batch)
        if batch:
            stream = stream.add_elements([keyed_trade(t) for t in batch])
        stream = stream.advance_watermark_to(seconds(T0 + (m + 1) * MINUTE))
    stream = stream.advance_watermark_to(seconds(T0 + (minutes + 2 * MAX_GAP) * MINUTE))
    stream = stream.advance_watermark_to_infinity()

    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | TradesToSignals(STRATEGIES, MINUTE, 0, MAX_GAP, "trades")
        assert_that(
            out.signals | beam.Map(lambda kv: signal_row(kv[1])),
            equal_to([signal_row(s) for s in expected]),
        )
        assert_that(out.dead_letters, equal_to([]), label="no_dead_letters")


def test_fused_step_late_trades_correct_quietly_or_are_dead_lettered():
    on_time = [trade("BTC-USD", T0 + m * MINUTE + 1_000, 100.0 + m) for m in range(8)]
    within = trade("BTC-USD", T0 + 5 * MINUTE + 2_000, 500.0, trade_id="w")  # lateness 2m
    beyond = trade("BTC-USD", T0 + 1 * MINUTE + 2_000, 1.0, trade_id="b")
    stream = TestStream()
    for t in on_time[:7]:
        stream = stream.add_elements([keyed_trade(t)]).advance_watermark_to(
            seconds(t.time_ms - 1_000 + MINUTE)
        )
    # The watermark is at the end of minute 6: minute 5 is within lateness, minute 1 is not.
    stream = stream.add_elements(
        [keyed_trade(within), keyed_trade(beyond), keyed_trade(on_time[7])]
    )
    stream = stream.advance_watermark_to(seconds(T0 + (8 + 2 * MAX_GAP) * MINUTE))
    stream = stream.advance_watermark_to_infinity()
    # Strategies see each interval's on-time candle only: the correction changes nothing.
    expected = reference_signals(STRATEGIES, _reference(on_time))

    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | TradesToSignals(STRATEGIES, MINUTE, 2 * MINUTE, MAX_GAP, "trades")
        assert_that(
            out.signals | beam.Map(lambda kv: signal_row(kv[1])),
            equal_to([signal_row(s) for s in expected]),
        )
        assert_that(
            out.dead_letters | beam.Map(lambda d: (d.reason, d.symbol, d.payload)),
            equal_to([("late", "BTC-USD", beyond.SerializeToString())]),
            label="late",
        )


def _minute_by_minute(trades, minutes, rng, extra_per_minute=None) -> TestStream:
    """Trades shuffled within their minute, then the watermark moves to the minute's end."""
    stream = TestStream()
    for m in range(minutes):
        batch = [t for t in trades if T0 + m * MINUTE <= t.time_ms < T0 + (m + 1) * MINUTE]
        if extra_per_minute is not None:
            batch += extra_per_minute(m, batch)
        rng.shuffle(batch)
        if batch:
            stream = stream.add_elements([keyed_trade(t) for t in batch])
        stream = stream.advance_watermark_to(seconds(T0 + (m + 1) * MINUTE))
    stream = stream.advance_watermark_to(seconds(T0 + (minutes + 2 * MAX_GAP) * MINUTE))
    return stream.advance_watermark_to_infinity()


def test_fused_step_duplicated_trades_change_nothing_and_are_dead_lettered():
    minutes = 40
    trades = _walk("BTC-USD", minutes, 4, silent={12}) + _walk("ETH-USD", minutes, 5, set())
    expected = reference_signals(STRATEGIES, _reference(trades))
    rng = random.Random(6)
    resent: list = []

    def repeats(m, batch):
        # Re-send a third of this minute's trades at once, and some of the last minute's.
        again = [t for t in batch if rng.random() < 0.33]
        again += [t for t in trades if T0 + (m - 1) * MINUTE <= t.time_ms < T0 + m * MINUTE][:1]
        resent.extend(again)
        return again

    stream = _minute_by_minute(trades, minutes, rng, repeats)
    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | TradesToSignals(STRATEGIES, MINUTE, MINUTE, MAX_GAP, "trades")
        assert_that(
            out.signals | beam.Map(lambda kv: signal_row(kv[1])),
            equal_to([signal_row(s) for s in expected]),
        )
        assert_that(
            out.dead_letters | beam.Map(lambda d: (d.reason, d.payload)),
            equal_to([("duplicate", t.SerializeToString()) for t in resent]),
            label="duplicates",
        )
    assert len(resent) > minutes  # the stream really re-sent trades


def test_fused_step_symbol_silent_for_hours_stops_after_max_gap_and_resumes():
    hours = 2 * 60
    # ETH trades in the first and the last 20 minutes only (silent 80 minutes); BTC keeps the watermark moving.
    btc = _walk("BTC-USD", hours, 7, set())
    eth = [
        t
        for t in _walk("ETH-USD", hours, 8, set())
        if t.time_ms < T0 + 20 * MINUTE or t.time_ms >= T0 + (hours - 20) * MINUTE
    ]
    candles = _reference(btc + eth)
    eth_starts = [c.start_ms for c in candles["ETH-USD"]]
    assert T0 + 20 * MINUTE + MAX_GAP * MINUTE not in eth_starts  # bounded flat run
    expected = reference_signals(STRATEGIES, candles)
    assert any(s.symbol == "ETH-USD" and s.candle_start_ms > T0 + 100 * MINUTE for s in expected)

    stream = _minute_by_minute(btc + eth, hours, random.Random(10))
    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | TradesToSignals(STRATEGIES, MINUTE, 0, MAX_GAP, "trades")
        assert_that(
            out.signals | beam.Map(lambda kv: signal_row(kv[1])),
            equal_to([signal_row(s) for s in expected]),
        )


def _record_batches(payloads: list[bytes], rng: random.Random) -> list[list[bytes]]:
    """Consecutive payloads cut into batches of 1 to 9, as polls of a partition return."""
    out, i = [], 0
    while i < len(payloads):
        n = rng.randint(1, 9)
        out.append(payloads[i : i + n])
        i += n
    return out


def test_records_to_signals_parses_batches_like_parse_trades_then_the_fused_step():
    minutes = 45
    trades = _walk("BTC-USD", minutes, 11, silent={8, 9, 20}) + _walk("ETH-USD", minutes, 12, set())
    expected = reference_signals(STRATEGIES, _reference(trades))
    nan_price = trade("BTC-USD", T0 + 3 * MINUTE, float("nan")).SerializeToString()
    unknown = trade("DOGE-USD", T0 + 4 * MINUTE, 1.0).SerializeToString()
    garbage = b"\x0a\xff\xff not a trade"
    rng = random.Random(13)
    resent: list[bytes] = []
    stream = TestStream()
    for m in range(minutes):
        batch = [
            t.SerializeToString()
            for t in trades
            if T0 + m * MINUTE <= t.time_ms < T0 + (m + 1) * MINUTE
        ]
        rng.shuffle(batch)
        if m == 5:
            batch += [nan_price, unknown, garbage]
        if m % 4 == 0 and batch:
            resent.append(batch[0])
            batch.append(batch[0])  # re-sent within the same poll batch or the next
        if batch:
            stream = stream.add_elements(_record_batches(batch, rng))
        stream = stream.advance_watermark_to(seconds(T0 + (m + 1) * MINUTE))
    stream = stream.advance_watermark_to(seconds(T0 + (minutes + 2 * MAX_GAP) * MINUTE))
    stream = stream.advance_watermark_to_infinity()

    with TestPipeline(options=streaming_options()) as p:
        out = (
            p
            | stream
            | RecordsToSignals(
                STRATEGIES, MINUTE, 0, MAX_GAP, "trades", allowed_symbols={"BTC-USD", "ETH-USD"}
            )
        )
        assert_that(
            out.signals | beam.Map(lambda kv: signal_row(kv[1])),
            equal_to([signal_row(s) for s in expected]),
        )
        assert_that(
            out.dead_letters | beam.Map(lambda d: (d.reason, d.payload, d.source_topic)),
            equal_to(
                [
                    ("invalid_price", nan_price, "trades"),
                    ("unknown_symbol", unknown, "trades"),
                    ("malformed", garbage, "trades"),
                ]
                + [("duplicate", payload, "trades") for payload in resent]
            ),
            label="dead_letters",
        )
    assert len(resent) >= 10
