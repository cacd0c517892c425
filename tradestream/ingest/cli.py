"""`tradestream ingest`: trades into the Kafka `trades` topic, order books into `book`.

    tradestream ingest --source=coinbase --products BTC-USD,ETH-USD --metrics_port 9464
    tradestream ingest --source=replay --input=trades.csv --speed=60
    tradestream ingest --source=replay --speed=max          # the bundled sample day
    tradestream ingest --source=ohlc-replay --input=data/ --speed=600
    tradestream ingest --source=coinbase --channel=level2 --products BTC-USD,ETH-USD
    tradestream ingest --source=replay --channel=level2 --input=book.jsonl

Sources:
  coinbase      the Coinbase Advanced Trade WebSocket (`market_trades` + `heartbeats`), kept
                up with reconnects, silence detection and de-duplication; runs until SIGTERM
                (flushes, exits 0) or SIGINT (flushes, exits 130)
  replay        a trades CSV/Parquet file, or the bundled sample when --input is omitted
  ohlc-replay   per-symbol minute OHLC CSVs (datetime,open,high,low,close[,volume]); each
                bar becomes four trades at open, low/high, high/low, close

Every source writes protobuf Trades keyed by symbol with the trade's time as the Kafka
timestamp, through an idempotent producer (acks=all); unusable input goes to the dead-letter
topic with its reason. A replay ends with where every record read went, e.g.

    [ingest] done: 15 trades (1,200/s); 21 rows: 15 sent, 6 dead-lettered to trades-dlq
             (invalid_price 6), 0 already on the topic skipped

Without a broker at --bootstrap_servers every source stops at once with one line (exit 2).

--channel=level2 ingests level-2 order books instead of trades (coinbase: the `level2`
channel; replay: a recorded book file, JSON lines of Coinbase frames) as protobuf
BookUpdates keyed by symbol into --book_topic (created when missing): snapshots, then
updates; sequence gaps, crossed books, negative sizes, unknown symbols and updates before a
snapshot are dead-lettered with their reason, and the live feed re-subscribes a book that
needs a fresh snapshot. Books do not resume: a restart starts with fresh snapshots.

A restart resumes (unless --no_resume): it first reads the tail of the trades topic. A replay
skips each symbol's trades up to and including its last trade already there (time-ordered
input: nothing is sent twice, nothing left out); Coinbase remembers the trade ids already
there, so the snapshot a new subscription starts with is not produced again.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apache_beam.options.pipeline_options import PipelineOptions
from confluent_kafka import KafkaException

from tradestream.cli_types import (
    duration_ms,
    port,
    positive_float,
    positive_int,
    speed_factor,
)
from tradestream.exchanges.coinbase import DEFAULT_WS_URL, MARKET_TRADES
from tradestream.exchanges.coinbase_level2 import LEVEL2
from tradestream.exchanges.order_book import BookBuilder
from tradestream.exchanges.recordings import BookFileError, read_frames
from tradestream.ingest.accounting import ReplayAccount
from tradestream.ingest.book_metrics import BookMetrics, account_line
from tradestream.ingest.book_replay import replay_book
from tradestream.ingest.book_stream import CoinbaseBookStream
from tradestream.ingest.coinbase_stream import (
    CoinbaseStreamConfig,
    CoinbaseTradeStream,
    parse_products,
    run_until_signalled,
)
from tradestream.ingest.dedup import DEFAULT_WINDOW
from tradestream.ingest.metrics import IngestMetrics, MetricsServer
from tradestream.ingest.ohlc_replay import expand_inputs, read_ohlc
from tradestream.ingest.producer import BookProducer, TradeProducer
from tradestream.ingest.replay import replay
from tradestream.ingest.resume import (
    SEED_IDS,
    ResumeStats,
    TopicTail,
    describe,
    seed_recent_ids,
    skip_already_sent,
)
from tradestream.ingest.ws_client import BackoffPolicy
from tradestream.kafka_clients.config import KafkaSecurityError, require_broker
from tradestream.local.kafka import describe_topics, ensure_topics
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import TradeFileError, read_trades
from tradestream.market.trade_validation import SYMBOL_PATTERN
from tradestream.pipelines.options import KafkaOptions, parse_pipeline_args
from tradestream.runtime.errors import LocalRuntimeError
from tradestream.settings import get_settings

SOURCES = ("replay", "coinbase", "ohlc-replay")
CHANNELS = (MARKET_TRADES, LEVEL2)


def _products(text: str) -> tuple[str, ...]:
    products = parse_products(text)
    bad = [p for p in products if not SYMBOL_PATTERN.fullmatch(p)]
    if bad:
        raise argparse.ArgumentTypeError(
            f"not a product id (BASE-QUOTE, e.g. BTC-USD): {', '.join(bad)}"
        )
    if not products:
        raise argparse.ArgumentTypeError("no products given")
    return products


def _ws_url(text: str) -> str:
    if not text.startswith(("ws://", "wss://")):
        raise argparse.ArgumentTypeError(f"expected a ws:// or wss:// URL, got {text!r}")
    return text


def _zone(text: str) -> str:
    # Option values must stay plain (they travel to runners as JSON): validate, return text.
    try:
        ZoneInfo(text)
        return text
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            f"unknown time zone {text!r} (e.g. UTC, America/New_York)"
        ) from exc


class IngestOptions(PipelineOptions):
    """Which source, and (for files) which input at which speed."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("ingest")
        group.add_argument(
            "--source",
            choices=SOURCES,
            default="replay",
            help=(
                "coinbase: the live exchange feed; replay: a trades file, or the bundled sample "
                "day when --input is omitted; ohlc-replay: minute OHLC files (default replay)"
            ),
        )
        group.add_argument(
            "--input",
            default=None,
            help=(
                "replay: trades file (.csv, .csv.gz, .parquet) with time,symbol,price,size; "
                "ohlc-replay: OHLC CSV files (comma-separated) or a directory of them"
            ),
        )
        group.add_argument(
            "--speed",
            type=speed_factor,
            default=None,
            help="replay speed factor (60 = an hour per minute) or 'max' (default max)",
        )
        group.add_argument(
            "--sample_hours",
            type=positive_float,
            default=24.0,
            help="length of the bundled sample when --input is omitted (default 24)",
        )
        group.add_argument(
            "--channel",
            choices=CHANNELS,
            default=MARKET_TRADES,
            help=(
                "market_trades: trades into --trades_topic; level2: order books into "
                "--book_topic (--source=coinbase, or --source=replay of a recorded book file: "
                "JSON lines of Coinbase frames) (default market_trades)"
            ),
        )
        group.add_argument(
            "--no_resume",
            action="store_true",
            help=(
                "send everything again. By default a restart resumes from the trades topic: "
                "replays skip each symbol's trades up to its last one already on the topic; "
                "coinbase drops trades whose ids are already there"
            ),
        )


