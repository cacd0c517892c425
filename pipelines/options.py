"""Pipeline flags shared by several pipelines, each defined once as a PipelineOptions class.

Defaults come from `tradestream.settings` (environment), so: flag > environment > default.
`parse_pipeline_args` validates our flags strictly (a clear error for a bad value or an
unknown strategy) and hands everything else to Beam (runner and Flink flags).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from tradestream.cli_types import (
    CommandParser,
    duration_ms,
    duration_or_zero_ms,
    non_negative_float,
    non_negative_int,
    positive_float,
)
from tradestream.optimize.strategy_sets import read_strategy_sets
from tradestream.settings import get_settings
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.flags import decode_strategy_flags, param_item, strategy_item
from tradestream.strategies.graph import interval_text
from tradestream.strategies.strategy import Strategy


class KafkaOptions(PipelineOptions):
    """Where trades come from and where signals and dead letters go."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        s = get_settings()
        group = parser.add_argument_group("Kafka")
        group.add_argument(
            "--bootstrap_servers",
            default=s.bootstrap,
            help=f"Kafka bootstrap servers (default {s.bootstrap}; TRADESTREAM_BOOTSTRAP_SERVERS)",
        )
        group.add_argument("--trades_topic", default=s.trades_topic, help="topic of Trades")
        group.add_argument("--signals_topic", default=s.signals_topic, help="topic of Signals")
        group.add_argument("--dlq_topic", default=s.dlq_topic, help="dead-letter topic")
        group.add_argument(
            "--book_topic",
            default=s.book_topic,
            help="topic of level-2 BookUpdates (`ingest --channel=level2` writes it; realtime "
            "reads it for strategies that read the order book) "
            f"(default {s.book_topic}; TRADESTREAM_BOOK_TOPIC)",
        )


class CandleOptions(PipelineOptions):
    """How trades become candles."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("candles")
        group.add_argument(
            "--candle_interval",
            type=duration_ms,
            default=60_000,
            help="candle length: 250ms, 5s, 1m, 15m, 1h, 1d (default 1m)",
        )
        group.add_argument(
            "--allowed_lateness",
            type=duration_or_zero_ms,
            default=0,
            help=(
                "how long after a candle's end late trades still correct it (default 0: "
                "trades behind the watermark are dead-lettered as late)"
            ),
        )
        group.add_argument(
            "--max_gap",
            type=non_negative_int,
            default=60,
            help="at most this many flat candles fill a silent stretch (default 60)",
        )


class StrategyOptions(PipelineOptions):
    """Which strategies run: library types with parameters, or a strategy file."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("strategies")
        group.add_argument(
            "--strategy",
            dest="strategy_spec",
            action="append",
            type=strategy_item,
            help=(
                "a strategy type from the library (see `tradestream strategies list`); "
                "repeatable. --param flags that follow apply to it"
            ),
        )
        group.add_argument(
            "--param",
            dest="strategy_spec",
            action="append",
            type=param_item,
            help="NAME=VALUE for the preceding --strategy (repeatable)",
        )
        group.add_argument(
            "--strategies_topic",
            default=None,
            help=(
                "also run the strategies published on this Kafka topic (protobuf StrategySet, "
                "e.g. by `tradestream optimize --publish_topic`): the newest set per key"
            ),
        )
        group.add_argument(
            "--strategies",
            dest="strategies_file",
            default=None,
            help="a YAML/JSON file of strategies (library types with values, or graphs of "
            "your own; see the README) or an optimizer result (DIR/best.json)",
        )


