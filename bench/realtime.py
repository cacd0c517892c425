"""Realtime pipeline benchmark: sustained throughput and trade-to-signal latency, one run.

    .venv/bin/python bench/realtime.py [--trades 600000] [--symbols 20] [--rate 2000]

Uses the local broker (`tradestream local up`) and the real pipeline (`tradestream realtime`
on the Flink runner, embedded Flink) in a subprocess, as a user runs it.

1. Throughput: N trades for S symbols are loaded into a fresh topic between two markers
   (malformed records, one per partition, which the pipeline dead-letters at once). The
   rate is N / (time the end markers reached the dead-letter topic - time the start
   markers did): reading, parsing, candles, strategies, signals, with Flink back-pressure,
   excluding job start-up (printed separately).
2. Latency: trades stamped with the current time are sent at a steady rate (default
   2,000/s, about peak all-products Coinbase) for 1-second candles and a fast SMA crossover.
   Latency of a signal = when the bench's consumer received it - the end of its candle
   (the moment the candle could first be closed). Reported as p50/p99, and split at the
   signal's `emitted_ms` (the keyed step's part against the sink's and the consumer's). The
   slowest signals are named with when they came (a start-up transient, a periodic stall or
   spread evenly); `--samples FILE` writes every signal's latency as CSV.

Then the CPU each process used while the throughput run read (bench/procs.py) and issue 22's
targets (>= 40,000 trades/s; p99 <= 300 ms) with the ratios. `--latency_only` and
`--throughput_only` run one half.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import FastProducer, reader_from_start, values  # noqa: E402
from bench.procs import (  # noqa: E402
    cpu_now,
    cpu_table,
    pipeline_processes,
    stop_cleanly_on_sigterm,
)
from bench.soak import percentile  # noqa: E402
from tests.support.realtime import RealtimeProcess, topic_size, wait_for  # noqa: E402
from tradestream.local import kafka as local_kafka  # noqa: E402
from tradestream.market.sample_day import sample_trades  # noqa: E402
from tradestream.settings import get_settings  # noqa: E402
from tradestream.v1 import signal_pb2, trade_pb2  # noqa: E402

PARTITIONS = 3
# The benchmark jobs' checkpoints, removed at exit.
_SCRATCH = Path(tempfile.mkdtemp(prefix="tradestream-bench-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)


def _producer(bootstrap):
    return FastProducer(bootstrap)  # the generator shares the cores: see bench/load.py


def _markers(producer, topic: str, label: bytes) -> None:
    for p in range(PARTITIONS):
        producer.send(topic, key=b"marker", value=b"marker-" + label, partition=p)
    producer.flush()


def _dlq_markers(bootstrap: str, topic: str, label: bytes, expected: int, timeout_s: float):
    """Waits until `expected` markers with this label are on the dead-letter topic."""
    from tradestream.v1 import trade_pb2 as tp

    consumer = reader_from_start(bootstrap, topic)
    seen = 0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"markers {label!r} did not reach {topic}")
            for value in values(consumer, 0.1):
                if tp.DeadLetter.FromString(value).payload == b"marker-" + label:
                    seen += 1
        return time.monotonic()
    finally:
        consumer.close()


def _topics(settings, run: str) -> dict[str, str]:
    names = {k: f"bench-{k}-{run}" for k in ("trades", "signals", "dlq")}
    local_kafka.ensure_topics(settings.bootstrap, list(names.values()), PARTITIONS)
    return names


def _pipeline(settings, topics, extra, log: Path) -> RealtimeProcess:
    """The pipeline as a user runs it (checkpoints every 10 s), on a fresh consumer group."""
    env = dict(os.environ)
    group = f"bench-{uuid.uuid4().hex[:6]}"
    return RealtimeProcess(
        [
            f"--bootstrap_servers={settings.bootstrap}",
            f"--trades_topic={topics['trades']}",
            f"--signals_topic={topics['signals']}",
            f"--dlq_topic={topics['dlq']}",
            f"--consumer_group={group}",
            f"--checkpoint_dir={_SCRATCH / group}",
            *extra,
        ],
        env,
        log,
    )


def throughput(settings, n_trades: int, n_symbols: int, log_dir: Path, extra: list[str]) -> dict:
    topics = _topics(settings, uuid.uuid4().hex[:6])
    symbols = {f"S{i:02d}-USD": 100.0 + i for i in range(n_symbols)}
    hours = n_trades / (n_symbols * 3600.0)  # one trade per second per symbol
    trades = list(sample_trades(hours=hours, seed=3, symbols=symbols))
    producer = _producer(settings.bootstrap)
    _markers(producer, topics["trades"], b"start")
    t = time.monotonic()
    for tr in trades:
        producer.send(topics["trades"], key=tr.symbol.encode(), value=tr.SerializeToString())
    producer.flush()
    load_rate = len(trades) / (time.monotonic() - t)
    _markers(producer, topics["trades"], b"end")
    producer.close()
    launched = time.monotonic()
    pipeline = _pipeline(
        settings,
        topics,
        ["--strategy=SMA_CROSSOVER", "--strategy=EMA_MACD", "--strategy=SMA_RSI",
         "--strategy=BBAND_W_R", "--strategy=DONCHIAN_BREAKOUT", "--strategy=RSI_OVERBOUGHT_OVERSOLD",
         *extra],
        log_dir / "bench-throughput.log",
    )  # fmt: skip
    broker = local_kafka.running_broker(settings)
    try:
        t_start = _dlq_markers(settings.bootstrap, topics["dlq"], b"start", PARTITIONS, 300)
        processes = pipeline_processes(pipeline.proc.pid, broker.pid if broker else None)
        cpu_start = cpu_now(processes)
        t_end = _dlq_markers(settings.bootstrap, topics["dlq"], b"end", PARTITIONS, 1800)
        cpu_end, t_read = cpu_now(processes), t_end
        # Everything is read; the end is when the last signals have been written.
        count, grew_at = -1, t_end
        while time.monotonic() - grew_at < 5:
            now = topic_size(settings.bootstrap, topics["signals"])
            if now != count:
                count, grew_at = now, time.monotonic()
            time.sleep(0.2)
        t_end = max(t_end, grew_at)
    finally:
        pipeline.stop()
    return {
        "trades": len(trades),
        "symbols": n_symbols,
        "startup_s": t_start - launched,
        "seconds": t_end - t_start,
        "trades_per_s": len(trades) / (t_end - t_start),
        "producer_load_per_s": load_rate,
        "signals": topic_size(settings.bootstrap, topics["signals"]),
        "cpu": cpu_table(processes, cpu_start, cpu_end, t_read - t_start),
    }


def latency(
    settings, rate: int, seconds: float, n_symbols: int, log_dir: Path, extra: list[str]
) -> dict:
    topics = _topics(settings, uuid.uuid4().hex[:6])
    producer = _producer(settings.bootstrap)
    pipeline = _pipeline(
        settings,
        topics,
        [
            "--candle_interval=1s",
            "--strategy=SMA_CROSSOVER",
            "--param=fast=2",
            "--param=slow=3",
            *extra,
        ],  # fmt: skip
        log_dir / "bench-latency.log",
    )
    samples: list[float] = []
    received_at: list[float] = []  # seconds since the bench started sending, per sample
    # Where the time goes: candle end -> emitted (the watermark reaching the keyed step, the
    # evaluation) and emitted -> received (the sink's flush, the broker, this consumer).
    parts: list[tuple[float, float]] = []
    stop = threading.Event()
    started = [time.monotonic()]

    def consume() -> None:
        consumer = reader_from_start(settings.bootstrap, topics["signals"])
        while not stop.is_set():
            received = values(consumer, 0.05)
            now_ms = time.time() * 1000
            for value in received:
                s = signal_pb2.Signal.FromString(value)
                end_ms = s.candle_start_ms + s.candle_interval_ms
                samples.append(now_ms - end_ms)
                received_at.append(time.monotonic() - started[0])
                parts.append((s.emitted_ms - end_ms, now_ms - s.emitted_ms))
        consumer.close()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    try:
        _markers(producer, topics["trades"], b"ready")
        _dlq_markers(settings.bootstrap, topics["dlq"], b"ready", PARTITIONS, 300)
        symbols = [f"L{i:02d}-USD" for i in range(n_symbols)]
        price = dict.fromkeys(symbols, 100.0)
        sent = 0
        t0 = started[0] = time.monotonic()
        import random

        rng = random.Random(1)
        while time.monotonic() - t0 < seconds:
            due = t0 + sent / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sym = symbols[sent % n_symbols]
            price[sym] *= 1 + rng.gauss(0, 0.002)
            tr = trade_pb2.Trade(
                exchange="bench", symbol=sym, trade_id=str(sent), price=price[sym],
                size=1.0, time_ms=int(time.time() * 1000),
            )  # fmt: skip
            producer.send(topics["trades"], key=sym.encode(), value=tr.SerializeToString())
            sent += 1
        producer.flush()
        achieved = sent / (time.monotonic() - t0)
        time.sleep(5)
    finally:
        stop.set()
        pipeline.stop()
        producer.close()
    warm = sorted(samples[len(samples) // 10 :])  # drop the first 10% (warm-up)
    if not warm:
        raise RuntimeError("no signals received; see bench-latency.log")
    # Each signal as (received at s, latency ms, to emitted ms). The slowest, with when they
    # came: a start-up transient, a periodic stall (a checkpoint, a commit) or spread evenly
    # tell different stories.
    series = list(zip(received_at, samples, (a for a, _ in parts), strict=True))
    slow = sorted(sorted(series[len(series) // 10 :], key=lambda row: row[1])[-8:])
    to_emit = [a for a, _ in parts[len(parts) // 10 :]]
    to_receive = [b for _, b in parts[len(parts) // 10 :]]
    return {
        "emit_p50_ms": statistics.median(to_emit),
        "emit_p99_ms": percentile(to_emit, 0.99),
        "receive_p50_ms": statistics.median(to_receive),
        "receive_p99_ms": percentile(to_receive, 0.99),
        "rate_target": rate,
        "rate_achieved": achieved,
        "signals": len(samples),
        "p50_ms": statistics.median(warm),
        "p90_ms": percentile(warm, 0.9),
        "p99_ms": percentile(warm, 0.99),
        "max_ms": warm[-1],
        "slowest": slow,
        "series": series,
    }


def main() -> int:
    stop_cleanly_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=600_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--latency_only", action="store_true")
    parser.add_argument("--throughput_only", action="store_true")
    parser.add_argument(
        "--samples", type=Path, help="write each signal's (received s, latency ms, to emitted ms)"
    )
    parser.add_argument("pipeline_args", nargs="*", help="extra realtime flags, after --")
    args = parser.parse_args()
    settings = get_settings()
    local_kafka.up(settings)
    log_dir = settings.state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    wait_for(lambda: True, 1)
    lt = tp = None
    if not args.throughput_only:
        lt = latency(settings, args.rate, args.seconds, 10, log_dir, args.pipeline_args)
        if args.samples:
            args.samples.write_text(
                "received_s,latency_ms,emitted_ms\n"
                + "".join(f"{a:.3f},{b:.0f},{c:.0f}\n" for a, b, c in lt["series"])
            )
    if not args.latency_only:
        tp = throughput(settings, args.trades, args.symbols, log_dir, args.pipeline_args)
    print(f"\nrealtime pipeline on Flink (embedded), this machine, {time.strftime('%Y-%m-%d')}:")
    if tp is not None:
        print(f"  throughput : {tp['trades_per_s']:>10,.0f} trades/s   ({tp['trades']:,} trades, "
              f"{tp['symbols']} symbols, 6 strategies, {tp['seconds']:.1f} s; job start-up "
              f"{tp['startup_s']:.1f} s; {tp['signals']} signals)")  # fmt: skip
        print(f"  producer   : {tp['producer_load_per_s']:>10,.0f} trades/s   (loading, before "
              f"the job starts)")  # fmt: skip
        print("  CPU while reading (start marker to end marker):")
        print("\n".join(tp["cpu"]))
    if lt is not None:
        print(f"  latency    : p50 {lt['p50_ms']:,.0f} ms, p90 {lt['p90_ms']:,.0f} ms, "
              f"p99 {lt['p99_ms']:,.0f} ms, max "
              f"{lt['max_ms']:,.0f} ms at {lt['rate_achieved']:,.0f} trades/s "
              f"({lt['signals']} signals, 1 s candles)")  # fmt: skip
        print(f"    of which : candle end -> emitted p50 {lt['emit_p50_ms']:,.0f} ms, p99 "
              f"{lt['emit_p99_ms']:,.0f} ms; emitted -> received p50 "
              f"{lt['receive_p50_ms']:,.0f} ms, p99 {lt['receive_p99_ms']:,.0f} ms")  # fmt: skip
        print("    slowest  : " + "; ".join(
            f"{ms:,.0f} ms at {at:.0f} s (emitted after {emit:,.0f})"
            for at, ms, emit in lt["slowest"]))  # fmt: skip
    print(f"  {'target':<44}{'measured':>12}{'target':>10}{'ratio':>8}")
    if tp is not None:
        rate = tp["trades_per_s"]
        print(f"  {'sustained throughput, trades/s':<44}{rate:>12,.0f}{'>= 40,000':>10}"
              f"{rate / 40000:>8.2f}")  # fmt: skip
    if lt is not None:
        p99 = lt["p99_ms"]
        print(f"  {'p99 candle end -> signal, ms (2,000/s)':<44}{p99:>12,.0f}{'<= 300':>10}"
              f"{300 / p99:>8.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