class CoinbaseOptions(PipelineOptions):
    """The live Coinbase feed: products, endpoint, and how hard to hold on."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("coinbase (--source=coinbase)")
        group.add_argument(
            "--products",
            type=_products,
            default=None,
            help="comma-separated product ids, e.g. BTC-USD,ETH-USD (required)",
        )
        group.add_argument(
            "--ws_url",
            type=_ws_url,
            default=DEFAULT_WS_URL,
            help=f"WebSocket endpoint (default {DEFAULT_WS_URL}; a sandbox or local fake)",
        )
        group.add_argument(
            "--products_per_connection",
            type=positive_int,
            default=10,
            help="products sharing one WebSocket connection (default 10)",
        )
        group.add_argument(
            "--silence_timeout",
            type=duration_ms,
            default=10_000,
            help="reconnect when no message (not even a heartbeat) arrives for this long (default 10s)",
        )
        group.add_argument(
            "--open_timeout",
            type=duration_ms,
            default=10_000,
            help="limit on one connect + handshake (default 10s)",
        )
        group.add_argument(
            "--reconnect_initial",
            type=duration_ms,
            default=500,
            help="first reconnect wait; doubles per failed attempt, with jitter (default 500ms)",
        )
        group.add_argument(
            "--reconnect_max",
            type=duration_ms,
            default=30_000,
            help="longest reconnect wait (default 30s)",
        )
        group.add_argument(
            "--dedup_window",
            type=positive_int,
            default=DEFAULT_WINDOW,
            help=f"trade ids remembered per product to drop replays (default {DEFAULT_WINDOW})",
        )
        group.add_argument(
            "--log_every",
            type=duration_ms,
            default=10_000,
            help="period of the summary log line (trades/s per product, reconnects, ...; default 10s)",
        )
        group.add_argument(
            "--metrics_port",
            type=port,
            default=None,
            help="serve Prometheus metrics on GET /metrics at this port (0: any free port; default off)",
        )
        group.add_argument(
            "--metrics_host",
            default="127.0.0.1",
            help="address of the metrics endpoint (default 127.0.0.1; 0.0.0.0 in a pod)",
        )


class OhlcReplayOptions(PipelineOptions):
    """How OHLC bars become trades (--source=ohlc-replay)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("ohlc-replay (--source=ohlc-replay)")
        group.add_argument(
            "--quote",
            default="USD",
            help="quote currency appended to file names without one: AAPL.csv -> AAPL-USD",
        )
        group.add_argument(
            "--bar_interval",
            type=duration_ms,
            default=60_000,
            help="length of one bar (default 1m)",
        )
        group.add_argument(
            "--unit_size",
            type=positive_float,
            default=1.0,
            help="size of each trade when the file has no volume (default 1)",
        )
        group.add_argument(
            "--ohlc_timezone",
            type=_zone,
            default="UTC",
            help="zone of datetimes written without one, e.g. America/New_York (default UTC)",
        )