def selected_strategies(options: PipelineOptions, default_all: bool = False) -> list[Strategy]:
    """The strategies chosen by --strategy/--param or --strategies.

    Args:
        options: parsed pipeline options.
        default_all: with no selection, every library type with default parameters.

    Raises:
        ValueError: no selection (and no default), a --param before any --strategy, or an
            invalid strategy/parameter (the message says which).
    """
    from tradestream.strategies import library
    from tradestream.strategies.spec import load_strategy_file

    view = options.view_as(StrategyOptions)
    built: list[Strategy] = []
    try:
        for name, params in decode_strategy_flags(view.strategy_spec):
            built.append(library.build(name, params))
        if view.strategies_file:
            path = Path(view.strategies_file)
            if not path.is_file():
                raise ValueError(f"--strategies {path}: no such file")
            built.extend(load_strategy_file(path))  # a spec file or best.json
        if view.strategies_topic:
            bootstrap = options.view_as(KafkaOptions).bootstrap_servers
            built.extend(read_strategy_sets(bootstrap, view.strategies_topic))
    except StrategyError as exc:
        raise ValueError(str(exc)) from exc
    if not built and default_all:
        built = [library.build(name) for name in library.names()]
    if not built:
        raise ValueError(
            "choose strategies with --strategy NAME [--param k=v ...] or --strategies FILE"
        )
    seen: dict[str, Strategy] = {}
    for strategy in built:
        seen.setdefault(strategy.strategy_id, strategy)  # the same strategy twice runs once
    return list(seen.values())


def fit_to_interval(
    options: PipelineOptions, strategies: list[Strategy], interval_ms: int
) -> tuple[list[Strategy], str | None]:
    """The strategies that can run on candles of `interval_ms`, and a note on those left out.

    A strategy reading longer candles (multi-timeframe) needs a candle interval that divides
    each of them. Chosen by name or file, one that cannot run is an error; among the library
    defaults (nothing chosen) such types are left out, and the note names them.

    Raises:
        ValueError: a chosen strategy cannot run on these candles (the message says why).
    """
    view = options.view_as(StrategyOptions)
    chosen = bool(view.strategy_spec or view.strategies_file or view.strategies_topic)
    kept, left_out = [], []
    for strategy in strategies:
        try:
            strategy.warmup_at(interval_ms)
        except StrategyError as error:
            if chosen:
                raise ValueError(f"{strategy.strategy_id}: {error}") from None
            left_out.append(strategy.type_name)
        else:
            kept.append(strategy)
    if not left_out:
        return kept, None
    return kept, (
        f"left out {len(left_out)} multi-timeframe type(s) the candle interval "
        f"{interval_text(interval_ms)} does not divide: {', '.join(left_out)}"
    )


def fit_to_book(
    options: PipelineOptions, strategies: list[Strategy], book_given: bool
) -> tuple[list[Strategy], str | None]:
    """The strategies to run, and a note on order-book types left out of the defaults.

    Types that read the order book run when chosen (by name or file) or when a book topic
    is given; among the library defaults without one they are left out, and the note says so.
    """
    view = options.view_as(StrategyOptions)
    chosen = bool(view.strategy_spec or view.strategies_file or view.strategies_topic)
    if chosen or book_given:
        return strategies, None
    kept = [s for s in strategies if not s.reads_book]
    left_out = sorted({s.type_name for s in strategies if s.reads_book})
    if not left_out:
        return kept, None
    return kept, (
        f"left out {len(left_out)} order-book type(s) ({', '.join(left_out)}): give "
        "--book_topic to run them on level-2 data"
    )


def unknown_flags(beam_args: Sequence[str]) -> list[str]:
    """Flags that neither we nor Beam know (Beam would only log them): typos like --fees.

    Raises:
        ValueError: a Beam or Flink flag with a value its type refuses (`--parallelism abc`),
            as one line; Beam's own parser would print every pipeline flag's usage first.
    """
    try:
        from apache_beam.options.pipeline_options import _BeamArgumentParser
    except ImportError:
        return []  # Beam's parser is private API: skip the check rather than fail

    class OneLineParser(_BeamArgumentParser):
        def error(self, message: str):
            raise ValueError(message)

    parser = OneLineParser(allow_abbrev=False)
    classes = {str(cls): cls for cls in PipelineOptions.__subclasses__()}
    try:
        for cls in classes.values():
            cls._add_argparse_args(parser)
    except argparse.ArgumentError:
        return []  # two classes declare one flag: Beam would refuse it, with its own message
    _, unknown = parser.parse_known_args(list(beam_args))
    return [arg.split("=", 1)[0] for arg in unknown if arg.startswith("--")]


# The runner names that mean Beam's DirectRunner (`tradestream.cli` keeps the same list, to
# import a local backtest without the connectors it does not use).
DIRECT_RUNNERS = ("directrunner", "direct", "switchingdirectrunner")


