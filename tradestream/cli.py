"""The `tradestream` command: one entry point, a subcommand per part of the platform.

Run `tradestream --help` for the list and `tradestream COMMAND --help` for each.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.abc
import os
import sys
from collections.abc import Iterator, Sequence

from tradestream.cli_types import CommandParser

# Commands whose flags belong to a pipeline module: `run(argv)` parses them itself.
PIPELINES = {
    "ingest": (
        "tradestream.ingest.cli",
        "publish trades to the trades topic (coinbase, replay file or sample, OHLC bars)",
    ),
    "backtest": (
        "tradestream.pipelines.backtest",
        "backtest strategies or grids on trade/candle files",
    ),
    "realtime": (
        "tradestream.pipelines.realtime",
        "the streaming pipeline: Kafka trades -> signals (Flink)",
    ),
    "optimize": (
        "tradestream.pipelines.optimize",
        "genetic search of strategy parameters, walk-forward",
    ),
}


# A local backtest run as the `tradestream` command (issue 22: as fast as backtesting.py's
# whole process) is started lean:
# - Modules that `import apache_beam` loads eagerly though a batch job on the DirectRunner
#   never uses them are reported missing while the pipeline module is imported, as on an
#   install without those extras, and import normally afterwards: Beam's Google Cloud, AWS,
#   Azure and HDFS connectors (each optional in Beam, imported under `except
#   ModuleNotFoundError`), google-api-core and apitools (Beam's retry helpers import them for
#   their exception types; api-core also checks its dependencies' versions on import),
#   pandas (Beam's `dataframe` extra; a backtest is numpy) and pymongo (Beam's MongoDB
#   connector; its "no bson package" log line is silenced): ~1 s of ~2 s of imports.
# - The objects of those imports are moved out of the garbage collector's sight
#   (`gc.freeze`), and so are the run's when it ends: the collector no longer walks the
#   ~1 million objects of Beam's modules during the run and again at exit (~0.2 s).
# - glibc's allocator keeps the memory numpy frees for the next chunk's arrays instead of
#   handing it back to the kernel and faulting fresh zeroed pages in again (mallopt: arrays
#   up to 1 GB from the heap, whose top is kept): the 1,225-set sweep over 50,000 candles
#   8.6 -> 7.5 s, peak RSS 472 -> 482 MB, the same results.
# Only for the process's own command (`main()` reading sys.argv), not for in-process calls
# (tests): these changes last for the life of the process.
_LEAN_PIPELINES = ("backtest",)
_UNUSED_BY_LOCAL_BATCH = (
    "apache_beam.io.gcp",
    "apache_beam.io.aws",
    "apache_beam.io.azure",
    "apache_beam.io.hadoopfilesystem",
    "google.api_core",
    "apitools",
    "pandas",
    "pymongo",
    "bson",
)
# The loggers of Beam modules that say so when an optional package is missing.
_QUIET_LOGGERS = ("apache_beam.io.mongodbio",)
# The runner names of Beam's DirectRunner (as `tradestream.pipelines.options.DIRECT_RUNNERS`,
# not imported from there: that would import Beam).
_DIRECT_RUNNERS = ("directrunner", "direct", "switchingdirectrunner")


class _Missing(importlib.abc.MetaPathFinder):
    """Reports `names` (and their submodules) as not installed."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = tuple(names)
        self._prefixes = tuple(n + "." for n in names)

    def find_spec(self, name, path=None, target=None):
        if name in self._names or name.startswith(self._prefixes):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@contextlib.contextmanager
