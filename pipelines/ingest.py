"""`tradestream ingest`: trades into the Kafka `trades` topic.

    tradestream ingest --source=replay --input=trades.csv --speed=60
    tradestream ingest --source=replay --speed=max          # the bundled sample day

Sources: `replay` (a trades CSV/Parquet file, or the bundled sample when --input is
omitted). Every source writes protobuf Trades keyed by symbol with the trade's time as the
Kafka timestamp, through an idempotent producer (acks=all); unusable rows go to the
dead-letter topic with their reason.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.options import KafkaOptions, parse_pipeline_args
from tradestream.ingest.producer import TradeProducer
from tradestream.ingest.replay import replay
from tradestream.sample import sample_trades
from tradestream.settings import get_settings
from transforms.trade_files import TradeFileError, read_trades


def speed_factor(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--speed takes a number > 0 or 'max', got {text!r}"
        ) from exc
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--speed must be > 0, got {text!r}")
    return value


class IngestOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("ingest")
        group.add_argument(
            "--source",
            choices=["replay"],
            default="replay",
            help="replay: a trades file, or the bundled sample day when --input is omitted",
        )
        group.add_argument(
            "--input",
            default=None,
            help="trades file (.csv, .csv.gz, .parquet) with time,symbol,price,size",
        )
        group.add_argument(
            "--speed",
            type=speed_factor,
            default=None,
            help="replay speed factor (60 = an hour per minute) or 'max' (default max)",
        )
        group.add_argument(
            "--sample_hours",
            type=float,
            default=24.0,
            help="length of the bundled sample when --input is omitted (default 24)",
        )


def run(argv: Sequence[str] | None = None) -> int:
    args, _ = parse_pipeline_args(
        argv,
        prog="tradestream ingest",
        description=__doc__,
        option_classes=[IngestOptions, KafkaOptions],
        beam_args=False,
    )
    if args.input:
        try:
            records = read_trades(Path(args.input))
            first = next(records, None)  # surfaces a missing file or columns now
        except TradeFileError as exc:
            print(f"tradestream ingest: error: {exc}", file=sys.stderr)
            return 2
        source = args.input

        def all_records():
            if first is not None:
                yield first
            yield from records

        stream = all_records()
    else:
        source = f"the bundled sample ({args.sample_hours:g} h)"
        stream = sample_trades(hours=args.sample_hours)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    producer = TradeProducer(
        get_settings(), args.trades_topic, args.dlq_topic, bootstrap=args.bootstrap_servers
    )
    speed = "max" if args.speed is None else f"{args.speed:g}x"
    print(
        f"[ingest] replaying {source} into {args.trades_topic} on {args.bootstrap_servers} "
        f"at speed {speed}",
        flush=True,
    )
    try:
        result = replay(
            stream,
            producer,
            speed=args.speed,
            progress=lambda n, s: print(f"[ingest] {n} trades, {n / s:,.0f}/s", flush=True),
            should_stop=stop.is_set,
        )
    except KeyboardInterrupt:
        producer.flush()
        print(f"[ingest] interrupted after {producer.stats.sent} trades", flush=True)
        return 130
    finally:
        producer.close()
    print(
        f"[ingest] done: {result.sent} trades ({result.rate:,.0f}/s), "
        f"{result.dead_lettered} dead-lettered to {args.dlq_topic}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(run())
