"""`tradestream optimize`: genetic search of strategy parameters, fitness as Beam batch jobs.

    tradestream optimize --input BTC-USD.csv --output opt/ --strategy SMA_CROSSOVER \\
        --population 40 --generations 25 --seed 7 --objective sharpe --min_trades 5
    tradestream optimize --input trades.csv --candle_interval 5m --output opt/ \\
        --strategy SMA_RSI --bound sma_period=10:100 --objective weighted --fee 0.001 \\
        --train 30d --test 7d --walk_forward rolling --early_stop 5
    ... --publish_topic strategies --bootstrap_servers localhost:9092
    ... --runner=FlinkRunner --flink_master=[local] --environment_type=LOOPBACK \\
        --flink_job_server_jar=.local/jvm/beam/flink-job-server.jar

What it does: a first Beam job reads the inputs exactly like `tradestream backtest` (trades
files through WindowTradesToCandles and FillCandleGaps, or candles files) and stores each
symbol's candle series in DIR/.staging-*/.work. Then, per generation, one Beam job backtests
every new genome of every search (strategy type x symbol x window) with the vectorized
evaluator and the backtest's execution model and metrics; the GA itself (selection,
crossover, mutation, elitism) runs here, between jobs. With --train/--test, each
walk-forward fold is searched on its training window and its winner backtested on its test
window (one more job).

Strategies: --strategy NAME (repeatable) or --strategy all, --strategies FILE; --param k=v
fixes a parameter; --bound NAME=LOW:HIGH narrows a declared range. Objectives and their
normalisation: see tradestream/optimize/objectives.py; DSR and PBO: overfitting.py.

Output (--output DIR): best.json (the best --top sets per strategy type and symbol, best
first, with metrics, in-sample / out-of-sample walk-forward results, DSR and PBO),
history.json (per generation), evaluations.json (every distinct parameter set evaluated,
with its fitness and first generation) and report.html (fitness by generation, parameter
heatmaps over every evaluation, in-sample vs out-of-sample). Progress per generation on
stderr. The files replace a previous run's in DIR only when some set reached a finite
fitness: a failed run leaves DIR as it was (DIR/.staging-* holds the run's files meanwhile).
Exit status: 0 on success, 2 for invalid arguments or inputs (a DIR that is a file or cannot
be written, inputs without a data row), 1 when no candle could be built or no parameter set
reached a finite fitness.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    FlinkRunnerOptions,
    JobServerOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
)

from tradestream.backtest.files import (
    resolve_inputs,
)
from tradestream.backtest.outputs import OutputDirError, StagedOutputDir
from tradestream.cli_types import (
    duration_ms,
    even_int_from_2,
    fraction,
    non_negative_int,
    positive_int,
)
from tradestream.market.trade_files import TradeFileError
from tradestream.optimize.fitness import FitnessConfig, FitnessResult
from tradestream.optimize.ga import GAConfig
from tradestream.optimize.objectives import OBJECTIVES
from tradestream.optimize.outputs import (
    best_entries,
    console_summary,
    history_json,
    write_evaluations,
    write_outputs,
)
from tradestream.optimize.search import (
    evaluate_out_of_sample,
    plan_searches,
    run_searches,
    tasks_of,
)
from tradestream.optimize.selection import select_spaces
from tradestream.optimize.store import read_json, read_saved_series
from tradestream.optimize.strategy_sets import publish_strategy_sets, strategy_sets
from tradestream.optimize.walk_forward import MODES
from tradestream.pipelines.options import (
    CandleOptions,
    StrategyOptions,
    add_execution_flags,
    add_input_kind_flags,
    add_input_output_flags,
    execution_config,
    non_negative_float,
    parse_pipeline_args,
    positive_float,
    unknown_flags,
)
from tradestream.reports.optimize_report import write_report
from tradestream.runtime.errors import hide_strategy_error_logs
from tradestream.settings import get_settings
from tradestream.strategies.errors import StrategyError
from tradestream.transforms.backtest.inputs import CandlesFromInputs
from tradestream.transforms.optimize.evaluate_fitness import EvaluateFitness
from tradestream.transforms.optimize.work_files import (
    SaveCandleSeries,
    SaveRejections,
    WriteJsonList,
)


class OptimizeFiles:
    """--input/--output and the execution flags shared with `backtest`, as plain argparse:
    Beam parses the flags of every PipelineOptions subclass in the process together, and
    BacktestOptions (and ingest) already define these names."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("data and execution (as in tradestream backtest)")
        add_input_output_flags(group)
        add_input_kind_flags(group)
        add_execution_flags(group)
        group.add_argument(
            "--memory_mb",
            type=positive_float,
            default=512.0,
            help="working-set budget per simulated chunk of genomes (default 512)",
        )


