"""Test support for the realtime pipeline: an independent reference of its signals, and a runner.

The reference (`reference_candles`, `reference_signals`) is written from the documented rules,
not from the pipeline's code (README "Realtime pipeline", `protos/tradestream/v1/candle.proto`,
`transforms/gaps.py`'s docstring):

- a candle covers `[start, start + interval)`, intervals aligned to the epoch;
- open and close are the prices of the first and last trade by event time, ties by trade id
  (ids made of digits compare as numbers: "9" before "10"); high, low, volume (sum of sizes),
  VWAP (= close when the volume is 0) and trade count over the interval's trades;
- a trade already in its candle (same exchange and trade id) is counted once;
- an interval without trades gets a flat candle (open = high = low = close = previous close,
  volume 0, `filled`), at most `max_gap` in a row after a real candle.

It shares no code with `tradestream.market.candle_math`, `transforms/` or the signal helpers
of `tradestream.market.signal_messages`: only the protobuf message classes. Signals come from
`tests/support/vectorized_signals.py` (see there for what that shares).
"""

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
from tradestream.v1 import candle_pb2, signal_pb2, trade_pb2

REPO = Path(__file__).resolve().parents[2]


def _by_event_time(trade: trade_pb2.Trade) -> tuple:
    """Event time, then trade id; ids of ASCII digits by their number, before any other id."""
    tid = trade.trade_id
    numeric = tid.isascii() and tid.isdigit()
    return (trade.time_ms, (0, int(tid), tid) if numeric else (1, 0, tid))


def _real_candle(
    symbol: str, start_ms: int, interval_ms: int, trades: list[trade_pb2.Trade]
) -> candle_pb2.Candle:
    """The OHLCV candle of one interval's trades (each exchange/trade id counted once)."""
    seen: set[tuple[str, str]] = set()
    ordered = []
    for t in sorted(trades, key=_by_event_time):
        if (t.exchange, t.trade_id) not in seen:
            seen.add((t.exchange, t.trade_id))
            ordered.append(t)
    prices = [t.price for t in ordered]
    volume = 0.0
    notional = 0.0
    for t in ordered:  # in event-time order, as the pipeline adds trades that arrive in order
        volume += t.size
        notional += t.price * t.size
    return candle_pb2.Candle(
        symbol=symbol,
        start_ms=start_ms,
        interval_ms=interval_ms,
        open=prices[0],
        high=max(prices),
        low=min(prices),
        close=prices[-1],
        volume=volume,
        vwap=notional / volume if volume > 0 else prices[-1],
        trade_count=len(ordered),
    )


def _flat_candle(symbol: str, start_ms: int, interval_ms: int, close: float) -> candle_pb2.Candle:
    return candle_pb2.Candle(
        symbol=symbol,
        start_ms=start_ms,
        interval_ms=interval_ms,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=0.0,
        vwap=close,
        trade_count=0,
        filled=True,
    )