def _hidden(names: Sequence[str]) -> Iterator[None]:
    finder = _Missing(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


@contextlib.contextmanager
def _quiet(loggers: Sequence[str]) -> Iterator[None]:
    import logging

    silenced = [logging.getLogger(name) for name in loggers]
    for logger in silenced:
        logger.disabled = True
    try:
        yield
    finally:
        for logger in silenced:
            logger.disabled = False


def _runs_locally(args: Sequence[str]) -> bool:
    """Whether the pipeline flags leave the runner at Beam's DirectRunner."""
    runner = "DirectRunner"
    for i, arg in enumerate(args):
        if arg == "--runner" and i + 1 < len(args):
            runner = args[i + 1]
        elif arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
    return runner.lower() in _DIRECT_RUNNERS


def _reuse_freed_memory() -> None:
    """glibc only (elsewhere a no-op): freed memory stays in the process for reuse."""
    import ctypes
    import ctypes.util

    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    mallopt(m_trim_threshold, ctypes.c_int(2**31 - 1))  # never give the heap's top back
    mallopt(m_top_pad, ctypes.c_int(256 * 2**20))  # grow the heap 256 MB at a time
    mallopt(m_mmap_threshold, ctypes.c_int(2**30))  # arrays up to 1 GB from the heap


def run_pipeline(command: str, args: Sequence[str], own_process: bool = False) -> int:
    """Runs a pipeline command; lean (see above) for a local backtest in its own process.

    Args:
        command: a key of PIPELINES.
        args: the command's flags.
        own_process: the process is this command (the console script), not a caller's.
    """
    module_name = PIPELINES[command][0]
    lean = (
        own_process
        and command in _LEAN_PIPELINES
        and "apache_beam" not in sys.modules
        and _runs_locally(args)
    )
    if not lean:
        return int(importlib.import_module(module_name).run(list(args)) or 0)
    _reuse_freed_memory()
    with _hidden(_UNUSED_BY_LOCAL_BATCH), _quiet(_QUIET_LOGGERS):
        module = importlib.import_module(module_name)
    gc.freeze()
    code = int(module.run(list(args)) or 0)
    gc.freeze()
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="tradestream",
        description="TradeStream: algorithmic trading signals on Apache Beam and Flink.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in PIPELINES.items():
        sub.add_parser(name, help=help_text, add_help=False)
    from tradestream.dashboard.cli import add_parser as add_dashboard
    from tradestream.demo import add_parser as add_demo
    from tradestream.local.cli import add_parser as add_local
    from tradestream.paper.cli import add_parser as add_paper
    from tradestream.sample_cli import add_parser as add_sample
    from tradestream.signals_tail import add_parser as add_signals
    from tradestream.strategies.cli import add_parser as add_strategies
    from tradestream.train_cli import add_parser as add_train

    add_demo(sub)
    add_signals(sub)
    add_strategies(sub)
    add_sample(sub)
    add_local(sub)
    add_paper(sub)
    add_dashboard(sub)
    add_train(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    own_process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "tradestream"  # errors name the command that failed once it is known
    try:
        if argv and argv[0] in PIPELINES:
            # Pipeline commands parse their own flags (argparse REMAINDER cannot pass
            # leading --options through a parent parser).
            prog = f"tradestream {argv[0]}"
            return run_pipeline(argv[0], argv[1:], own_process)
        args = build_parser().parse_args(argv)
        prog = args.command_prog
        return int(args.handler(args) or 0)
    except BrokenPipeError:
        # The reader went away (`tradestream strategies list | head`): not an error of ours.
        # Point stdout at /dev/null so that the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        code = _known_error(prog, exc)
        if code is None:
            raise
        return code


def _known_error(prog: str, exc: Exception) -> int | None:
    """Prints an error the commands report as one line; its exit status (None: not one).

    The error types are imported here, when one is raised: importing them up front (Kafka
    clients, pydantic) cost every command, a backtest included, ~0.1 s.
    """
    from pydantic import ValidationError

    from tradestream.cli_types import validation_errors
    from tradestream.kafka_clients.config import KafkaSecurityError
    from tradestream.kafka_clients.positions import StalePositionError
    from tradestream.runtime.errors import LocalRuntimeError

    if isinstance(exc, LocalRuntimeError):
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    if isinstance(exc, KafkaSecurityError | StalePositionError):
        # No broker, refused credentials, or a stored position of another topic: one line.
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if isinstance(exc, ValidationError):
        # One line per problem. Settings come from TRADESTREAM_* variables, which may hold
        # secrets: their values are not repeated.
        settings = exc.title == "Settings"
        for line in validation_errors(
            exc.errors(),
            name=(lambda field: f"TRADESTREAM_{field.upper()}") if settings else str,
            show_input=not settings,
        ):
            print(f"{prog}: error: {line}", file=sys.stderr)
        return 2
    return None


if __name__ == "__main__":
    sys.exit(main())
