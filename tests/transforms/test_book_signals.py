"""RecordsToSignals with the book topic: the keyed step keeps each symbol's order book and its
strategies see, at each candle, the book of exactly the updates stamped before the candle's
end, as the backtest's book input gives them.

The reference: candles folded from the trades by tests/support/realtime.py (no Beam, none of
the candle code), the book features of the same updates from `BookTracker` closed once at the
end (checked on its own against an independent rebuild in tests/tradestream/market), joined by
candle start and evaluated by the vectorized evaluator. The step under test runs the
incremental evaluator and closes the books candle by candle as the watermark passes.
"""

from __future__ import annotations

import random

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from tests.support.builders import MINUTE, T0, seconds, streaming_options, trade
from tests.support.realtime import reference_candles
from tests.support.vectorized_signals import candle_arrays, reference_signal_id
from tradestream.market.book_features import book_features_by_candle
from tradestream.strategies import library
from tradestream.strategies.candle_arrays import BOOK_FIELDS, CandleArrays, book_row
from tradestream.strategies.vectorized import evaluate_vectorized, signal_confidences
from tradestream.transforms.symbol_signals import RecordsToSignals
from tradestream.v1 import book_pb2

MAX_GAP = 3
MINUTES = 50
SYMBOLS = ("BTC-USD", "ETH-USD")
STRATEGIES = [
    library.build("ORDER_BOOK_IMBALANCE", {"lookback": 1, "threshold": 0.2, "cooldown": 2}),
    library.build("SMA_CROSSOVER", {"fast": 2, "slow": 4}),
]
BID, ASK = book_pb2.BOOK_SIDE_BID, book_pb2.BOOK_SIDE_ASK


def _trades(symbol: str, seed: int) -> list:
    rng = random.Random(seed)
    price, out = 100.0, []
    for m in range(MINUTES):
        for _ in range(rng.randint(1, 3)):
            price = max(1.0, price + rng.gauss(0, 0.5))
            out.append(trade(symbol, T0 + m * MINUTE + rng.randrange(MINUTE), round(price, 3)))
    return out


def _book(symbol: str, seed: int) -> list[book_pb2.BookUpdate]:
    """A snapshot in minute 2 (no book before it), then a few updates a minute that swing
    the top sizes; one crossing update in minute 30, and a fresh snapshot in minute 33."""
    rng = random.Random(seed)
    seq = 0

    def update(t: int, levels, snapshot: bool = False) -> book_pb2.BookUpdate:
        nonlocal seq
        seq += rng.randint(1, 4)
        return book_pb2.BookUpdate(
            exchange="test", symbol=symbol, sequence_num=seq, time_ms=t, is_snapshot=snapshot,
            levels=[book_pb2.BookLevel(side=s, price=p, size=q) for s, p, q in levels],
        )  # fmt: skip

    def snapshot(t: int):
        return update(
            t,
            [(BID, 99.0 - i, 1.0 + i) for i in range(5)] + [(ASK, 100.0 + i, 1.0 + i) for i in range(5)],
            snapshot=True,
        )  # fmt: skip

    out = [snapshot(T0 + 2 * MINUTE + 5_000)]
    for m in range(2, MINUTES):
        if m == 33:
            out.append(snapshot(T0 + 33 * MINUTE + 100))
        for _ in range(rng.randint(0, 3)):
            t = T0 + m * MINUTE + rng.randrange(MINUTE)
            if t <= out[-1].time_ms:
                continue
            side = rng.choice([BID, ASK])
            price = 99.0 - rng.randrange(3) if side == BID else 100.0 + rng.randrange(3)
            out.append(update(t, [(side, price, round(rng.uniform(0.0, 12.0), 2))]))
        if m == 30:
            out.append(update(T0 + 30 * MINUTE + 59_000, [(BID, 100.5, 1.0)]))  # crosses
    return out


def _expected(trades, updates) -> tuple[list[tuple], list[tuple]]:
    """(signal rows, (reason, symbol) of the updates the books refuse)."""
    candles = reference_candles(trades, MINUTE, MAX_GAP, trailing=True)
    until = {s: c[-1].start_ms + MINUTE for s, c in candles.items()}
    rows, refused = book_features_by_candle(updates, MINUTE, 10, symbols=until, until_ms=until)
    out = []
    for symbol, series in candles.items():
        plain = candle_arrays(series)
        by_start = dict(rows[symbol])
        values = np.asarray(
            [book_row(by_start.get(c.start_ms), c.close) for c in series], dtype=np.float64
        )
        arrays = CandleArrays(
            plain.open, plain.high, plain.low, plain.close, plain.volume,
            start_ms=plain.start_ms, interval_ms=MINUTE,
            book={name: values[:, i] for i, name in enumerate(BOOK_FIELDS)},
        )  # fmt: skip
        actions = evaluate_vectorized(STRATEGIES, arrays)
        for strategy in STRATEGIES:
            confidence = signal_confidences(strategy, arrays)
            for t in np.flatnonzero(actions[strategy.strategy_id]):
                action = "BUY" if actions[strategy.strategy_id][t] > 0 else "SELL"
                start = series[int(t)].start_ms
                out.append((reference_signal_id(strategy.strategy_id, symbol, start, action),
                            symbol, strategy.strategy_id, start, action,
                            round(confidence.get(int(t), 1.0), 12)))  # fmt: skip
    return out, [(reason, update.symbol) for update, reason in refused]