def reference_candles(
    trades: Iterable[trade_pb2.Trade], interval_ms: int, max_gap: int, trailing: bool = False
) -> dict[str, list[candle_pb2.Candle]]:
    """Candles per symbol in start order, computed directly from the documented rules (no Beam).

    Args:
        trades: on-time trades, in any order.
        interval_ms: candle length.
        max_gap: at most this many flat candles after a real one.
        trailing: also the `max_gap` flat candles after each symbol's last real candle (what a
            stream shows once the watermark has moved far past its last trade).

    Returns:
        {symbol: [Candle, ...]}.
    """
    buckets: dict[str, dict[int, list[trade_pb2.Trade]]] = defaultdict(lambda: defaultdict(list))
    for t in trades:
        buckets[t.symbol][t.time_ms // interval_ms * interval_ms].append(t)
    out: dict[str, list[candle_pb2.Candle]] = {}
    for symbol in sorted(buckets):
        series: list[candle_pb2.Candle] = []
        for start in sorted(buckets[symbol]):
            if series:
                series += _flats_after(series[-1], start, max_gap)
            series.append(_real_candle(symbol, start, interval_ms, buckets[symbol][start]))
        if trailing:
            series += _flats_after(series[-1], None, max_gap)
        out[symbol] = series
    return out


def _flats_after(last: candle_pb2.Candle, next_start: int | None, max_gap: int) -> list:
    """Flat candles from the interval after `last` up to `next_start` (None: no end), at most
    `max_gap` of them."""
    out = []
    start = last.start_ms + last.interval_ms
    while len(out) < max_gap and (next_start is None or start < next_start):
        out.append(_flat_candle(last.symbol, start, last.interval_ms, last.close))
        start += last.interval_ms
    return out


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
    """Every signal of `strategies` over each symbol's reference candles (vectorized)."""
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
            [sys.executable, "-m", "tradestream.pipelines.realtime", *args],
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

    def job_server_pid(self) -> int:
        """The pid of the Flink job server (a JVM in the pipeline's process group)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                group = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
                argv = (entry / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if group == self.proc.pid and b"flink-job-server" in argv:
                return int(entry.name)
        raise LookupError(f"no job server in the process group of {self.proc.pid}")

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


def _reader(bootstrap: str):
    """A consumer that reads assigned partitions and commits nothing."""
    from confluent_kafka import Consumer

    return Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "tests-reader", "enable.auto.commit": False}
    )


def _edges(consumer, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (first offset, offset after the last record) of every partition (asked
    again while a new topic's leaders settle)."""
    from tradestream.transforms.kafka_source import partition_edges

    partitions = sorted(consumer.list_topics(topic, timeout=30).topics[topic].partitions)
    return partition_edges(consumer, topic, partitions)


def read_topic(bootstrap: str, topic: str, decode) -> list:
    """Every record currently on the topic, each value decoded with `decode`."""
    from confluent_kafka import TopicPartition

    consumer = _reader(bootstrap)
    try:
        edges = _edges(consumer, topic)
        consumer.assign([TopicPartition(topic, p, begin) for p, (begin, _) in edges.items()])
        todo = {p: end for p, (begin, end) in edges.items() if begin < end}
        out = []
        deadline = time.monotonic() + 30
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read the topic {topic} to its end")
            for message in consumer.consume(1000, timeout=0.2):
                if message.error() is not None:
                    raise RuntimeError(f"reading {topic}: {message.error().str()}")
                out.append(decode(message.value()))
                if message.offset() + 1 >= todo.get(message.partition(), 0):
                    todo.pop(message.partition(), None)
        return out
    finally:
        consumer.close()


def read_signals(bootstrap: str, topic: str) -> list[signal_pb2.Signal]:
    """Every signal currently on the topic."""
    return read_topic(bootstrap, topic, signal_pb2.Signal.FromString)


def topic_size(bootstrap: str, topic: str) -> int:
    consumer = _reader(bootstrap)
    try:
        return sum(end - begin for begin, end in _edges(consumer, topic).values())
    finally:
        consumer.close()


def topic_flags(bootstrap: str, topics: dict[str, str]) -> list[str]:
    """The realtime job's broker and topic flags for `topics` (trades, signals, dlq)."""
    return [
        f"--bootstrap_servers={bootstrap}",
        f"--trades_topic={topics['trades']}",
        f"--signals_topic={topics['signals']}",
        f"--dlq_topic={topics['dlq']}",
    ]


def topic_counts(bootstrap: str, topics: dict[str, str]):
    """For `wait_for(state=...)`: how many signals and dead letters `topics` hold now."""

    def counts() -> str:
        signals = topic_size(bootstrap, topics["signals"])
        letters = topic_size(bootstrap, topics["dlq"])
        return f"{signals} signals and {letters} dead letters on the topics"

    return counts


def wait_for(
    predicate,
    timeout_s: float,
    interval_s: float = 1.0,
    what: str = "condition",
    log: Path | None = None,
    state=None,
):
    """Polls `predicate` until it is truthy; on timeout the error ends with `log`'s last lines.

    (CI keeps no files of a failed run: the process log has to travel in the message.)
    `state`, if given, is called at the timeout and says how far things got (e.g. how many
    signals and dead letters there are instead).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    message = f"timed out after {timeout_s:.0f}s waiting for {what}"
    if state is not None:
        message += f"; {state()}"
    if log is not None:
        lines = Path(log).read_text(errors="replace").splitlines() if Path(log).exists() else []
        message += f"\n--- last {min(len(lines), 60)} lines of {log} ---\n" + "\n".join(lines[-60:])
    raise TimeoutError(message)


def flink_env(tmp_path: Path, jvm_dir: Path) -> dict[str, str]:
    """The environment of a realtime run in a test: its own state dir, the shared JVM cache."""
    env = dict(os.environ)
    env.update(
        TRADESTREAM_STATE_DIR=str(tmp_path / "state"), TRADESTREAM_JVM_CACHE_DIR=str(jvm_dir)
    )
    return env


def realtime_signals(
    bootstrap: str,
    topics: dict[str, str],
    flags: Sequence[str],
    env: dict[str, str],
    log: Path,
    count: int,
) -> list[signal_pb2.Signal]:
    """Runs the realtime pipeline over `topics` (trades, signals, dlq) with `flags` until the
    signals topic holds `count` records, stops it, and returns what it wrote."""
    pipeline = RealtimeProcess(
        [
            f"--bootstrap_servers={bootstrap}",
            f"--trades_topic={topics['trades']}",
            f"--signals_topic={topics['signals']}",
            f"--dlq_topic={topics['dlq']}",
            "--checkpoint_interval=0",
            *flags,
        ],
        env,
        log,
    )
    try:
        wait_for(
            lambda: topic_size(bootstrap, topics["signals"]) >= count,
            timeout_s=300,
            what=f"{count} signals",
            log=log,
        )
    finally:
        pipeline.stop()
    return read_signals(bootstrap, topics["signals"])


def assert_signals_match_rows(got: list[signal_pb2.Signal], rows: dict[str, dict]) -> None:
    """Realtime signals equal, one for one, a backtest's signals.csv rows by signal_id:
    strategy, symbol, action and price."""
    assert len(got) == len(rows)
    assert {s.signal_id for s in got} == set(rows)
    actions = {signal_pb2.ACTION_BUY: "BUY", signal_pb2.ACTION_SELL: "SELL"}
    for sent in got:
        row = rows[sent.signal_id]
        assert sent.strategy.strategy_id == row["strategy"]
        assert actions[sent.action] == row["action"] and sent.symbol == row["symbol"]
        assert sent.price == float(row["price"])
