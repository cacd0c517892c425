"""Soak test of the local stack: a sustained trade rate for a bounded time, many symbols.

    .venv/bin/python bench/soak.py [--minutes 5] [--rate 3000] [--symbols 200] \\
        [--candle_interval 5s] [-- extra realtime flags]

Starts the local broker if needed and the real pipeline (`tradestream realtime` on the Flink
runner, embedded Flink, default: every library strategy) on fresh topics, then sends trades
stamped with the current time at a steady rate, spread over many symbols with random walks.
Every `--every` seconds it prints one row:

  - the trade rate achieved and the signals received in that interval;
  - trade-to-signal latency, p50/p99, for signals received in that interval (when the
    bench's consumer got a signal minus the end of its candle);
  - consumer lag: trades on the topic not yet committed by the pipeline's consumer group.
    Offsets are committed after each checkpoint (default every 10 s), so a lag of up to one
    checkpoint interval of trades is normal;
  - memory: resident set size of the pipeline's Python processes (the launcher and its SDK
    worker processes, together) and of its Java job server (embedded Flink, whose heap holds the keyed state).

At the end: totals, overall latency, and memory growth from the first quarter of the run to
the last; state per symbol is bounded (open candles, a bounded number of pending candles and
the evaluator's fixed-size windows), so memory must level off rather than grow with time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.realtime import RealtimeProcess  # noqa: E402
from tradestream.local import kafka as local_kafka  # noqa: E402
from tradestream.market.durations import parse_duration_ms  # noqa: E402
from tradestream.settings import get_settings  # noqa: E402
from tradestream.v1 import signal_pb2, trade_pb2  # noqa: E402

PARTITIONS = 3


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _descendants(pid: int) -> list[int]:
    """Child processes of `pid`, recursively (from /proc; no extra dependency)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _is_java(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"java" in f.read().split(b"\0")[0]
    except OSError:
        return False


def _java_pid(pid: int) -> int | None:
    return next((child for child in _descendants(pid) if _is_java(child)), None)


def _python_rss_mb(pid: int) -> float:
    """The launcher and its Python SDK worker processes, together."""
    return _rss_mb(pid) + sum(_rss_mb(c) for c in _descendants(pid) if not _is_java(c))


def _lag(bootstrap: str, topic: str, group: str) -> int | None:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = consumer.end_offsets(tps)
        total = 0
        for tp in tps:
            committed = consumer.committed(tp)
            total += ends[tp] - (committed or 0)
        return total
    except Exception:  # noqa: BLE001 - a sample may fail while the broker is busy
        return None
    finally:
        consumer.close()


class SignalClock:
    """Consumes the signals topic; latency samples per reporting interval."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap, self._topic = bootstrap, topic
        self._lock = threading.Lock()
        self._window: list[float] = []
        self.all: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            self._topic, bootstrap_servers=self._bootstrap, group_id=None,
            auto_offset_reset="earliest",
        )  # fmt: skip
        while not self._stop.is_set():
            for records in consumer.poll(timeout_ms=100).values():
                now_ms = time.time() * 1000
                with self._lock:
                    for r in records:
                        s = signal_pb2.Signal.FromString(r.value)
                        self._window.append(now_ms - (s.candle_start_ms + s.candle_interval_ms))
        consumer.close()

    def take(self) -> list[float]:
        with self._lock:
            out, self._window = self._window, []
        self.all.extend(out)
        return out

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the run")
    parser.add_argument("--rate", type=int, default=3000, help="trades per second sent")
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--candle_interval", default="5s")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between rows")
    parser.add_argument("pipeline_args", nargs="*", help="extra realtime flags, after --")
    args = parser.parse_args()
    interval_ms = parse_duration_ms(args.candle_interval)
    settings = get_settings()
    local_kafka.up(settings)
    run = uuid.uuid4().hex[:6]
    topics = {k: f"soak-{k}-{run}" for k in ("trades", "signals", "dlq")}
    local_kafka.ensure_topics(settings.bootstrap, list(topics.values()), PARTITIONS)
    group = f"soak-{run}"
    log = settings.state_dir / "logs" / "bench-soak.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    pipeline = RealtimeProcess(
        [
            f"--bootstrap_servers={settings.bootstrap}",
            f"--trades_topic={topics['trades']}",
            f"--signals_topic={topics['signals']}",
            f"--dlq_topic={topics['dlq']}",
            f"--consumer_group={group}",
            f"--candle_interval={args.candle_interval}",
            f"--checkpoint_dir={settings.state_dir / 'checkpoints' / group}",
            "--fresh_start",
            *args.pipeline_args,
        ],
        dict(os.environ),
        log,
    )
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap, acks=1, linger_ms=5, batch_size=512 * 1024
    )
    clock = SignalClock(settings.bootstrap, topics["signals"])
    clock.start()
    rng = random.Random(11)
    symbols = [f"S{i:03d}-USD" for i in range(args.symbols)]
    price = {s: 50.0 + rng.random() * 100 for s in symbols}
    rows: list[dict] = []
    try:
        # Warm-up: a trickle until the job is up (signals flowing), not measured.
        print(f"[soak] starting the pipeline (log: {log}) ...", flush=True)
        started = time.monotonic()
        sent = 0
        while not clock.all and not clock.take():
            if not pipeline.alive():
                raise RuntimeError(f"the pipeline exited; see {log}")
            if time.monotonic() - started > 300:
                raise TimeoutError(f"no signal within 300 s; see {log}")
            for sym in symbols:
                price[sym] *= 1 + rng.gauss(0, 0.004)
                tr = trade_pb2.Trade(
                    exchange="soak", symbol=sym, trade_id=f"w{sent}", price=price[sym],
                    size=1.0, time_ms=int(time.time() * 1000),
                )  # fmt: skip
                producer.send(topics["trades"], key=sym.encode(), value=tr.SerializeToString())
                sent += 1
            time.sleep(0.2)
        clock.take()
        print(f"[soak] job up after {time.monotonic() - started:.0f} s; "
              f"{args.rate:,} trades/s over {args.symbols} symbols for {args.minutes:g} min, "
              f"{args.candle_interval} candles", flush=True)  # fmt: skip
        java = _java_pid(pipeline.proc.pid)
        header = (
            f"{'t (s)':>6} {'trades/s':>9} {'signals':>8} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'lag':>8} {'py MB':>7} {'jvm MB':>7}"
        )
        print(header, flush=True)
        t0 = time.monotonic()
        next_row = t0 + args.every
        window_sent, window_t = 0, t0
        while time.monotonic() - t0 < args.minutes * 60:
            due = window_t + window_sent / args.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sym = symbols[rng.randrange(len(symbols))]
            price[sym] *= 1 + rng.gauss(0, 0.002)
            tr = trade_pb2.Trade(
                exchange="soak", symbol=sym, trade_id=str(sent), price=price[sym],
                size=round(rng.random() * 2 + 0.01, 4), time_ms=int(time.time() * 1000),
            )  # fmt: skip
            producer.send(topics["trades"], key=sym.encode(), value=tr.SerializeToString())
            sent += 1
            window_sent += 1
            now = time.monotonic()
            if now >= next_row:
                latencies = clock.take()
                row = {
                    "t": now - t0,
                    "rate": window_sent / (now - window_t),
                    "signals": len(latencies),
                    "p50": _pct(latencies, 0.5),
                    "p99": _pct(latencies, 0.99),
                    "latencies": latencies,
                    "lag": _lag(settings.bootstrap, topics["trades"], group),
                    "py_mb": _python_rss_mb(pipeline.proc.pid),
                    "jvm_mb": _rss_mb(java) if java else float("nan"),
                }
                rows.append(row)
                lag = "?" if row["lag"] is None else f"{row['lag']:,}"
                print(f"{row['t']:>6.0f} {row['rate']:>9,.0f} {row['signals']:>8,} "
                      f"{row['p50']:>7,.0f} {row['p99']:>7,.0f} {lag:>8} "
                      f"{row['py_mb']:>7,.0f} {row['jvm_mb']:>7,.0f}", flush=True)  # fmt: skip
                next_row += args.every
                window_sent, window_t = 0, now
                if not pipeline.alive():
                    raise RuntimeError(f"the pipeline exited; see {log}")
        producer.flush()
        time.sleep(max(5.0, 3 * interval_ms / 1000))
        clock.take()
    finally:
        clock.stop()
        pipeline.stop()
        producer.close()
    if len(rows) < 4:
        print("[soak] run too short for a summary")
        return 0
    quarter = max(1, len(rows) // 4)
    first = statistics.mean(r["py_mb"] for r in rows[:quarter])
    last = statistics.mean(r["py_mb"] for r in rows[-quarter:])
    jfirst = statistics.mean(r["jvm_mb"] for r in rows[:quarter])
    jlast = statistics.mean(r["jvm_mb"] for r in rows[-quarter:])
    print("\nsoak summary (this machine, embedded Flink):")
    print(f"  trades sent    : {sent:,} at {statistics.mean(r['rate'] for r in rows):,.0f}/s "
          f"over {args.symbols} symbols, {args.minutes:g} min")  # fmt: skip
    print(f"  signals        : {len(clock.all):,}; latency p50 {_pct(clock.all, 0.5):,.0f} ms, "
          f"p99 {_pct(clock.all, 0.99):,.0f} ms, max {max(clock.all, default=0):,.0f} ms")  # fmt: skip
    # The first row also holds the signals of the warm-up trickle, caught up after start-up.
    steady = [x for r in rows[1:] for x in r["latencies"]]
    print(f"  after row 1    : {len(steady):,} signals; latency p50 {_pct(steady, 0.5):,.0f} ms, "
          f"p99 {_pct(steady, 0.99):,.0f} ms, max {max(steady, default=0):,.0f} ms")  # fmt: skip
    lags = [r["lag"] for r in rows if r["lag"] is not None]
    if lags:
        print(f"  consumer lag   : max {max(lags):,} trades, last {lags[-1]:,} "
              f"(commits follow checkpoints)")  # fmt: skip
    print(f"  python RSS     : {first:,.0f} MB (first quarter) -> {last:,.0f} MB (last), "
          f"ratio {last / first:.2f}")  # fmt: skip
    print(f"  job server RSS : {jfirst:,.0f} MB -> {jlast:,.0f} MB, ratio {jlast / jfirst:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
