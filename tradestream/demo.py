"""`tradestream demo`: the whole realtime path on this machine, in one command.

1. starts the local Kafka broker (unless it is already running) with its topics;
2. starts the realtime pipeline on the Flink runner (embedded Flink, in-process Python
   workers) reading `trades` from where this demo's replay begins;
3. replays the bundled sample (a generated, deterministic day of BTC-USD, ETH-USD and
   SOL-USD trades) into `trades`;
4. prints each signal from `signals` as it arrives (time, symbol, action, price, strategy);
5. when the replay has been processed (no new signal for a while) or on Ctrl-C, stops the
   pipeline, and Kafka if the demo started it, and prints a summary.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from tradestream.cli_types import hidden_alias, positive_float, speed_factor
from tradestream.kafka_clients.config import consumer_config, env_client_config
from tradestream.kafka_clients.positions import commit_offsets, read_topic_state
from tradestream.local import kafka as local_kafka
from tradestream.settings import get_settings
from tradestream.signals_tail import HEADER, format_row

DEMO_STRATEGIES = [
    ("SMA_CROSSOVER", {"fast": 10, "slow": 30}),
    ("EMA_MACD", {}),
    ("SMA_RSI", {}),
    ("BBAND_W_R", {}),
    ("DONCHIAN_BREAKOUT", {}),
    ("RSI_OVERBOUGHT_OVERSOLD", {}),
]
GROUP = "tradestream-demo"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the realtime pipeline on local Kafka + embedded Flink over the sample day",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--hours", type=positive_float, default=24.0, help="hours of sample trades (24)")
    p.add_argument(
        "--speed",
        type=speed_factor,
        default=None,
        help="replay speed: a factor (600 = 10 minutes of trades per second) or max (default)",
    )
    p.add_argument(
        "--all_strategies",
        action="store_true",
        help=f"run every library strategy (default: {len(DEMO_STRATEGIES)} classics)",
    )
    p.add_argument(
        "--quiet_after",
        type=positive_float,
        default=20.0,
        help="after the replay, stop once no signal arrived for this many seconds (20)",
    )
    hidden_alias(p, "--all-strategies", "--all_strategies")
    hidden_alias(p, "--quiet-after", "--quiet_after")
    p.set_defaults(handler=run)


def ending_now(trades: Iterable, hours: float, now_ms: int | None = None) -> Iterator:
    """The sample day moved in time so that it ends at the current minute.

    Every run then has candles (and so signal ids) of its own: a second demo on the same
    topics would otherwise produce exactly the signals already there, which WriteSignals
    rightly skips as duplicates, and print nothing.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    shift = None
    for trade in trades:
        if shift is None:
            first_minute = trade.time_ms - trade.time_ms % 60_000
            end = now_ms - now_ms % 60_000
            shift = end - int(hours * 3_600_000) - first_minute
        moved = type(trade)()
        moved.CopyFrom(trade)
        moved.time_ms = trade.time_ms + shift
        yield moved


def _pipeline_args(settings, all_strategies: bool) -> list[str]:
    args = [
        f"--bootstrap_servers={settings.bootstrap}",
        f"--trades_topic={settings.trades_topic}",
        f"--signals_topic={settings.signals_topic}",
        f"--dlq_topic={settings.dlq_topic}",
        f"--consumer_group={GROUP}",
        "--parallelism=1",
        # Every demo reads from where its own replay begins (see _start_group_at), with empty
        # candles: not from a checkpoint of an earlier demo.
        "--fresh_start",
    ]
    if not all_strategies:
        for name, params in DEMO_STRATEGIES:
            args.append(f"--strategy={name}")
            args += [f"--param={k}={v}" for k, v in params.items()]
    return args


def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Partition -> the offset after its newest record."""
    return read_topic_state(env_client_config(bootstrap), topic, None).end


def _start_group_at(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Makes `group` resume exactly at `offsets` (the topic's end before the replay).

    On a new broker the group coordinator (__consumer_offsets) appears a little after the
    broker accepts clients: `commit_offsets` waits for it.
    """
    commit_offsets(env_client_config(bootstrap), topic, group, offsets)


