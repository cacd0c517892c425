"""Test support for the realtime pipeline: an independent candle reference and a runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from tests.support.vectorized_signals import signals_for_candles
from tradestream.market import candle_math
from tradestream.v1 import candle_pb2, signal_pb2, trade_pb2

REPO = Path(__file__).resolve().parents[2]


def reference_candles(
    trades: Iterable[trade_pb2.Trade], interval_ms: int, max_gap: int
) -> dict[str, list[candle_pb2.Candle]]:
    """Candles per symbol computed directly (no Beam): fold per interval, fill gaps."""
    buckets: dict[tuple[str, int], list[trade_pb2.Trade]] = defaultdict(list)
    for t in trades:
        buckets[(t.symbol, candle_math.bucket_start(t.time_ms, interval_ms))].append(t)
    out: dict[str, list[candle_pb2.Candle]] = defaultdict(list)
    for symbol, start in sorted(buckets):
        acc = candle_math.fold(buckets[(symbol, start)])
        series = out[symbol]
        if series:
            previous = series[-1]
            nxt, run = previous.start_ms + interval_ms, 0
            while nxt < start and run < max_gap:
                series.append(candle_math.flat_candle(symbol, nxt, interval_ms, previous.close))
                nxt += interval_ms
                run += 1
        series.append(candle_math.to_candle(symbol, start, interval_ms, acc))
    return dict(out)


def with_sentinels(
    trades: list[trade_pb2.Trade], interval_ms: int = 60_000
) -> list[trade_pb2.Trade]:
    """One more trade per symbol in the interval after the last, which closes every candle."""
    end = max(t.time_ms for t in trades)
    close_at = end - end % interval_ms + interval_ms  # the next interval: no gap before it
    return trades + [
        trade_pb2.Trade(
            exchange="test", symbol=s, trade_id="sentinel", price=1.0, size=1.0, time_ms=close_at
        )
        for s in sorted({t.symbol for t in trades})
    ]


def reference_signals(strategies, candles_by_symbol) -> list[signal_pb2.Signal]:
    out = []
    for candles in candles_by_symbol.values():
        out.extend(signals_for_candles(strategies, candles))
    return out


def signal_key(signal: signal_pb2.Signal) -> tuple:
    return (
        signal.signal_id,
        signal.symbol,
        signal.strategy.strategy_id,
        signal.candle_start_ms,
        signal.action,
        round(signal.price, 8),
    )


class RealtimeProcess:
    """`python -m pipelines.realtime ...` in its own process group (killable as a whole)."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_path: Path) -> None:
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.realtime", *args],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """Abrupt stop of the pipeline and its job server (SIGKILL to the group)."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def stop(self, timeout_s: float = 60.0) -> int:
        """Clean stop: SIGINT (Ctrl-C), then SIGKILL if it does not exit."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self._log.close()
        return self.proc.returncode


def read_topic(bootstrap: str, topic: str, decode) -> list:
    """Every record currently on the topic, each value decoded with `decode`."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read the topic {topic} to its end")
            for records in consumer.poll(timeout_ms=200).values():
                out.extend(decode(r.value) for r in records)
        return out
    finally:
        consumer.close()


def read_signals(bootstrap: str, topic: str) -> list[signal_pb2.Signal]:
    """Every signal currently on the topic."""
    return read_topic(bootstrap, topic, signal_pb2.Signal.FromString)


def topic_size(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(tps)
        begins = consumer.beginning_offsets(tps)
        return sum(ends[tp] - begins[tp] for tp in tps)
    finally:
        consumer.close()


def wait_for(
    predicate,
    timeout_s: float,
    interval_s: float = 1.0,
    what: str = "condition",
    log: Path | None = None,
):
    """Polls `predicate` until it is truthy; on timeout the error ends with `log`'s last lines.

    (CI keeps no files of a failed run: the process log has to travel in the message.)
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    message = f"timed out after {timeout_s:.0f}s waiting for {what}"
    if log is not None:
        lines = Path(log).read_text(errors="replace").splitlines() if Path(log).exists() else []
        message += f"\n--- last {min(len(lines), 60)} lines of {log} ---\n" + "\n".join(lines[-60:])
    raise TimeoutError(message)
