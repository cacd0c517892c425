"""Soak test of the local stack: a sustained trade rate for a bounded time, many symbols.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 3000] [--symbols 500] \\
        [--candle_interval 1m] [--warmup_candles 80] [-- extra realtime flags]

The defaults are issue 22's first target: 500 symbols, every library strategy, 1-minute
candles, 3,000 trades/s for 10 minutes; steady-state candle end -> signal p99 under 1 s,
the job never further behind than one checkpoint interval, memory flat after warm-up.
Before the measured part, `--warmup_candles` candles of past trades per symbol are sent
(event times in the past, so the job catches up through them at once) so that the
strategies are warm and signal during the run; their signals are not measured.

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
Then the CPU each process used in the measured part (the generator shares the two cores
with the pipeline: its share is printed, not hidden), every process's RSS, and the targets
with their ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import FastProducer, reader_from_start, records  # noqa: E402
from bench.procs import (  # noqa: E402
    cpu_now,
    cpu_table,
    descendants,
    is_java,
    pipeline_processes,
    rss_mb,
    stop_cleanly_on_sigterm,
)
from tests.support.realtime import RealtimeProcess  # noqa: E402
from tradestream.local import kafka as local_kafka  # noqa: E402
from tradestream.market.durations import parse_duration_ms  # noqa: E402
from tradestream.settings import get_settings  # noqa: E402
from tradestream.v1 import signal_pb2, trade_pb2  # noqa: E402

PARTITIONS = 3


def _java_pid(pid: int) -> int | None:
    return next((child for child in descendants(pid) if is_java(child)), None)


def _old_gen_mb(pid: int | None) -> float:
    """The job server's old generation in use (jstat's OU): what survives collections. Its
    RSS also grows while G1 commits more of the heap (up to -Xmx) without any leak."""
    jstat = shutil.which("jstat")
    if pid is None or jstat is None:
        return float("nan")
    try:
        out = subprocess.run([jstat, "-gc", str(pid)], capture_output=True, text=True, timeout=10)
        names, values = out.stdout.split("\n")[:2]
        return float(dict(zip(names.split(), values.split(), strict=True))["OU"]) / 1024
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return float("nan")


def _live_old_gen_mb(pid: int | None) -> float:
    """The old generation in use right after a full collection (`jcmd PID GC.run`): the job
    server's live data. The collection pauses the job server once (its rows show it)."""
    jcmd = shutil.which("jcmd")
    if pid is None or jcmd is None:
        return float("nan")
    try:
        subprocess.run([jcmd, str(pid), "GC.run"], capture_output=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return float("nan")
    return _old_gen_mb(pid)


def _python_rss_mb(pid: int) -> float:
    """The launcher and its Python SDK worker processes, together."""
    return rss_mb(pid) + sum(rss_mb(c) for c in descendants(pid) if not is_java(c))


def _lag(bootstrap: str, topic: str, group: str) -> int | None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        total = 0
        for tp in consumer.committed(tps, timeout=5):
            _, end = consumer.get_watermark_offsets(tp, timeout=5)
            total += end - max(tp.offset, 0)  # OFFSET_INVALID: nothing committed yet
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
        # Signals of candles that ended before this (epoch ms) are not measured: the
        # warm-up's, whose trades were sent with past event times.
        self.since_ms = 0.0
        self.unmeasured = 0
        # Measured signals' (candle end -> emitted, emitted -> written, written -> received),
        # ms: the keyed step (watermark, timers, evaluation), then the worker up to the sink's
        # produce() (the record's CreateTime), then librdkafka, the broker and this consumer.
        self.parts: list[tuple[float, float, float]] = []

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        consumer = reader_from_start(self._bootstrap, self._topic)
        while not self._stop.is_set():
            received = records(consumer, 0.1)
            now_ms = time.time() * 1000
            with self._lock:
                for value, written_ms in received:
                    s = signal_pb2.Signal.FromString(value)
                    end_ms = s.candle_start_ms + s.candle_interval_ms
                    if end_ms < self.since_ms:
                        self.unmeasured += 1
                    else:
                        self._window.append(now_ms - end_ms)
                        self.parts.append(
                            (s.emitted_ms - end_ms, written_ms - s.emitted_ms, now_ms - written_ms)
                        )
        consumer.close()

    def take(self) -> list[float]:
        with self._lock:
            out, self._window = self._window, []
        self.all.extend(out)
        return out

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def percentile(samples: list[float], q: float) -> float:
    """The q-quantile of the samples (the sample at that rank; NaN without samples)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main() -> int:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    parser.add_argument("--rate", type=int, default=3000, help="trades per second sent")
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--candle_interval", default="1m")
    parser.add_argument(
        "--warmup_candles", type=int, default=80,
        help="candles of past trades per symbol sent first (not measured), so that the "
        "strategies signal during the run; 80 warms every library type but the three "
        "multi-timeframe ones",
    )  # fmt: skip
    parser.add_argument("--every", type=float, default=15.0, help="seconds between rows")
    parser.add_argument("--checkpoint_s", type=float, default=10.0, help=argparse.SUPPRESS)
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
    producer = FastProducer(settings.bootstrap)  # the generator shares the cores: bench/load.py
    clock = SignalClock(settings.bootstrap, topics["signals"])
    clock.start()
    rng = random.Random(11)
    symbols = [f"S{i:03d}-USD" for i in range(args.symbols)]
    price = {s: 50.0 + rng.random() * 100 for s in symbols}
    rows: list[dict] = []
    try:
        # Warm-up, not measured: past candles of trades per symbol (the job catches up
        # through them as soon as it runs), then a trickle of current trades until the
        # first signal is received.
        print(f"[soak] starting the pipeline (log: {log}); sending {args.warmup_candles} "
              f"candles of past trades per symbol ...", flush=True)  # fmt: skip
        started = time.monotonic()
        sent = 0
        first_ms = (int(time.time() * 1000) // interval_ms - args.warmup_candles) * interval_ms
        for k in range(args.warmup_candles):
            for half in (0.25, 0.75):
                at = first_ms + int((k + half) * interval_ms)
                for sym in symbols:
                    price[sym] *= 1 + rng.gauss(0, 0.004)
                    tr = trade_pb2.Trade(
                        exchange="soak", symbol=sym, trade_id=f"b{sent}", price=price[sym],
                        size=1.0, time_ms=at,
                    )  # fmt: skip
                    producer.send(topics["trades"], key=sym.encode(), value=tr.SerializeToString())
                    sent += 1
        producer.flush()
        while not clock.all and not clock.take() and not clock.unmeasured:
            if not pipeline.alive():
                raise RuntimeError(f"the pipeline exited; see {log}")
            if time.monotonic() - started > 600:
                raise TimeoutError(f"no signal within 600 s; see {log}")
            for sym in symbols:
                price[sym] *= 1 + rng.gauss(0, 0.004)
                tr = trade_pb2.Trade(
                    exchange="soak", symbol=sym, trade_id=f"w{sent}", price=price[sym],
                    size=1.0, time_ms=int(time.time() * 1000),
                )  # fmt: skip
                producer.send(topics["trades"], key=sym.encode(), value=tr.SerializeToString())
                sent += 1
            time.sleep(0.2)
        clock.since_ms = (time.time() * 1000 // interval_ms + 1) * interval_ms
        clock.take()
        print(f"[soak] job up after {time.monotonic() - started:.0f} s; "
              f"{args.rate:,} trades/s over {args.symbols} symbols for {args.minutes:g} min, "
              f"{args.candle_interval} candles", flush=True)  # fmt: skip
        java = _java_pid(pipeline.proc.pid)
        broker = local_kafka.running_broker(settings)
        processes = pipeline_processes(pipeline.proc.pid, broker.pid if broker else None)
        # Rows before this (s) hold the warm-up's catch-up and the first candles: not steady.
        settle_s = max(args.every, 2 * interval_ms / 1000)
        cpu_steady = cpu_end = None
        live_first = live_last = float("nan")

        def caught_up(row) -> bool:
            """Steady from here: after settle_s, and the job has caught up with the warm-up
            (its lag within two checkpoint intervals of trades: one is the commit cadence)."""
            lag_ok = row["lag"] is not None and row["lag"] <= 2 * args.checkpoint_s * args.rate
            return row["t"] >= settle_s and lag_ok

        header = (
            f"{'t (s)':>6} {'trades/s':>9} {'signals':>8} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'lag':>8} {'py MB':>7} {'jvm MB':>7} {'old MB':>7}"
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
                    "p50": percentile(latencies, 0.5),
                    "p99": percentile(latencies, 0.99),
                    "latencies": latencies,
                    "lag": _lag(settings.bootstrap, topics["trades"], group),
                    "py_mb": _python_rss_mb(pipeline.proc.pid),
                    "jvm_mb": rss_mb(java) if java else float("nan"),
                    "old_mb": _old_gen_mb(java),
                }
                rows.append(row)
                if cpu_steady is None and caught_up(row):
                    live_first = _live_old_gen_mb(java)
                    cpu_steady, steady_t, steady_from = cpu_now(processes), now, row["t"]
                    parts_from = len(clock.parts)
                lag = "?" if row["lag"] is None else f"{row['lag']:,}"
                print(f"{row['t']:>6.0f} {row['rate']:>9,.0f} {row['signals']:>8,} "
                      f"{row['p50']:>7,.0f} {row['p99']:>7,.0f} {lag:>8} "
                      f"{row['py_mb']:>7,.0f} {row['jvm_mb']:>7,.0f} {row['old_mb']:>7,.0f}",
                      flush=True)  # fmt: skip
                next_row += args.every
                window_sent, window_t = 0, now
                if not pipeline.alive():
                    raise RuntimeError(f"the pipeline exited; see {log}")
        cpu_end, end_t = cpu_now(processes), time.monotonic()
        live_last = _live_old_gen_mb(java)
        parts_to = len(clock.parts)
        producer.flush()
        time.sleep(max(5.0, interval_ms / 1000 + 10))  # the last candles close
        clock.take()
    finally:
        clock.stop()
        pipeline.stop()
        producer.close()
    if cpu_steady is None:
        print(f"\n[soak] the job never caught up with the {args.warmup_candles} warm-up "
              f"candles: no steady state to report (see the rows above)")  # fmt: skip
        return 1
    settle_s = steady_from
    steady_rows = [r for r in rows if r["t"] > settle_s]
    if len(steady_rows) < 4:
        print("[soak] run too short for a summary")
        return 0
    quarter = max(1, len(steady_rows) // 4)
    first = statistics.mean(r["py_mb"] for r in steady_rows[:quarter])
    last = statistics.mean(r["py_mb"] for r in steady_rows[-quarter:])
    jfirst = statistics.mean(r["jvm_mb"] for r in steady_rows[:quarter])
    jlast = statistics.mean(r["jvm_mb"] for r in steady_rows[-quarter:])
    chosen = any(a.startswith(("--strategy", "--strategies")) for a in args.pipeline_args)
    n_types = "the strategies given" if chosen else "realtime's default strategies"
    print(f"\nsoak summary ({time.strftime('%Y-%m-%d')}, this machine: {os.cpu_count()} cores, "
          f"embedded Flink, {n_types}):")  # fmt: skip
    print(f"  trades sent    : {sent:,} at {statistics.mean(r['rate'] for r in rows):,.0f}/s "
          f"over {args.symbols} symbols, {args.minutes:g} min, {args.candle_interval} candles "
          f"(+ {args.warmup_candles} warm-up candles; {clock.unmeasured:,} warm-up signals "
          f"not measured)")  # fmt: skip
    steady = [x for r in steady_rows for x in r["latencies"]]
    p99 = percentile(steady, 0.99)
    print(f"  steady state   : from {settle_s:.0f} s (caught up with the warm-up), "
          f"{len(steady):,} signals; latency p50 "
          f"{percentile(steady, 0.5):,.0f} ms, p99 {p99:,.0f} ms, max "
          f"{max(steady, default=0):,.0f} ms")  # fmt: skip
    parts = clock.parts[parts_from:parts_to]
    if parts:
        legs = ("candle end -> emitted", "emitted -> written", "written -> received")
        for i, leg in enumerate(legs):
            part = [row[i] for row in parts]
            print(f"    {'of which' if i == 0 else '':<13}: {leg:<22} p50 "
                  f"{percentile(part, 0.5):>6,.0f} ms, p99 {percentile(part, 0.99):>6,.0f} ms")  # fmt: skip
    lags = [r["lag"] for r in steady_rows if r["lag"] is not None]
    lag_s = max(lags, default=0) / args.rate
    if lags:
        print(f"  consumer lag   : max {max(lags):,} trades ({lag_s:.1f} s of trades), last "
              f"{lags[-1]:,}; offsets are committed after each checkpoint, so up to one "
              f"checkpoint interval ({args.checkpoint_s:g} s) of it is the commit cadence")  # fmt: skip
    print(f"  python RSS     : {first:,.0f} MB (first quarter) -> {last:,.0f} MB (last), "
          f"ratio {last / first:.2f}")  # fmt: skip
    print(f"  job server RSS : {jfirst:,.0f} MB -> {jlast:,.0f} MB, ratio {jlast / jfirst:.2f}")
    ofirst = statistics.mean(r["old_mb"] for r in steady_rows[:quarter])
    olast = statistics.mean(r["old_mb"] for r in steady_rows[-quarter:])
    print(f"  job server heap: old generation in use {ofirst:,.0f} MB -> {olast:,.0f} MB "
          f"(jstat OU; what survives collections)")  # fmt: skip
    print(f"  job server live: {live_first:,.0f} MB after a full collection when steady -> "
          f"{live_last:,.0f} MB at the end (jcmd GC.run), ratio {live_last / live_first:.2f}")  # fmt: skip
    print("  CPU in the steady state (the generator shares the cores):")
    print("\n".join(cpu_table(processes, cpu_steady, cpu_end, end_t - steady_t)))
    # Behind = lag beyond what the commit cadence alone explains.
    behind_s = max(0.0, lag_s - args.checkpoint_s)
    growth = max(last / first, jlast / jfirst)
    print(f"  {'target':<48}{'measured':>10}{'target':>10}{'ratio':>8}")
    print(f"  {'steady p99 candle end -> signal, ms':<48}{p99:>10,.0f}{'< 1,000':>10}"
          f"{1000 / p99:>8.2f}")  # fmt: skip
    print(f"  {'behind beyond the commit cadence, s':<48}{behind_s:>10.1f}"
          f"{f'<= {args.checkpoint_s:g}':>10}{'yes' if behind_s <= args.checkpoint_s else 'no':>8}")  # fmt: skip
    print(f"  {'memory growth, last / first quarter':<48}{growth:>10.2f}{'flat':>10}"
          f"{'yes' if growth <= 1.10 else 'no':>8}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