def run(argv: Sequence[str] | None = None) -> int:
    args, _ = parse_pipeline_args(
        argv,
        prog="tradestream ingest",
        description=__doc__,
        option_classes=[IngestOptions, CoinbaseOptions, OhlcReplayOptions, KafkaOptions],
        beam_args=False,
    )
    if args.channel == LEVEL2:
        return _run_book(args)
    if args.source == "coinbase":
        return _run_coinbase(args)
    try:
        stream, source, unit = _file_records(args)
    except (TradeFileError, ValueError) as exc:
        print(f"tradestream ingest: error: {exc}", file=sys.stderr)
        return 2
    return _run_replay(args, stream, source, unit)


def _file_records(args: argparse.Namespace) -> tuple[Iterator, str, str]:
    """The records of a replay source, its description and what a record is called in it.

    File errors surface here.
    """
    if args.source == "ohlc-replay":
        if not args.input:
            raise ValueError("--source=ohlc-replay needs --input (OHLC files or a directory)")
        paths = expand_inputs(args.input)
        records = read_ohlc(
            paths, args.quote, ZoneInfo(args.ohlc_timezone), args.bar_interval, args.unit_size
        )
        source = f"{len(paths)} OHLC file(s) ({', '.join(p.name for p in paths[:5])}{'...' if len(paths) > 5 else ''})"
        unit = "records (4 trades per bar, 1 per bad bar)"
    elif args.input:
        records = read_trades(Path(args.input))
        source, unit = args.input, "rows"
    else:
        return (
            sample_trades(hours=args.sample_hours),
            f"the bundled sample ({args.sample_hours:g} h)",
            "sample trades",
        )
    first = next(records, None)  # surfaces a missing file or columns now

    def all_records():
        if first is not None:
            yield first
        yield from records

    return all_records(), source, unit


def _run_replay(args: argparse.Namespace, stream: Iterator, source: str, unit: str) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings = get_settings()
    try:
        require_broker(settings, args.bootstrap_servers)  # no broker: one line in seconds
        producer = TradeProducer(
            settings, args.trades_topic, args.dlq_topic, bootstrap=args.bootstrap_servers
        )
    except KafkaSecurityError as exc:
        print(f"tradestream ingest: error: {exc}", file=sys.stderr)
        return 2
    account = ReplayAccount(resume=None if args.no_resume else ResumeStats())
    stream = account.reading(stream)
    tail = None
    if account.resume is not None:
        try:
            tail = TopicTail.open(settings, args.bootstrap_servers, args.trades_topic)
        except (ValueError, KafkaException) as exc:
            producer.close()
            print(f"tradestream ingest: error: {_reason(exc)}", file=sys.stderr)
            return 2
        found = tail.symbols()
        if found:
            print(
                f"[ingest] resuming: {describe(found)}; each symbol's trades up to its last one "
                "there are skipped (--no_resume sends everything)",
                flush=True,
            )
        else:
            print(f"[ingest] resuming: {args.trades_topic} has no trades yet", flush=True)
        stream = skip_already_sent(stream, tail.last_trade, account.resume)
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
            account=account,
        )
    except KeyboardInterrupt:
        producer.flush()
        account.stopped = True
        print(f"[ingest] interrupted: {account.summary(unit, args.dlq_topic)}", flush=True)
        return 130
    except RuntimeError as exc:  # records Kafka did not take
        print(f"tradestream ingest: error: {exc}", file=sys.stderr)
        return 1
    except KafkaException as exc:  # a record the producer refused to queue
        print(f"tradestream ingest: error: {_reason(exc)}", file=sys.stderr)
        return 1
    finally:
        producer.close()
        if tail is not None:
            tail.close()
    ended = "stopped (SIGTERM)" if result.stopped else "done"
    print(
        f"[ingest] {ended}: {result.sent} trades ({result.rate:,.0f}/s); "
        f"{account.summary(unit, args.dlq_topic)}",
        flush=True,
    )
    if not account.balanced:  # a record read went nowhere: say so loudly, never exit 0
        print(
            f"tradestream ingest: error: {account.unaccounted} of {account.read} {unit} were "
            "neither sent, dead-lettered nor skipped",
            file=sys.stderr,
        )
        return 1
    return 0


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s [ingest] %(levelname)s %(message)s",
        stream=sys.stdout,
    )
    # The client library logs every connection open/close at INFO; ours already does.
    logging.getLogger("websockets").setLevel(logging.WARNING)


