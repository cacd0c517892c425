"""The `tradestream` command: one entry point, a subcommand per part of the platform.

Run `tradestream --help` for the list and `tradestream COMMAND --help` for each.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

# Beam's GCP extras warn about future Python/grpc support on every import; not actionable here.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")

from pydantic import ValidationError  # noqa: E402

from tradestream.local.errors import LocalRuntimeError  # noqa: E402

# Commands whose flags belong to a pipeline module: `run(argv)` parses them itself.
PIPELINES = {
    "ingest": ("pipelines.ingest", "publish trades (replay file or sample) to the trades topic"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradestream",
        description="TradeStream: algorithmic trading signals on Apache Beam and Flink.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in PIPELINES.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.add_argument("pipeline_args", nargs=argparse.REMAINDER)
        p.set_defaults(handler=_pipeline_handler(module))
    from strategies.cli import add_parser as add_strategies
    from tradestream.local.cli import add_parser as add_local
    from tradestream.sample_cli import add_parser as add_sample
    from tradestream.signals_tail import add_parser as add_signals

    add_signals(sub)
    add_strategies(sub)
    add_sample(sub)
    add_local(sub)
    return parser


def _pipeline_handler(module: str):
    def handler(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).run(args.pipeline_args) or 0)

    return handler


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except LocalRuntimeError as exc:
        print(f"tradestream: error: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print(f"tradestream: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tradestream: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
