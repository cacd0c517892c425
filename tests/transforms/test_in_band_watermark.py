"""The trades source's watermark in band: candles close as soon as it follows the trades.

On Beam's Flink runner the runner's watermark reaches the keyed step only between bundles
and fires its timers only after its open bundle ends; the source therefore also emits its
watermark as an element (`SourceWatermark`) after its batches, and the keyed step closes
candles on it at once. What must hold: the source emits it after the batches it covers and
ahead of the watermark it publishes (which trails a call); the keyed step gives the same
signals with it as with the runner's watermark alone, and acts on it before the runner's
watermark comes.
"""

from __future__ import annotations

from apache_beam.testing.test_stream import TestStream
from apache_beam.transforms.window import TimestampedValue

from tests.support.builders import MINUTE, T0, seconds, streamed_rows, trade
from tests.transforms.test_kafka_source import _Finalizer, _ScriptedConsumer, _trades_at
from tests.transforms.test_symbol_signals import _walk
from tradestream.strategies import library
from tradestream.transforms.kafka_io import TradeEventTime
from tradestream.transforms.kafka_source import (
    KafkaReadConfig,
    ReadTopicFn,
    SourceWatermark,
    TopicRestriction,
    TopicTracker,
    _Reader,
)
from tradestream.transforms.symbol_signals import RecordsToSignals

STRATEGIES = [library.build("SMA_CROSSOVER", {"fast": 2, "slow": 4})]
MAX_GAP = 3
SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD")


def _calls(in_band: bool) -> list[tuple[object, list]]:
    """Three read calls over two partitions (the second read in two parts), as the runner
    makes them -> per call (the watermark it published, what it emitted in order)."""
    from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
    from apache_beam.runners.sdf_utils import RestrictionTrackerView, ThreadsafeRestrictionTracker

    whole = [T0 + m * MINUTE for m in range(0, 180, 10)]
    first_part = [T0 + m * MINUTE for m in range(0, 29)]
    rest = [T0 + m * MINUTE for m in range(29, 97)]
    config = KafkaReadConfig(
        "localhost:1", "trades", "g-in-band", event_time=TradeEventTime(),
        commit_offsets="never", max_poll_records=10, watermark_in_band=in_band,
    )  # fmt: skip
    consumer = _ScriptedConsumer(
        ends={0: len(whole), 1: len(first_part) + len(rest)},
        polls=[
            {0: _trades_at(0, 0, whole), 1: _trades_at(1, 0, first_part)},
            {},
            {1: _trades_at(1, len(first_part), rest)},
        ],
    )
    reader = _Reader(consumer, "trades")
    restriction = TopicRestriction(start={0: 0, 1: 0}, max_ts={})
    estimator_state = None
    out = []
    for _ in range(3):
        tracker = ThreadsafeRestrictionTracker(TopicTracker(restriction))
        watermark = ManualWatermarkEstimator(estimator_state)
        emitted = list(
            ReadTopicFn()._read(
                config, reader, _Finalizer(), RestrictionTrackerView(tracker), watermark
            )
        )
        out.append((watermark.current_watermark(), emitted))
        restriction = tracker.deferred_status()[0]
        estimator_state = watermark.get_estimator_state()
    return out, (first_part, rest)


def test_the_source_emits_its_watermark_after_the_batches_without_trailing_the_call():
    calls, (first_part, rest) = _calls(in_band=True)
    marks = []
    for published, emitted in calls:
        kinds = [isinstance(e.value, SourceWatermark) for e in emitted]
        # At most one, and last: every batch of the call goes before it.
        assert kinds.count(True) <= 1 and (not any(kinds) or kinds[-1])
        if any(kinds):
            mark = emitted[-1]
            marks.append(mark.value.ms)
            # Stamped at the watermark the call published: never behind the runner's.
            assert mark.timestamp == published
    # The first call read partition 1 up to minute 28: the partitions allow minute 28 at
    # once, while the published watermark trails at the call's earliest batch (minute 0).
    assert calls[0][0].micros == T0 * 1000
    assert marks[0] == first_part[-1]
    # The second call read the rest of partition 1: minute 96 (partition 0 is at 170).
    assert marks[1] == rest[-1]
    assert marks == sorted(marks)


def test_without_the_option_the_source_emits_batches_only():
    calls, _ = _calls(in_band=False)
    assert all(isinstance(e.value, list) for _, emitted in calls for e in emitted)


def _run(minutes, in_band, runner_lag, late=None, mark_every=1, lateness=0):
    """Trades of SYMBOLS minute by minute; every `mark_every` minutes, after that minute's
    batches, the source's mark for its end (when `in_band`: a mark over several minutes
    serves many wake-ups, some added as others are served); the runner's watermark
    `runner_lag` minutes behind (None: only at the end). `late`: (after minute, trade) sent
    then. -> sorted (signal rows, dead-letter rows)."""
    silent = {m for m in range(minutes) if m % 13 in (7, 8, 9)}  # flat candles fill them
    trades = [t for i, s in enumerate(SYMBOLS) for t in _walk(s, minutes, i, silent)]
    stream = TestStream()
    for m in range(minutes):
        end = T0 + (m + 1) * MINUTE
        batch = [t.SerializeToString() for t in trades if end - MINUTE <= t.time_ms < end]
        batch += [t.SerializeToString() for after, t in late or [] if after == m]
        elements = [batch]
        if in_band and (m + 1) % mark_every == 0:
            elements.append(TimestampedValue(SourceWatermark(end - 1), seconds(end - 1)))
        stream = stream.add_elements(elements)
        if runner_lag is not None and m >= runner_lag:
            stream = stream.advance_watermark_to(seconds(end - runner_lag * MINUTE))
    stream = stream.advance_watermark_to_infinity()
    return streamed_rows(stream, RecordsToSignals(STRATEGIES, MINUTE, lateness, MAX_GAP, "trades"))


def test_candles_closed_in_band_give_the_signals_the_runners_watermark_gives():
    by_runner = _run(40, in_band=False, runner_lag=0, lateness=MINUTE)
    assert len(by_runner[0]) >= 6 and {r[1] for r in by_runner[0]} == set(SYMBOLS)
    assert _run(40, in_band=True, runner_lag=2, lateness=MINUTE) == by_runner
    assert _run(40, in_band=True, runner_lag=3, mark_every=5, lateness=MINUTE) == by_runner


def test_the_keyed_step_closes_candles_on_the_mark_before_the_runners_watermark():
    # A trade of minute 5 arrives after the mark of minute 9's end. The runner's watermark
    # has not moved: closed by the mark, its candle refuses it as late; without marks the
    # candle is still open and takes it.
    straggler = trade("ETH-USD", T0 + 5 * MINUTE + 30_000, 150.0)
    late = [(9, straggler)]
    _, letters = _run(12, in_band=True, runner_lag=None, late=late)
    assert letters == [("letter", "ETH-USD", "late", straggler.SerializeToString())]
    _, letters = _run(12, in_band=False, runner_lag=None, late=late)
    assert letters == []