def _coinbase_config(args: argparse.Namespace) -> CoinbaseStreamConfig:
    """The stream settings of the flags; ValueError for nonsense."""
    return CoinbaseStreamConfig(
        products=args.products,
        ws_url=args.ws_url,
        products_per_connection=args.products_per_connection,
        silence_timeout_s=args.silence_timeout / 1000,
        open_timeout_s=args.open_timeout / 1000,
        backoff=BackoffPolicy(args.reconnect_initial / 1000, args.reconnect_max / 1000),
        dedup_window=args.dedup_window,
        log_every_s=args.log_every / 1000,
    )


def _run_coinbase(args: argparse.Namespace) -> int:
    if not args.products:
        print("tradestream ingest: error: --source=coinbase needs --products", file=sys.stderr)
        return 2
    try:
        config = _coinbase_config(args)
    except ValueError as exc:
        print(f"tradestream ingest: error: {exc}", file=sys.stderr)
        return 2
    settings = get_settings()
    try:
        require_broker(settings, args.bootstrap_servers)  # no broker: one line in seconds
    except KafkaSecurityError as exc:
        print(f"tradestream ingest: error: {exc}", file=sys.stderr)
        return 2
    _configure_logging()
    log = logging.getLogger("tradestream.ingest")
    metrics = IngestMetrics()
    server = None
    if args.metrics_port is not None:
        server = MetricsServer(metrics, args.metrics_port, args.metrics_host).start()
        log.info("metrics on http://%s:%d/metrics", server.host, server.port)
    try:
        producer = TradeProducer(
            settings, args.trades_topic, args.dlq_topic, bootstrap=args.bootstrap_servers
        )
    except KafkaSecurityError as exc:
        if server is not None:
            server.stop()
        log.error("%s", exc)
        return 2
    stream = CoinbaseTradeStream(config, producer, metrics)
    if not args.no_resume:
        keep = min(config.dedup_window, SEED_IDS)
        try:
            with TopicTail.open(settings, args.bootstrap_servers, args.trades_topic, keep) as tail:
                seeded = seed_recent_ids(stream.dedup, config.products, tail.recent)
        except (ValueError, KafkaException) as exc:
            producer.close()
            if server is not None:
                server.stop()
            log.error("%s", _reason(exc))
            return 2
        log.info(
            "resuming: %d of %d product(s) already on %s; their last %d trade id(s) are "
            "remembered as duplicates (--no_resume forgets them)",
            len(seeded),
            len(config.products),
            args.trades_topic,
            sum(seeded.values()),
        )
    code = _stream_until_stopped(stream, producer, server)
    log.info(
        "stopped: %d trades produced, %d duplicates dropped, %d dead letters, %d reconnects, "
        "%d failed connects",
        metrics.total_trades,
        metrics.total_duplicates,
        metrics.dead_letters,
        metrics.reconnects,
        metrics.failed_connects,
    )
    return code


def _error(message: object) -> int:
    print(f"tradestream ingest: error: {message}", file=sys.stderr)
    return 2


def _reason(exc: Exception) -> str:
    """An error as one line: librdkafka's words for a KafkaException (not its repr)."""
    return exc.args[0].str() if isinstance(exc, KafkaException) else str(exc)


def _book_producer(args: argparse.Namespace) -> BookProducer:
    """A producer into the book topic, which is created when missing (`local up` creates the
    trades topics only). Raises KafkaSecurityError, KafkaUnavailableError, LocalRuntimeError
    (the topic list), KafkaException."""
    settings = get_settings()
    require_broker(settings, args.bootstrap_servers)  # no broker: one line in seconds
    if args.book_topic not in describe_topics(args.bootstrap_servers, settings):
        ensure_topics(
            args.bootstrap_servers, [args.book_topic], settings.topic_partitions, settings
        )
        print(
            f"[ingest] created topic {args.book_topic} ({settings.topic_partitions} partitions)",
            flush=True,
        )
    return BookProducer(settings, args.book_topic, args.dlq_topic, bootstrap=args.bootstrap_servers)


