"""`tradestream realtime`: Kafka trades -> candles -> strategies -> Kafka signals, streaming.

    tradestream realtime                                   # every library strategy, 1m candles
    tradestream realtime --strategy SMA_CROSSOVER --param fast=10 --param slow=30 \\
        --candle_interval 5m --allowed_lateness 30s

Runs on the Flink runner by default: an embedded Flink cluster (`--flink_master=[local]`)
with the job server from the local JVM cache and Python workers started by this process
(`--parallelism` of one per core, up to 2, and a worker process per stage and subtask:
`--sdk_worker_parallelism`);
pass `--flink_master=HOST:PORT` for a session cluster. Any Beam/Flink pipeline option is
also accepted (e.g. --parallelism, --sdk_worker_parallelism, --max_bundle_time_mills).
Stop it with Ctrl-C (the job is cancelled).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from confluent_kafka import KafkaException

from tradestream.cli_types import duration_or_zero_ms, positive_int
from tradestream.kafka_clients.config import (
    KafkaSecurityError,
    WorkerClientConfig,
    client_config,
    require_broker,
)
from tradestream.kafka_clients.positions import (
    ON_TOPIC_RESET,
    StalePositionError,
    read_topic_state,
    settle_committed,
)
from tradestream.market.book_features import DEFAULT_DEPTH
from tradestream.pipelines.options import (
    CandleOptions,
    KafkaOptions,
    StrategyOptions,
    fit_to_book,
    fit_to_interval,
    parse_pipeline_args,
    positive_float,
    selected_strategies,
)
from tradestream.runtime.checkpoints import (
    DEFAULT_RETAINED,
    flink_checkpoint_args,
    prepare_resume,
    prune_checkpoints,
)
from tradestream.runtime.flink import (
    FlinkJobOptions,
    announce_when_running,
    flink_runner_args,
    hide_job_server_wait,
    network_buffer_conf,
    python_worker_processes,
    write_flink_conf,
)
from tradestream.settings import get_settings
from tradestream.transforms.kafka_io import ReadBook, ReadTrades, WriteDeadLetters, WriteSignals
from tradestream.transforms.symbol_signals import RecordsToSignals


class RealtimeOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("realtime")
        group.add_argument(
            "--consumer_group",
            default="tradestream-realtime",
            help="Kafka consumer group: where to resume (default tradestream-realtime)",
        )
        group.add_argument(
            "--start_from",
            choices=["earliest", "latest"],
            default="earliest",
            help="where to start in partitions the group has no offset for (default earliest)",
        )
        group.add_argument(
            "--allowed_symbols",
            default=None,
            help="comma-separated allow-list (e.g. BTC-USD,ETH-USD); others are dead-lettered",
        )
        group.add_argument(
            "--watermark_delay",
            type=duration_or_zero_ms,
            default=0,
            help="how far the watermark trails the newest trade time (default 0)",
        )
        group.add_argument(
            "--checkpoint_interval",
            type=duration_or_zero_ms,
            default=10_000,
            help="Flink checkpoint interval (default 10s). 0 disables checkpoints: a restart "
            "then starts with empty candles and indicators after the offsets committed as "
            "records were read",
        )
        group.add_argument(
            "--checkpoint_dir",
            default=None,
            help="retained checkpoints (default: <state dir>/checkpoints/<consumer group>)",
        )
        group.add_argument(
            "--retained_checkpoints",
            type=positive_int,
            default=DEFAULT_RETAINED,
            help="checkpoints Flink keeps per job, and job directories (one per start) kept "
            f"under --checkpoint_dir; older ones are deleted at start (default {DEFAULT_RETAINED})",
        )
        group.add_argument(
            "--fresh_start",
            action="store_true",
            help="ignore retained checkpoints; start from the group's committed offsets",
        )
        group.add_argument(
            "--on_topic_reset",
            choices=ON_TOPIC_RESET,
            default="fail",
            help="when the retained checkpoint or the group's committed offsets do not fit "
            "the trades topic any more (a reset broker, a recreated topic, records deleted "
            "unread): 'fail' stops with an error (default); 'start_over' sets the checkpoint "
            "aside and moves the offsets to --start_from, with a warning",
        )
        group.add_argument(
            "--network_buffer_timeout",
            type=duration_or_zero_ms,
            default=NETWORK_BUFFER_TIMEOUT_MS,
            help="longest time Flink holds records in a network buffer before sending them "
            "to the next task (Flink's execution.buffer-timeout.interval, itself 100ms by "
            "default): lower is less latency. 0 sends every record at once "
            f"(default {NETWORK_BUFFER_TIMEOUT_MS}ms; applies to the job server this command "
            "starts, not to one given with --runner=PortableRunner, nor with your own "
            "--flink_conf_dir)",
        )
        group.add_argument(
            "--book_depth",
            type=positive_int,
            default=DEFAULT_DEPTH,
            help=f"levels per side in the book's depth and imbalance (default {DEFAULT_DEPTH})",
        )
        group.add_argument(
            "--idle_timeout",
            type=positive_float,
            default=2.0,
            help="seconds after which a caught-up partition stops holding the watermark",
        )
        group.add_argument(
            "--max_clock_skew",
            type=duration_or_zero_ms,
            default=60_000,
            help="trades stamped further than this ahead of the worker's clock are "
            "dead-lettered (reason future_time) and never move the watermark "
            "(default 1m; 0 disables the check)",
        )


def flink_checkpoints(options: PipelineOptions) -> bool:
    """Whether Flink checkpoints the job: `--checkpointing_interval` (Flink's flag, which
    `--checkpoint_interval` sets locally and the Helm chart passes directly) above 0."""
    value = options.get_all_options(retain_unknown_options=True).get("checkpointing_interval")
    try:
        return int(value) > 0
    except (TypeError, ValueError):
        return False


def build(p: beam.Pipeline, options: PipelineOptions, strategies) -> None:
    """Composes the realtime graph on `p` (wiring only)."""
    kafka = options.view_as(KafkaOptions)
    candles = options.view_as(CandleOptions)
    rt = options.view_as(RealtimeOptions)
    allowed = (
        {s.strip().upper() for s in rt.allowed_symbols.split(",") if s.strip()}
        if rt.allowed_symbols
        else None
    )
    skew = rt.max_clock_skew or None
    reading = dict(
        start_from=rt.start_from,
        watermark_delay_ms=rt.watermark_delay,
        idle_after_s=rt.idle_timeout,
        max_clock_skew_ms=skew,
        # Flink finalizes bundles only when a checkpoint completes.
        commit_offsets="finalized" if flink_checkpoints(options) else "read",
        client_config=WorkerClientConfig(),
    )
    reads_book = any(s.reads_book for s in strategies)
    # The keyed step closes candles on the source's watermark in band, as soon as it comes
    # after the trades (see transforms/kafka_source.py); not with the book, whose own
    # source may be behind the trades.
    batches = p | "ReadTrades" >> ReadTrades(
        kafka.bootstrap_servers,
        kafka.trades_topic,
        rt.consumer_group,
        watermark_in_band=not reads_book,
        **reading,
    )
    # Parsing, candles, gap filling and strategies: records are parsed and folded into
    # partial candles a poll batch at a time, then one keyed step does the rest (on a
    # streaming runner every stateful step costs a watermark hop; see
    # transforms/symbol_signals.py).
    book_depth, book_topic = None, ""
    if reads_book:  # the book topic too, into the same step
        book_topic = kafka.book_topic
        book_depth = rt.book_depth
        book_batches = p | "ReadBook" >> ReadBook(
            kafka.bootstrap_servers, book_topic, rt.consumer_group, **reading
        )
        batches = (batches, book_batches)
    out = batches | "TradesToSignals" >> RecordsToSignals(
        strategies,
        candles.candle_interval,
        candles.allowed_lateness,
        candles.max_gap,
        kafka.trades_topic,
        allowed_symbols=allowed,
        max_clock_skew_ms=skew,
        book_depth=book_depth,
        book_topic=book_topic,
    )
    out.signals | "WriteSignals" >> WriteSignals(
        kafka.bootstrap_servers, kafka.signals_topic, client_config=WorkerClientConfig()
    )
    out.dead_letters | "WriteDeadLetters" >> WriteDeadLetters(
        kafka.bootstrap_servers, kafka.dlq_topic, client_config=WorkerClientConfig()
    )


# Python SDK worker processes (and Flink parallelism) for the local runner: measured on
# 2 cores, 2 workers read ~30% more trades/s than 1; more than the cores only contend.
LOCAL_WORKERS = max(1, min(2, os.cpu_count() or 1))
# SDK worker processes the runner may start. Beam's Flink runner (2.62) gives each
# (stage, subtask) the worker of a job-wide counter, modulo this number, in the order the
# subtasks happen to open: with one worker per core both subtasks of the keyed step could
# share one process (one run put all the work on one worker, the other idle). The realtime
# job has 3 stages (5 with the book topic) per subtask; with at least that many, each gets
# a process of its own. Numbers never handed out start no process.
WORKER_PROCESSES = LOCAL_WORKERS * 5


# How long Flink may hold records in a network buffer (its own default is 100 ms): the
# source's batches and its watermark wait there on their way to the keyed step. Measured
# (bench/realtime.py, 10 symbols at 2,000 trades/s, two runs each, alternated): p50 151 and
# 127 ms -> 116 and 98 ms, p99 223 and 383 ms -> 196 and 176 ms; throughput 56.2k and 55.3k
# -> 65.5k and 64.5k trades/s.
NETWORK_BUFFER_TIMEOUT_MS = 5


def launches_flink_job_server(argv: Sequence[str]) -> bool:
    """Whether Beam's FlinkRunner starts the job server here (the default), which then reads
    the Flink configuration the launcher writes; not with --runner=PortableRunner, whose job
    server runs elsewhere (the chart's)."""
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    return "--runner" not in given or "--runner=FlinkRunner" in argv


def beam_args_with_defaults(rest: list[str]) -> list[str]:
    """The Flink runner with the cached job server unless the user chose otherwise."""
    given = {a.split("=", 1)[0] for a in rest if a.startswith("--")}
    args = list(rest)
    if launches_flink_job_server(rest):
        master = next(
            (a.split("=", 1)[1] for a in rest if a.startswith("--flink_master=")), "[local]"
        )
        defaults = flink_runner_args(get_settings(), flink_master=master)
        args += [d for d in defaults if d.split("=", 1)[0] not in given]
        # Python does most of the work: a subtask per core, each with a share of the keyed
        # step, in processes of their own (see WORKER_PROCESSES, README "Performance").
        if "--sdk_worker_parallelism" not in given:
            args.append(f"--sdk_worker_parallelism={WORKER_PROCESSES}")
        if "--parallelism" not in given:
            args.append(f"--parallelism={LOCAL_WORKERS}")
    args.append("--streaming")
    # Latency: finish bundles often so that watermarks and timers move promptly (measured
    # at 2k trades/s: 200 ms bundles p99 ~1.4 s, 50 ms p99 ~0.7 s; throughput ~4% lower).
    if "--max_bundle_time_mills" not in given:
        args.append("--max_bundle_time_mills=50")
    # The SDK's user-state cache is off by default; without it every state read is a
    # round trip to the runner (measured: ~20x slower candle building on Flink).
    if "--max_cache_memory_usage_mb" not in given:
        args.append("--max_cache_memory_usage_mb=256")
    return args


def run(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    known, rest = parse_pipeline_args(
        argv,
        prog="tradestream realtime",
        description=__doc__,
        # FlinkJobOptions too: a bad value of a Flink flag is then one line here, not
        # argparse's usage block from Beam's own parser after the broker checks.
        option_classes=[
            KafkaOptions,
            CandleOptions,
            StrategyOptions,
            RealtimeOptions,
            FlinkJobOptions,
        ],
    )
    settings = get_settings()
    try:
        if known.flink_conf_dir and known.checkpoint_interval > 0:
            # The restore of a checkpoint goes through the Flink configuration the launcher
            # writes; a second --flink_conf_dir would silently replace one or the other.
            raise ValueError(
                "--flink_conf_dir: with checkpoints (--checkpoint_interval > 0) the launcher "
                "writes the job's Flink configuration itself (<state dir>/flink-conf/<consumer "
                "group>/flink-conf.yaml); give --checkpoint_interval=0 to use your own"
            )
        # No broker, refused TLS/SASL settings, or positions that do not fit the topic stop
        # the launch here: on Flink, workers failing would only restart the job forever.
        require_broker(settings, known.bootstrap_servers)
        kafka_options = client_config(settings, known.bootstrap_servers)
        state = read_topic_state(kafka_options, known.trades_topic, known.consumer_group)
        extra: list[str] = []
        restored = None
        pruned: list[Path] = []
        warnings = []
        conf_dir = settings.state_dir / "flink-conf" / known.consumer_group
        conf = network_buffer_conf(known.network_buffer_timeout)
        if known.checkpoint_interval > 0:
            checkpoint_dir = Path(
                known.checkpoint_dir or settings.state_dir / "checkpoints" / known.consumer_group
            )
            warnings += prepare_resume(
                checkpoint_dir,
                state,
                known.bootstrap_servers,
                resume=not known.fresh_start,
                on_topic_reset=known.on_topic_reset,
            )
            extra, restored = flink_checkpoint_args(
                checkpoint_dir,
                conf_dir,
                known.checkpoint_interval,
                resume=not known.fresh_start,
                retained=known.retained_checkpoints,
                conf=conf,
            )
            pruned = prune_checkpoints(checkpoint_dir, known.retained_checkpoints, restored)
        elif launches_flink_job_server(argv) and not known.flink_conf_dir:
            extra.append(write_flink_conf(conf_dir, conf))
        if restored is None:
            warnings += settle_committed(
                kafka_options,
                state,
                known.consumer_group,
                known.start_from,
                known.on_topic_reset,
            )
        # Our flags were validated above; Beam parses the whole command line again.
        options = PipelineOptions(beam_args_with_defaults(argv + extra))
        strategies = selected_strategies(options, default_all=True)
        strategies, left_out = fit_to_interval(options, strategies, known.candle_interval)
        if left_out:
            warnings.append(left_out)
        book_given = any(a == "--book_topic" or a.startswith("--book_topic=") for a in argv)
        strategies, left_out = fit_to_book(options, strategies, book_given)
        if left_out:
            warnings.append(left_out)
        if any(s.reads_book for s in strategies):  # the book topic must exist
            read_topic_state(kafka_options, known.book_topic, known.consumer_group)
    except (ValueError, KafkaSecurityError, StalePositionError) as exc:
        print(f"tradestream realtime: error: {exc}", file=sys.stderr)
        return 2
    except KafkaException as exc:  # a broker stopped answering while the positions were read
        print(
            f"tradestream realtime: error: Kafka at {known.bootstrap_servers}: {exc.args[0].str()}",
            file=sys.stderr,
        )
        return 2
    for warning in warnings:
        print(f"[realtime] WARNING: {warning}", file=sys.stderr, flush=True)
    if pruned:
        print(
            f"[realtime] deleted {len(pruned)} old checkpoint director"
            f"{'y' if len(pruned) == 1 else 'ies'} of earlier runs (keeping the newest "
            f"{known.retained_checkpoints}: --retained_checkpoints)",
            flush=True,
        )
    if restored is not None:
        print(f"[realtime] resuming from checkpoint {restored}", flush=True)
    print(
        f"[realtime] {len(strategies)} strategies, candles of "
        f"{known.candle_interval} ms, reading {known.trades_topic} on {known.bootstrap_servers}",
        flush=True,
    )
    with python_worker_processes(options):
        return _run_until_stopped(options, strategies)


def checkpoint_mismatch(failure: str) -> str | None:
    """A readable error when Flink could not restore the retained checkpoint, else None.

    Flink refuses a checkpoint whose operators are not in the submitted job, which happens
    after an upgrade of TradeStream changed the pipeline's steps.
    """
    found = re.search(r"Failed to rollback to checkpoint/savepoint (\S+)\.", failure)
    if found is None:
        return None
    return (
        f"the retained checkpoint {found.group(1)} was taken by a pipeline with other steps "
        "(an earlier TradeStream version) and cannot be restored into this one; start with "
        "--fresh_start to continue from the consumer group's committed offsets with empty "
        "candles and indicators"
    )


def _run_until_stopped(options: PipelineOptions, strategies) -> int:
    p = beam.Pipeline(options=options)
    build(p, options, strategies)
    hide_job_server_wait()
    result = p.run()
    announce_when_running(result, options, lambda m: print(f"[realtime] {m}", flush=True))
    # Beam's job-server wrapper installs a SIGINT handler with the wrong signature (it
    # raises TypeError instead of stopping); Ctrl-C and SIGTERM both mean: cancel the job.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        result.wait_until_finish()
    except RuntimeError as exc:
        problem = checkpoint_mismatch(str(exc))
        if problem is None:
            raise
        print(f"tradestream realtime: error: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("[realtime] stopping: cancelling the job", flush=True)
        _quiet_job_service_threads()
        try:
            result.cancel()
        except Exception:  # noqa: BLE001 - Ctrl-C reached the job server too: it is gone
            print("[realtime] the job server had already stopped", flush=True)
        return 0
    return 0


def _quiet_job_service_threads() -> None:
    """Once we cancel, Beam's job-service reader threads fail as the job server goes away.

    Their tracebacks (gRPC UNAVAILABLE) say nothing to a user who pressed Ctrl-C; any other
    thread's uncaught exception is still reported.
    """
    previous = threading.excepthook

    def hook(args) -> None:
        if args.thread is not None and args.thread.name.startswith("wait_until_finish"):
            return
        previous(args)

    threading.excepthook = hook


if __name__ == "__main__":
    sys.exit(run())