def _book_step(p, stream: TestStream):
    """The stream's ("trades" | "book", batch) items through RecordsToSignals with a book."""
    mixed = p | stream
    trade_batches = mixed | "Trades" >> beam.FlatMap(
        lambda kv: [kv[1]] if kv[0] == "trades" else []
    )
    book_batches = mixed | "Book" >> beam.FlatMap(lambda kv: [kv[1]] if kv[0] == "book" else [])
    return (trade_batches, book_batches) | RecordsToSignals(
        STRATEGIES, MINUTE, 0, MAX_GAP, "trades", book_depth=10, book_topic="book"
    )


def _row(signal) -> tuple:
    action = {1: "BUY", 2: "SELL"}[signal.action]
    return (signal.signal_id, signal.symbol, signal.strategy.strategy_id,
            signal.candle_start_ms, action, round(signal.confidence, 12))  # fmt: skip


def test_book_strategies_see_each_candles_book_as_the_backtest_does():
    trades = _trades("BTC-USD", 1) + _trades("ETH-USD", 2)
    updates = _book("BTC-USD", 3) + _book("ETH-USD", 4)
    expected, refused = _expected(trades, updates)
    # Each book crosses once (refused, then its updates until the next snapshot).
    assert sorted({r for r, _ in refused}) == ["awaiting_snapshot", "crossed_book"]
    book_signals = [e for e in expected if e[2].startswith("ORDER_BOOK_IMBALANCE")]
    assert {e[4] for e in book_signals} == {"BUY", "SELL"} and len(book_signals) > 6
    garbage = b"\x0a\xff\xff not a book update"
    bad_price = book_pb2.BookUpdate(
        symbol="BTC-USD", time_ms=T0 + 10 * MINUTE, sequence_num=10**6,
        levels=[book_pb2.BookLevel(side=BID, price=-1.0, size=1.0)],
    )  # fmt: skip

    # Both topics' records arrive shuffled within their minute; the watermark follows.
    rng = random.Random(5)
    stream = TestStream()
    for m in range(MINUTES):
        inside = lambda t, m=m: T0 + m * MINUTE <= t < T0 + (m + 1) * MINUTE  # noqa: E731
        trade_batch = [t.SerializeToString() for t in trades if inside(t.time_ms)]
        book_batch = [u.SerializeToString() for u in updates if inside(u.time_ms)]
        if m == 10:
            book_batch += [garbage, bad_price.SerializeToString()]
        rng.shuffle(trade_batch)
        rng.shuffle(book_batch)
        items = [("trades", trade_batch[i : i + 4]) for i in range(0, len(trade_batch), 4)]
        items += [("book", book_batch[i : i + 3]) for i in range(0, len(book_batch), 3)]
        rng.shuffle(items)
        if items:
            stream = stream.add_elements(items)
        stream = stream.advance_watermark_to(seconds(T0 + (m + 1) * MINUTE))
    stream = stream.advance_watermark_to(seconds(T0 + (MINUTES + 2 * MAX_GAP) * MINUTE))
    stream = stream.advance_watermark_to_infinity()

    with TestPipeline(options=streaming_options()) as p:
        out = _book_step(p, stream)
        assert_that(out.signals | beam.Map(lambda kv: _row(kv[1])), equal_to(expected))
        assert_that(
            out.dead_letters | beam.Map(lambda d: (d.reason, d.source_topic, d.symbol)),
            equal_to(
                [("malformed", "book", ""), ("invalid_price", "book", "BTC-USD")]
                + [(reason, "book", symbol) for reason, symbol in refused]
            ),
            label="dead_letters",
        )


def test_the_book_topic_is_stamped_and_watermarked_by_the_updates_event_times():
    from tradestream.transforms.kafka_io import BookEventTime, ReadBook, book_time_ms

    update = book_pb2.BookUpdate(symbol="BTC-USD", time_ms=T0 + 5, sequence_num=3)
    assert book_time_ms(None, update.SerializeToString()) == T0 + 5
    assert book_time_ms(None, b"\x0a\xff\xff junk") is None
    assert book_time_ms(None, book_pb2.BookUpdate(symbol="X").SerializeToString()) is None
    read = ReadBook("localhost:9092", "book", "group", max_clock_skew_ms=1_000)
    assert read._config.topic == "book"
    assert read._config.event_time == BookEventTime(1_000)


def test_a_symbol_with_a_book_and_no_trades_closes_its_candles_as_the_watermark_passes():
    """Its updates do not pile up waiting for a trade: the candles close with the watermark,
    and an update stamped in a closed candle afterwards is refused `late`."""
    trades = _trades("BTC-USD", 1)[:40]
    updates = _book("ETH-USD", 4)[:30]  # ETH: a book, never a trade
    stale = book_pb2.BookUpdate(
        exchange="test", symbol="ETH-USD", sequence_num=10**6, time_ms=updates[5].time_ms,
        levels=[book_pb2.BookLevel(side=BID, price=98.0, size=1.0)],
    )  # fmt: skip
    last = max(u.time_ms for u in updates)
    stream = (
        TestStream()
        .add_elements([("trades", [t.SerializeToString() for t in trades])])
        .add_elements([("book", [u.SerializeToString() for u in updates])])
        .advance_watermark_to(seconds(last - last % MINUTE + 2 * MINUTE))
        .add_elements([("book", [stale.SerializeToString()])])
        .advance_watermark_to_infinity()
    )
    with TestPipeline(options=streaming_options()) as p:
        out = _book_step(p, stream)
        assert_that(
            out.dead_letters | beam.Map(lambda d: (d.reason, d.symbol, d.payload)),
            equal_to([("late", "ETH-USD", stale.SerializeToString())]),
        )
