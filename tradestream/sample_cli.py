"""`tradestream sample`: write the bundled, deterministic sample day of trades to a file."""

from __future__ import annotations

import argparse
import sys

from tradestream.cli_types import non_negative_int, positive_float
from tradestream.market.sample_day import sample_trades


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sample",
        help="write the deterministic sample trades (CSV or Parquet) used by the demo and tests",
    )
    p.add_argument("--output", required=True, help="file to write: .csv, .csv.gz or .parquet")
    p.add_argument(
        "--hours", type=positive_float, default=24.0, help="length in hours (default 24)"
    )
    p.add_argument("--seed", type=non_negative_int, default=7, help="random seed >= 0 (default 7)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from tradestream.market.trade_files import TradeFileError, write_trades

    try:
        n = write_trades(args.output, sample_trades(hours=args.hours, seed=args.seed))
    except TradeFileError as exc:
        print(f"tradestream sample: error: {exc}", file=sys.stderr)
        return 2
    print(f"[sample] wrote {n} trades to {args.output}")
    return 0