class PublishFlags:
    """--publish_topic/--bootstrap_servers (plain argparse: KafkaOptions owns the latter)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        s = get_settings()
        group = parser.add_argument_group("publish")
        group.add_argument(
            "--publish_topic",
            default=None,
            metavar="TOPIC",
            help=f"also write the best sets as StrategySet messages to this Kafka topic "
            f"(e.g. {s.strategies_topic}), keyed by symbol",
        )
        group.add_argument(
            "--bootstrap_servers",
            default=s.bootstrap,
            help=f"Kafka bootstrap servers for --publish_topic (default {s.bootstrap})",
        )


class OptimizeOptions(PipelineOptions):
    """The genetic search, its objective and the walk-forward validation."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("genetic search")
        group.add_argument("--population", type=positive_int, default=30, help="(default 30)")
        group.add_argument(
            "--generations",
            type=positive_int,
            default=20,
            help="most generations, the first included (default 20)",
        )
        group.add_argument(
            "--seed", type=non_negative_int, default=0, help="same seed, same result (0)"
        )
        group.add_argument(
            "--bound",
            action="append",
            default=[],
            metavar="NAME=LOW:HIGH",
            help="narrow a parameter's declared range (repeatable)",
        )
        group.add_argument(
            "--early_stop",
            type=non_negative_int,
            default=0,
            metavar="N",
            help="stop after N generations without a better best (default 0: never)",
        )
        group.add_argument("--elite", type=non_negative_int, default=2, help="(default 2)")
        group.add_argument(
            "--tournament", type=positive_int, default=3, help="tournament size (default 3)"
        )
        group.add_argument("--crossover_rate", type=fraction, default=0.8, help="(0.8)")
        group.add_argument("--mutation_rate", type=fraction, default=0.2, help="per gene (0.2)")
        group.add_argument(
            "--mutation_scale",
            type=positive_float,
            default=0.1,
            help="mutation std as a fraction of a gene's range (0.1)",
        )
        group.add_argument(
            "--indicator_cache_mb",
            type=non_negative_float,
            default=256.0,
            help="indicator values each worker keeps across generations (default 256)",
        )
        group.add_argument(
            "--batch_size",
            type=positive_int,
            default=10,
            help="genomes per Beam work item (default 10)",
        )
        group = parser.add_argument_group("objective and validation")
        group.add_argument(
            "--objective", choices=list(OBJECTIVES), default="sharpe", help="(default sharpe)"
        )
        group.add_argument(
            "--min_trades",
            type=non_negative_int,
            default=1,
            help="fewer closed trades give the worst fitness (default 1)",
        )
        group.add_argument(
            "--train", type=duration_ms, default=None, help="walk-forward training window, e.g. 30d"
        )
        group.add_argument(
            "--test", type=duration_ms, default=None, help="walk-forward test window, e.g. 7d"
        )
        group.add_argument(
            "--walk_forward",
            choices=list(MODES),
            default="rolling",
            help="rolling or anchored (growing) training windows (default rolling)",
        )
        group.add_argument(
            "--cscv_blocks",
            type=even_int_from_2,
            default=16,
            help="blocks of the PBO's combinatorially symmetric cross-validation (16)",
        )
        group.add_argument(
            "--top", type=positive_int, default=5, help="sets per strategy and symbol (5)"
        )


