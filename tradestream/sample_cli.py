"""`tradestream sample`: write the bundled, deterministic sample day of trades to a file, and
optionally a level-2 session around them (`--level2 FILE`, Coinbase frames as JSON lines)."""

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
    p.add_argument(
        "--level2",
        default=None,
        metavar="FILE",
        help="also write a synthetic Coinbase level-2 session around the trades (JSON lines "
        "of frames, .gz too): `backtest --book FILE`, `ingest --channel=level2 --source=replay`",
    )
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from tradestream.market.trade_files import TradeFileError, write_trades

    trades = list(sample_trades(hours=args.hours, seed=args.seed))
    try:
        n = write_trades(args.output, trades)
    except TradeFileError as exc:
        print(f"tradestream sample: error: {exc}", file=sys.stderr)
        return 2
    print(f"[sample] wrote {n} trades to {args.output}")
    if args.level2:
        import gzip

        from tradestream.exchanges.sample_level2 import sample_level2_frames

        opener = gzip.open if args.level2.endswith(".gz") else open
        try:
            with opener(args.level2, "wt", encoding="utf-8") as out:
                frames = 0
                for frame in sample_level2_frames(trades, seed=args.seed):
                    out.write(frame + "\n")
                    frames += 1
        except OSError as exc:
            print(f"tradestream sample: error: --level2 {args.level2}: {exc}", file=sys.stderr)
            return 2
        print(f"[sample] wrote {frames} level-2 frames to {args.level2}")
    return 0