def batch_pipeline(beam_args: Sequence[str]):
    """A Beam pipeline for a batch job run with `beam_args` (a context manager, as usual).

    On the DirectRunner (no --runner, or --runner=DirectRunner) the job goes straight to
    the runner the DirectRunner hands batch jobs to: Beam's in-process FnApiRunner, built as
    the DirectRunner builds it (the options passed to the SDK harness). The DirectRunner
    first imports its Pub/Sub transforms to look for streaming reads, which pulls in the
    Google Cloud client libraries: ~0.5 s of a single backtest. Any other runner (Flink,
    --streaming) is Beam's own choice from the flags.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions

    options = PipelineOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    runner = standard.runner
    if standard.streaming or (
        runner is not None and (not isinstance(runner, str) or runner.lower() not in DIRECT_RUNNERS)
    ):
        return beam.Pipeline(options=options)
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    )
    return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=provision), options=options)


# Flags shared by `backtest` and `optimize`, added as plain argparse arguments: Beam parses
# every PipelineOptions subclass together, so each of these names is registered with Beam once
# (by BacktestOptions) and optimize adds them to its own strict parser only.
def add_input_output_flags(group) -> None:
    """--input FILE... and --output DIR."""
    group.add_argument(
        "--input",
        nargs="+",
        action="extend",
        required=True,
        metavar="FILE",
        help="trades or candles files (.csv, .csv.gz, .parquet) or glob patterns",
    )
    group.add_argument("--output", required=True, metavar="DIR", help="output directory")


def add_input_kind_flags(group) -> None:
    """--input_format and --symbol: how the input files are read."""
    group.add_argument(
        "--input_format",
        choices=["auto", "trades", "candles"],
        default="auto",
        help="auto: candles if the header has open and close columns, trades if it has "
        "price and size (default auto)",
    )
    group.add_argument(
        "--symbol",
        default=None,
        help="symbol of candles files without a symbol column (default: the file name)",
    )


def add_execution_flags(group) -> None:
    """The execution model: --fill, --allow_short, --cash, --fee, --slippage_bps, ..."""
    from tradestream.backtest.config import FILLS

    group.add_argument(
        "--fill",
        choices=list(FILLS),
        default="close",
        help="act on a signal at its candle's close (default) or the next candle's open",
    )
    group.add_argument(
        "--allow_short",
        action="store_true",
        help="SELL opens a short and BUY covers it (default: long-only)",
    )
    group.add_argument(
        "--cash", type=positive_float, default=10_000.0, help="starting cash (10000)"
    )
    group.add_argument(
        "--fee",
        type=non_negative_float,
        default=None,
        help="fee per side as a fraction of the notional, e.g. 0.001 = 0.1%% (default 0; "
        "backtest --portfolio: 0.001, as paper run)",
    )
    group.add_argument(
        "--slippage_bps",
        type=non_negative_float,
        default=0.0,
        help="adverse price move per fill, in basis points (default 0)",
    )
    group.add_argument(
        "--periods_per_year",
        type=non_negative_float,
        default=0.0,
        help="candles per year for annualizing (default: 365 days / candle interval)",
    )


def execution_config(args):
    """The ExecutionConfig of parsed execution flags (see add_execution_flags)."""
    from tradestream.backtest.config import ExecutionConfig

    return ExecutionConfig(
        cash=args.cash,
        fee=args.fee if args.fee is not None else 0.0,
        slippage_bps=args.slippage_bps,
        fill=args.fill,
        allow_short=args.allow_short,
        periods_per_year=args.periods_per_year,
    )


def parse_pipeline_args(
    argv: Sequence[str] | None,
    prog: str,
    description: str,
    option_classes: Sequence[type[PipelineOptions]],
    epilog: str = "",
    beam_args: bool = True,
) -> tuple[argparse.Namespace, list[str]]:
    """Strictly parses our flags; returns (our values, the remaining args for Beam).

    With beam_args=False any unknown flag is an error (non-Beam commands such as ingest).
    """
    parser = CommandParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    for cls in option_classes:
        cls._add_argparse_args(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    if beam_args:
        known, rest = parser.parse_known_args(argv)
    else:
        known, rest = parser.parse_args(argv), []
    return known, rest
