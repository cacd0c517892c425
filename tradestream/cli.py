"""The `tradestream` command: one entry point, a subcommand per part of the platform.

Run `tradestream --help` for the list and `tradestream COMMAND --help` for each.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pydantic import ValidationError

from tradestream.cli_types import CommandParser, validation_errors
from tradestream.kafka_clients.config import KafkaSecurityError
from tradestream.kafka_clients.positions import StalePositionError
from tradestream.runtime.errors import LocalRuntimeError

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

    add_demo(sub)
    add_signals(sub)
    add_strategies(sub)
    add_sample(sub)
    add_local(sub)
    add_paper(sub)
    add_dashboard(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "tradestream"  # errors name the command that failed once it is known
    try:
        if argv and argv[0] in PIPELINES:
            # Pipeline commands parse their own flags (argparse REMAINDER cannot pass
            # leading --options through a parent parser).
            prog = f"tradestream {argv[0]}"
            module = importlib.import_module(PIPELINES[argv[0]][0])
            return int(module.run(argv[1:]) or 0)
        args = build_parser().parse_args(argv)
        prog = args.command_prog
        return int(args.handler(args) or 0)
    except LocalRuntimeError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except (KafkaSecurityError, StalePositionError) as exc:
        # No broker, refused credentials, or a stored position of another topic: one line.
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`tradestream strategies list | head`): not an error of ours.
        # Point stdout at /dev/null so that the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ValidationError as exc:
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
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