class SignalPrinter(threading.Thread):
    """Prints signals from the given offsets on, as they arrive."""

    def __init__(self, bootstrap: str, topic: str, offsets: dict[int, int]) -> None:
        super().__init__(daemon=True)
        self._servers = bootstrap
        self._topic = topic
        self._offsets = offsets
        self.stop_event = threading.Event()
        self.count = 0
        self.actions: Counter[str] = Counter()
        self.last_at = time.monotonic()

    def run(self) -> None:
        from tradestream.v1 import signal_pb2

        consumer = Consumer(consumer_config(env_client_config(self._servers)))
        consumer.assign([TopicPartition(self._topic, p, o) for p, o in self._offsets.items()])
        print(HEADER, flush=True)
        try:
            while not self.stop_event.is_set():
                for message in consumer.consume(500, 0.3):
                    if message.error() is not None:
                        # librdkafka reconnects by itself; a lasting problem shows as
                        # no signals (and in the pipeline's log).
                        continue
                    signal_ = signal_pb2.Signal.FromString(message.value())
                    print(format_row(signal_), flush=True)
                    self.count += 1
                    self.actions["BUY" if signal_.action == 1 else "SELL"] += 1
                    self.last_at = time.monotonic()
        finally:
            consumer.close()


def run(args: argparse.Namespace) -> int:
    from tradestream.ingest.producer import TradeProducer
    from tradestream.ingest.replay import replay
    from tradestream.market.sample_day import sample_trades
    from tradestream.market.trade_files import BadRow  # noqa: F401 - fail fast on a broken install

    settings = get_settings()
    speed = "max" if args.speed is None else f"{args.speed:g}x"
    started_kafka = local_kafka.running_broker(settings) is None
    local_kafka.up(settings)
    log_dir = settings.state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "demo-realtime.log"

    try:
        trade_offsets = _end_offsets(settings.bootstrap, settings.trades_topic)
        _start_group_at(settings.bootstrap, GROUP, settings.trades_topic, trade_offsets)
        printer = SignalPrinter(
            settings.bootstrap,
            settings.signals_topic,
            _end_offsets(settings.bootstrap, settings.signals_topic),
        )
    except BaseException:
        if started_kafka:
            local_kafka.down(settings)
        raise

    print(f"[demo] starting the realtime pipeline on Flink (log: {log_path}) ...", flush=True)
    with open(log_path, "wb") as log:
        pipeline = subprocess.Popen(
            [sys.executable, "-m", "tradestream.pipelines.realtime", *_pipeline_args(settings, args.all_strategies)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
    interrupted = False
    sent = 0
    try:
        printer.start()
        producer = TradeProducer(settings, settings.trades_topic, settings.dlq_topic)
        try:
            print(
                f"[demo] replaying {args.hours:g} h of sample trades (speed {speed}); "
                "signals appear once the Flink job is running (~20 s)",
                flush=True,
            )
            trades = ending_now(sample_trades(hours=args.hours), args.hours)
            result = replay(trades, producer, speed=args.speed)
            sent = result.sent
            print(f"[demo] replay done: {sent} trades ({result.rate:,.0f}/s)", flush=True)
        finally:
            producer.close()
        printer.last_at = time.monotonic()
        while pipeline.poll() is None:
            if time.monotonic() - printer.last_at > args.quiet_after and printer.count > 0:
                break
            if time.monotonic() - printer.last_at > 180:
                print("[demo] no signal for 180 s; stopping", flush=True)
                break
            time.sleep(0.5)
        if pipeline.poll() is not None:
            print(f"[demo] the pipeline exited early; see {log_path}", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("\n[demo] interrupted; stopping", flush=True)
    finally:
        printer.stop_event.set()
        if pipeline.poll() is None:
            os.killpg(pipeline.pid, signal.SIGINT)
            try:
                pipeline.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(pipeline.pid, signal.SIGKILL)
                pipeline.wait(timeout=30)
        if printer.is_alive():
            printer.join(timeout=5)
        if started_kafka:
            local_kafka.down(settings)
    print(
        f"[demo] {sent} trades replayed, {printer.count} signals "
        f"({printer.actions['BUY']} BUY, {printer.actions['SELL']} SELL)",
        flush=True,
    )
    return 130 if interrupted else 0
