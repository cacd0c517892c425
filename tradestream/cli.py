"""The `tradestream` command: one entry point, a subcommand per part of the platform.

Run `tradestream --help` for the list and `tradestream COMMAND --help` for each.
"""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from tradestream.local.errors import LocalRuntimeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradestream",
        description="TradeStream: algorithmic trading signals on Apache Beam and Flink.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from tradestream.local.cli import add_parser as add_local

    add_local(sub)
    return parser


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