def _run_book(args: argparse.Namespace) -> int:
    """--channel=level2: the live Coinbase books, or a recorded book file."""
    if args.source == "coinbase":
        if not args.products:
            return _error("--source=coinbase needs --products")
        try:
            config = _coinbase_config(args)
        except ValueError as exc:
            return _error(exc)
    elif args.source == "replay":
        if not args.input:
            return _error("--source=replay --channel=level2 needs --input (a recorded book file)")
        try:
            frames = read_frames(Path(args.input))
        except BookFileError as exc:
            return _error(exc)
    else:
        return _error(f"--channel=level2 works with --source=coinbase or replay, not {args.source}")
    try:
        producer = _book_producer(args)
    except (KafkaSecurityError, LocalRuntimeError) as exc:
        return _error(exc)
    except KafkaException as exc:
        return _error(_reason(exc))
    if args.source == "coinbase":
        return _run_coinbase_book(args, config, producer)
    return _run_book_replay(args, frames, producer)


def _run_book_replay(
    args: argparse.Namespace, frames: Iterator[str], producer: BookProducer
) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    builder = BookBuilder(args.products or None, recorded=True)
    metrics = BookMetrics()
    speed = "max" if args.speed is None else f"{args.speed:g}x"
    print(
        f"[ingest] replaying the book file {args.input} into {args.book_topic} on "
        f"{args.bootstrap_servers} at speed {speed}",
        flush=True,
    )
    try:
        result = replay_book(
            frames, builder, producer, metrics, speed=args.speed, should_stop=stop.is_set
        )
    except KeyboardInterrupt:
        producer.flush()
        print(f"[ingest] interrupted: {account_line(metrics, args.dlq_topic)}", flush=True)
        return 130
    except BookFileError as exc:
        producer.flush()
        return _error(exc)
    except RuntimeError as exc:
        print(f"tradestream ingest: error: {exc}", file=sys.stderr)
        return 1
    except KafkaException as exc:
        print(f"tradestream ingest: error: {_reason(exc)}", file=sys.stderr)
        return 1
    finally:
        producer.close()
    ended = "stopped (SIGTERM)" if result.stopped else "done"
    print(
        f"[ingest] {ended}: {metrics.total_updates} book updates from {result.frames} frames "
        f"({result.seconds:.1f}s); {account_line(metrics, args.dlq_topic)}",
        flush=True,
    )
    if metrics.unaccounted:
        print(
            f"tradestream ingest: error: {metrics.unaccounted} of {metrics.records} records were "
            "neither sent, dead-lettered, skipped nor control",
            file=sys.stderr,
        )
        return 1
    return 0


def _run_coinbase_book(
    args: argparse.Namespace, config: CoinbaseStreamConfig, producer: BookProducer
) -> int:
    _configure_logging()
    log = logging.getLogger("tradestream.ingest")
    metrics = BookMetrics()
    server = None
    if args.metrics_port is not None:
        server = MetricsServer(metrics, args.metrics_port, args.metrics_host).start()
        log.info("metrics on http://%s:%d/metrics", server.host, server.port)
    stream = CoinbaseBookStream(config, producer, metrics)
    code = _stream_until_stopped(stream, producer, server)
    log.info("stopped: %s", account_line(metrics, args.dlq_topic))
    return code


def _stream_until_stopped(stream, producer, server) -> int:
    """Runs an exchange stream until SIGINT/SIGTERM (or its end), flushes and closes the
    producer and stops the metrics server; returns the exit status (130 after Ctrl-C, 1 when
    the stream or Kafka failed, said in one log line)."""
    log = logging.getLogger("tradestream.ingest")
    code = 0
    try:
        received = run_until_signalled(stream)
        code = 130 if received == signal.SIGINT else 0
        log.info(
            "stopping (%s); flushing Kafka", signal.Signals(received).name if received else "done"
        )
        producer.flush()
    except Exception as exc:  # a bad endpoint or Kafka failures: say so, exit non-zero
        log.error("%s", exc)
        code = 1
    finally:
        producer.close()
        if server is not None:
            server.stop()
    return code


if __name__ == "__main__":
    sys.exit(run())
