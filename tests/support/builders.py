"""Builders of protobuf test data."""

from __future__ import annotations

import itertools

from tradestream.v1 import candle_pb2, trade_pb2

T0 = 1_700_000_040_000  # a minute boundary (epoch ms)
MINUTE = 60_000
_ids = itertools.count(1)


def trade(
    symbol: str = "BTC-USD",
    time_ms: int = T0,
    price: float = 100.0,
    size: float = 1.0,
    trade_id: str | None = None,
) -> trade_pb2.Trade:
    return trade_pb2.Trade(
        exchange="test",
        symbol=symbol,
        trade_id=trade_id if trade_id is not None else str(next(_ids)),
        price=price,
        size=size,
        side=trade_pb2.SIDE_BUY,
        time_ms=time_ms,
    )


def candle(
    start_ms: int,
    close: float,
    symbol: str = "BTC-USD",
    interval_ms: int = MINUTE,
    open_: float | None = None,
    high: float | None = None,
    low: float | None = None,
    volume: float = 1.0,
    revision: int = 0,
) -> candle_pb2.Candle:
    open_ = close if open_ is None else open_
    return candle_pb2.Candle(
        symbol=symbol,
        start_ms=start_ms,
        interval_ms=interval_ms,
        open=open_,
        high=max(open_, close) if high is None else high,
        low=min(open_, close) if low is None else low,
        close=close,
        volume=volume,
        vwap=close,
        trade_count=1,
        revision=revision,
    )


def seconds(ms: int) -> float:
    """Beam/TestStream timestamps are seconds."""
    return ms / 1000.0


def streaming_options():
    """Pipeline options of a streaming TestPipeline (TestStream needs them)."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return options


def keyed_trade(t: trade_pb2.Trade):
    """(symbol, trade) stamped at the trade's time, as ParseTrades emits it."""
    from apache_beam.transforms.window import TimestampedValue

    return TimestampedValue((t.symbol, t), seconds(t.time_ms))


def keyed_candle(c: candle_pb2.Candle):
    """(symbol, candle) stamped at the candle's last millisecond, as candle steps emit it."""
    from apache_beam.transforms.window import TimestampedValue

    return TimestampedValue((c.symbol, c), seconds(c.start_ms + c.interval_ms - 1))


def signal_row(signal) -> tuple:
    """What two signals must share to be the same signal, readable in a failed assertion."""
    from tradestream.market.signal_messages import ACTION_NAMES

    return (
        signal.signal_id,
        signal.symbol,
        signal.strategy.strategy_id,
        signal.candle_start_ms,
        ACTION_NAMES[signal.action],
        signal.price,
    )


_streamed: list = []  # rows from streamed_rows' pipelines (the DirectRunner runs in-process)


def _keep_streamed(row) -> None:
    _streamed.append(row)


def streamed_rows(stream, transform) -> tuple[list, list]:
    """Runs `stream | transform` (a SymbolSignals-returning step) on the DirectRunner ->
    (signal rows ("signal", symbol, candle start, action), dead-letter rows ("letter",
    symbol, reason, payload)), each sorted."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline

    _streamed.clear()
    with TestPipeline(options=streaming_options()) as p:
        out = p | stream | transform
        _ = out.signals | "Signals" >> beam.Map(
            lambda kv: _keep_streamed(("signal", kv[0], kv[1].candle_start_ms, kv[1].action))
        )
        _ = out.dead_letters | "Letters" >> beam.Map(
            lambda d: _keep_streamed(("letter", d.symbol, d.reason, d.payload))
        )
    rows = sorted(_streamed)
    return [r for r in rows if r[0] == "signal"], [r for r in rows if r[0] == "letter"]