@contextlib.contextmanager
def shared_job_server(beam_args: list[str], work: str) -> Iterator[list[str]]:
    """Beam args whose FlinkRunner jobs share one job server for the whole run.

    Each FlinkRunner pipeline otherwise starts its own job server JVM and keeps it until the
    process exits: one per generation. Here it is started once (Beam's own command line for
    it, artifacts under `work`) and every job is submitted with --job_endpoint. Other
    runners, an explicit --job_endpoint or --flink_submit_uber_jar are left as they are.
    """
    options = PipelineOptions(beam_args)
    runner = (options.view_as(StandardOptions).runner or "").lower()
    flink = options.view_as(FlinkRunnerOptions)
    if (
        runner not in ("flinkrunner", "flink")
        or options.view_as(PortableOptions).job_endpoint
        or flink.flink_submit_uber_jar
    ):
        yield beam_args
        return
    from apache_beam.portability.api import beam_job_api_pb2_grpc
    from apache_beam.runners.portability.flink_runner import FlinkJarJobServer, FlinkRunner
    from apache_beam.utils.subprocess_server import SubprocessServer

    flink.flink_master = FlinkRunner.add_http_scheme(flink.flink_master)
    options.view_as(JobServerOptions).artifacts_dir = os.path.join(work, "artifacts")
    command, endpoint = FlinkJarJobServer(options).subprocess_cmd_and_endpoint()
    server = SubprocessServer(
        beam_job_api_pb2_grpc.JobServiceStub, command, port=int(endpoint.rsplit(":", 1)[1])
    )
    server.start()  # returns once the job service answers
    try:
        yield [*beam_args, f"--job_endpoint={endpoint}"]
    finally:
        server.stop()


def _load_series(args, paths: list[str], kind: str, beam_args: list[str], work: str):
    """The first job: inputs -> candle series files; returns (SeriesFile list, rejections)."""
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
        inputs = p | "ReadInputs" >> CandlesFromInputs(
            kind, paths, args.symbol, args.candle_interval, args.allowed_lateness, args.max_gap
        )
        candles, rejected = inputs.candles, inputs.rejected
        _ = candles | "SaveCandleSeries" >> SaveCandleSeries(work, args.candle_interval)
        _ = rejected | "SaveRejections" >> SaveRejections(work)
    return read_saved_series(work)


class BeamFitness:
    """The search's `evaluate`: one Beam job per call, results read back from a file."""

    def __init__(self, beam_args: list[str], tasks, config: FitnessConfig, work: str) -> None:
        self._beam_args = beam_args
        self._tasks = tasks
        self._config = config
        self._work = work
        self._jobs = 0

    def __call__(self, jobs) -> list[FitnessResult]:
        self._jobs += 1
        path = os.path.join(self._work, "results", f"job-{self._jobs:04d}.json")
        with beam.Pipeline(options=PipelineOptions(self._beam_args)) as p:
            _ = (
                p
                | "Jobs" >> beam.Create(list(jobs))
                | "EvaluateFitness" >> EvaluateFitness(self._tasks, self._config)
                | "WriteResults" >> WriteJsonList(path)
            )
        return [FitnessResult.from_json(d) for d in read_json(path)]


def _optimize(args, paths, kind, spaces, ga, fitness, job_args, work, out_dir) -> list | int:
    """Load job, searches, out-of-sample job, output files in `out_dir`: best.json entries or
    an exit code."""
    files, rejected = _load_series(args, paths, kind, job_args, work)
    unchanged = f"nothing written to {args.output}"
    if not files and not rejected:
        return _error(f"no data rows in {', '.join(paths)} (a header only?); {unchanged}")
    if not files:
        return _error(f"no candle could be built from the inputs: {rejected}; {unchanged}", 1)
    if rejected:
        print(f"[optimize] {rejected}", file=sys.stderr)
    for f in files:
        print(f"[optimize] {f.symbol}: {f.candles} candles", file=sys.stderr)
    try:
        specs = plan_searches(spaces, files, args.train, args.test, args.walk_forward)
    except ValueError as exc:
        return _error(str(exc))
    evaluate = BeamFitness(job_args, tasks_of(specs), fitness, work)
    progress = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    outcomes = run_searches(specs, ga, evaluate, args.batch_size, progress)
    out_of_sample = evaluate_out_of_sample(outcomes, evaluate, args.batch_size)
    walk_mode = args.walk_forward if args.train is not None else None
    entries = best_entries(outcomes, out_of_sample, fitness, args.top, walk_mode)
    write_outputs(out_dir, entries, history_json(outcomes))
    write_evaluations(out_dir, outcomes, fitness.objective)  # before the report reads it
    write_report(out_dir)
    return entries


