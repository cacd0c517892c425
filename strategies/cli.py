"""``tradestream strategies list`` and ``tradestream strategies show NAME``.

The lead wires these into the ``tradestream`` argparse CLI with ``add_parser(subparsers)``; each
handler takes the parsed ``argparse.Namespace`` and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from tradestream.cli_types import usage_error
from tradestream.strategies import library
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import Node, interval_text
from tradestream.strategies.params import ParamSpec


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Registers ``strategies`` with ``list`` and ``show NAME`` sub-commands.

    Returns:
        The ``strategies`` parser.
    """
    parser = subparsers.add_parser("strategies", help="list and inspect strategy types")
    commands = parser.add_subparsers(dest="strategies_command", required=True, metavar="COMMAND")
    listing = commands.add_parser("list", help="names, parameters, bounds and warm-up")
    listing.set_defaults(handler=list_command)
    show = commands.add_parser("show", help="parameters, defaults, description and graph")
    show.add_argument("name", help="strategy type in any case, e.g. SMA_CROSSOVER or sma_crossover")
    show.set_defaults(handler=show_command)
    return parser


# The candle interval multi-timeframe warm-ups are counted in by `list` and `show`.
LIST_INTERVAL_MS = 60_000


def _param_text(spec: ParamSpec) -> str:
    return f"{spec.name}={spec.default} [{spec.low}..{spec.high}]"


def list_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Prints one row per strategy type: name, warm-up at defaults, parameters with bounds."""
    out = out or sys.stdout
    names = library.names()
    width = max(len(name) for name in names)
    out.write(f"{'NAME':<{width}}  WARMUP  PARAMETERS (default [low..high])\n")
    longer = []
    for name in names:
        stype = library.get(name)
        params = ", ".join(_param_text(spec) for spec in stype.params)
        strategy = stype.build()
        warmup = strategy.warmup_at(LIST_INTERVAL_MS)
        if strategy.intervals_ms:
            longer.append(name)
            params += "  (reads " + ", ".join(map(interval_text, strategy.intervals_ms)) + ")"
        if strategy.reads_book:
            params += "  (reads the order book: level-2 data)"
        out.write(f"{name:<{width}}  {warmup:>6}  {params}\n")
    out.write(f"\n{len(names)} strategy types")
    if longer:
        out.write(
            f"; {len(longer)} also read longer candles (multi-timeframe): their warm-up is "
            f"counted in {interval_text(LIST_INTERVAL_MS)} candles, and the candle interval "
            "must divide each longer one"
        )
    out.write("\n")
    _flush(out)
    return 0


def _flush(out: TextIO) -> None:
    """Flushes now, inside the command: a reader that went away (`strategies list | head`)
    then raises BrokenPipeError where `tradestream` ends quietly, not in the interpreter's
    final flush, which prints a warning and exits 120."""
    out.flush()


def _tree(node: Node, indent: str, out: TextIO) -> None:
    params = ", ".join(f"{k}={v}" for k, v in node.params)
    label = str(node) if node.kind == "const" or not node.inputs else node.kind
    out.write(f"{indent}{label}{f' ({params})' if params and node.inputs else ''}\n")
    for child in node.inputs:
        _tree(child, indent + "  ", out)


def show_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Prints a type's description, parameters, constraints, warm-up and rule graphs."""
    out = out or sys.stdout
    try:
        stype = library.get(args.name)
    except StrategyError as error:
        return usage_error("tradestream strategies show", str(error))
    strategy = stype.build()
    out.write(f"{stype.name}\n\n{stype.description}\n\nParameters:\n")
    for spec in stype.params:
        out.write(f"  {spec.name:<16} {spec.kind:<5} default {spec.default:<8} "
                  f"bounds [{spec.low}, {spec.high}]  {spec.description}\n")  # fmt: skip
    if stype.constraints:
        out.write("Constraints: " + "; ".join(c.text for c in stype.constraints) + "\n")
    if strategy.intervals_ms:
        shown = ", ".join(map(interval_text, strategy.intervals_ms))
        out.write(
            f"Reads longer candles: {shown} (the candle interval must divide each)\n"
            f"Warm-up at defaults: {strategy.warmup_at(LIST_INTERVAL_MS)} candles of "
            f"{interval_text(LIST_INTERVAL_MS)}\n"
        )
    else:
        out.write(f"Warm-up at defaults: {strategy.warmup} candles\n")
    if strategy.reads_book:
        out.write(
            "Reads the order book (level 2): realtime with --book_topic, backtest with --book\n"
        )
    out.write(f"Strategy id at defaults: {strategy.strategy_id}\n\nEntry (BUY):\n")
    _tree(strategy.entry, "  ", out)
    out.write("Exit (SELL):\n")
    _tree(strategy.exit, "  ", out)
    _flush(out)
    return 0