def _error(message: str, code: int = 2) -> int:
    print(f"tradestream optimize: error: {message}", file=sys.stderr)
    return code


def run(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, beam_args = parse_pipeline_args(
        argv,
        prog="tradestream optimize",
        description=__doc__,
        option_classes=[
            OptimizeFiles,
            OptimizeOptions,
            StrategyOptions,
            CandleOptions,
            PublishFlags,
        ],
    )
    try:
        unknown = unknown_flags(beam_args)
    except ValueError as exc:
        return _error(str(exc))
    if unknown:
        return _error(f"unknown flag(s) {', '.join(unknown)}")
    if getattr(args, "strategies_topic", None):
        # Shared with backtest/realtime, where it adds published parameter sets; the
        # optimizer searches strategy types, so it would be silently ignored here.
        return _error("--strategies_topic does not apply to optimize (use --strategy)")
    try:
        paths, kind = resolve_inputs(args.input, args.input_format)
        spaces = select_spaces(args.strategy_spec, args.strategies_file, args.bound)
        if kind == "trades":  # the candle interval is known now: types it cannot run
            for space in spaces:
                space.stype.build().warmup_at(args.candle_interval)
        execution = execution_config(args)
        ga = GAConfig(
            population=args.population,
            generations=args.generations,
            seed=args.seed,
            elite=args.elite,
            tournament=args.tournament,
            crossover_rate=args.crossover_rate,
            mutation_rate=args.mutation_rate,
            mutation_scale=args.mutation_scale,
            early_stop=args.early_stop,
        )
        fitness = FitnessConfig(
            execution,
            args.objective,
            args.min_trades,
            args.cscv_blocks,
            args.memory_mb,
            args.indicator_cache_mb,
        )
        if (args.train is None) != (args.test is None):
            raise ValueError("walk-forward needs both --train and --test")
        staged = StagedOutputDir(args.output)  # before any work: a file, a read-only place
    except (ValueError, TradeFileError, OutputDirError, StrategyError) as exc:
        return _error(str(exc))
    hide_strategy_error_logs()
    try:
        with staged as out_dir:
            for space in spaces:
                print(f"[optimize] {space.stype.name}: {space.describe()}", file=sys.stderr)
            work = os.path.join(out_dir, ".work")  # removed with the staging directory
            os.makedirs(work)
            with shared_job_server(beam_args, work) as job_args:
                entries = _optimize(args, paths, kind, spaces, ga, fitness, job_args, work, out_dir)
            if isinstance(entries, list) and entries:
                staged.commit()
    except OutputDirError as exc:
        return _error(str(exc))
    except StrategyError as exc:  # a type the input's candles cannot run (their interval)
        message = str(exc).split(" [while running", 1)[0]
        return _error(f"{message}; nothing written to {args.output}")
    if isinstance(entries, int):
        return entries
    if not entries:
        reason = "no parameter set reached a finite fitness (see --min_trades)"
        return _error(f"{reason}; nothing written to {args.output}", 1)
    print(f"[optimize] report: {os.path.join(args.output, 'report.html')}", file=sys.stderr)
    print(console_summary(entries), file=sys.stderr)
    if args.publish_topic and entries:
        try:
            sent = publish_strategy_sets(
                strategy_sets(entries), args.bootstrap_servers, args.publish_topic
            )
        except RuntimeError as exc:
            print(f"tradestream optimize: error: {exc}", file=sys.stderr)
            return 1
        print(f"[optimize] {sent} StrategySet(s) written to {args.publish_topic}", file=sys.stderr)
    return 0 if entries else 1


if __name__ == "__main__":
    sys.exit(run())
