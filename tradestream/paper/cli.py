"""`tradestream paper`: run the paper executor, show its portfolio, re-arm its breaker.

    tradestream paper run [--db URL] [portfolio flags]    consume signals until SIGTERM
    tradestream paper status [--db URL] [--json]          the stored portfolio
    tradestream paper reset-breaker [--db URL]            re-arm the circuit breaker

Portfolio flags given on the command line override the settings stored in the database
(each override is logged); flags not given keep the stored value, or the default for a new
database. The database is `TRADESTREAM_PAPER_DB_URL`, default `sqlite:///<state_dir>/paper.db`;
a `postgresql://USER:PASSWORD@HOST:PORT/DATABASE` URL keeps it on a PostgreSQL server.

No broker, a stored position that no longer fits the topic (see `--on_topic_reset`) and a
database that cannot be used (a damaged file; a PostgreSQL server that is not there, refuses
the login or lacks the database) are one line on stderr (the URL without its password) and
exit status 2.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable

from tradestream.cli_types import duration_ms, positive_float, positive_int
from tradestream.kafka_clients.config import KafkaSecurityError
from tradestream.kafka_clients.positions import ON_TOPIC_RESET, StalePositionError
from tradestream.portfolio.flags import add_portfolio_flags, given_settings
from tradestream.settings import get_settings


def _error(args: argparse.Namespace, message: object) -> None:
    """Prints `tradestream paper CMD: error: MESSAGE`, the prefix of the command that ran."""
    print(
        f"{getattr(args, 'command_prog', 'tradestream paper')}: error: {message}", file=sys.stderr
    )


def _without_password(url: str) -> str:
    """`url` with any password replaced by *** (help texts; SQLAlchemy is not loaded yet)."""
    return re.sub(r"(://[^/@:]*:)[^/]*@", r"\1***@", url)


def _db_flag(parser: argparse.ArgumentParser) -> None:
    s = get_settings()
    parser.add_argument(
        "--db",
        default=s.paper_db,
        metavar="URL",
        help="database of the portfolio: sqlite:///FILE, or "
        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE for a PostgreSQL server (`tradestream "
        f"local up --postgres` starts one) (default {_without_password(s.paper_db)}; "
        "TRADESTREAM_PAPER_DB_URL)",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    s = get_settings()
    paper = subparsers.add_parser(
        "paper",
        help="paper-trade the signals topic (run, status, reset-breaker)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = paper.add_subparsers(dest="paper_command", required=True, metavar="COMMAND")
    from tradestream.paper import executor

    run = sub.add_parser(
        "run",
        help="consume signals into the paper portfolio until SIGTERM",
        description=executor.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    _db_flag(run)
    kafka = run.add_argument_group("Kafka")
    kafka.add_argument("--bootstrap_servers", default=s.bootstrap, help="Kafka bootstrap servers")
    kafka.add_argument("--signals_topic", default=s.signals_topic, help="topic of Signals")
    kafka.add_argument(
        "--trades_topic", default=s.trades_topic, help="topic of Trades (ATR stops only)"
    )
    kafka.add_argument(
        "--group_id", default="tradestream-paper", help="consumer group (default tradestream-paper)"
    )
    kafka.add_argument(
        "--start_from",
        choices=("earliest", "latest"),
        default="earliest",
        help="where a new database starts reading (default earliest: the portfolio is a "
        "function of the whole retained stream)",
    )
    kafka.add_argument(
        "--on_topic_reset",
        choices=ON_TOPIC_RESET,
        default="fail",
        help="when the stored offsets do not fit a topic (recreated: a new topic id, or an "
        "offset beyond its end, e.g. after a broker reset): fail (default) stops with one "
        "line; start_over drops them and reads the topic from its beginning, logging what "
        "was dropped",
    )
    kafka.add_argument(
        "--max_batch", type=positive_int, default=500, help="records per transaction"
    )
    kafka.add_argument(
        "--stop_at_end",
        action="store_true",
        default=False,
        help="exit once the end offsets seen at start are reached (replays)",
    )
    kafka.add_argument(
        "--log_every", type=positive_float, default=10.0, help="seconds between status logs"
    )
    candles = run.add_argument_group(
        "candles (trade as `backtest --portfolio` does: what you backtest is what paper trades)"
    )
    candles.add_argument(
        "--candles",
        action="store_true",
        default=False,
        help="build candles from the trades topic: stops are checked inside each candle's "
        "range, every symbol is marked at every close, and candles and signals are applied "
        "in the portfolio backtest's order (a candle end once complete), so a replay trades "
        "exactly as `backtest --portfolio` over the same trades",
    )
    candles.add_argument(
        "--candle_interval",
        type=duration_ms,
        default=60_000,
        metavar="DURATION",
        help="candles: their length, the signals' candle interval (default 1m)",
    )
    candles.add_argument(
        "--max_gap",
        type=positive_int,
        default=60,
        help="candles: at most this many flat candles after a real one, as the realtime "
        "pipeline (default 60)",
    )
    add_portfolio_flags(
        run.add_argument_group("portfolio (stored with the portfolio; a flag overrides it)"),
        atr_interval_help="stop=atr: candle length of the ATR built from trades (1m; with "
        "--candles, the candle interval)",
    )
    run.set_defaults(handler=run_paper)

    status = sub.add_parser("status", help="print the stored portfolio")
    _db_flag(status)
    status.add_argument("--json", action="store_true", help="the full snapshot as JSON")
    status.set_defaults(handler=run_status)

    reset = sub.add_parser(
        "reset-breaker",
        help="re-arm the circuit breaker (the running executor picks it up within a second)",
    )
    _db_flag(reset)
    reset.set_defaults(handler=run_reset_breaker)


def build_config(args: argparse.Namespace, stored):
    """PortfolioConfig = the stored one (or defaults), overridden by the flags given."""
    from tradestream.portfolio.config import PortfolioConfig

    base = stored.model_dump() if stored is not None else {}
    return PortfolioConfig.model_validate({**base, **given_settings(args)})


def _database_errors(handler: Callable[[argparse.Namespace], int]):
    """Wraps a command so that a database it cannot use is one line and exit 2.

    A damaged or non-SQLite `--db` file fails on the first statement (wherever that is);
    SQLAlchemy's error would print its SQL and a traceback of 50 to 120 lines.
    """

    @functools.wraps(handler)
    def wrapped(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import DBAPIError

        from tradestream.ledger.store import StoreUnusableError, unusable

        try:
            return handler(args)
        except DBAPIError as exc:
            _error(args, unusable(args.db, exc))
        except StoreUnusableError as exc:
            _error(args, exc)
        return 2

    return wrapped


@_database_errors
def run_paper(args: argparse.Namespace) -> int:
    from confluent_kafka import KafkaException

    from tradestream.ledger.store import PaperStore, StoreLockedError, StoreUnusableError
    from tradestream.paper.executor import ExecutorOptions, PaperExecutor

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # librdkafka's own lines (through this logger) only from warnings up, as before.
    logging.getLogger("tradestream.kafka.client").setLevel(logging.WARNING)
    log = logging.getLogger("tradestream.paper")
    store = PaperStore(args.db)
    try:
        stored = store.stored_config()
        config = build_config(args, stored)
        if args.candles and "atr_interval_ms" not in given_settings(args):
            config = config.model_copy(update={"atr_interval_ms": args.candle_interval})
        if stored is not None:
            for key, (old, new) in config.differences(stored).items():
                log.warning("overriding stored setting %s: %r -> %r", key, old, new)
                if key == "initial_cash":
                    log.warning("initial_cash only applies to a new portfolio")
        options = ExecutorOptions(
            bootstrap=args.bootstrap_servers,
            signals_topic=args.signals_topic,
            trades_topic=args.trades_topic,
            group_id=args.group_id,
            start_from=args.start_from,
            max_batch=args.max_batch,
            stop_at_end=args.stop_at_end,
            log_every_s=args.log_every,
            on_topic_reset=args.on_topic_reset,
            candles=args.candles,
            candle_interval_ms=args.candle_interval,
            max_gap=args.max_gap,
        )
        try:
            executor = PaperExecutor(config, options, store)
        except ValueError as exc:
            _error(args, exc)
            return 2
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            return executor.run(stop)
        except StoreLockedError as exc:
            _error(args, exc)
            return 1
        except (KafkaSecurityError, StalePositionError, StoreUnusableError):
            raise  # one line and exit 2, by tradestream.cli or _database_errors
        except RuntimeError as exc:
            _error(args, exc)
            return 1
        except KafkaException as exc:  # a broker that stopped answering after the start
            _error(args, exc.args[0].str())
            return 1
    finally:
        store.close()


@_database_errors
def run_status(args: argparse.Namespace) -> int:
    from tradestream.ledger.store import PaperStore, display_name, sqlite_path

    path = sqlite_path(args.db)
    if path is not None and not path.is_file():
        print(f"no portfolio in {args.db} yet (run `tradestream paper run`)")
        return 0
    store = PaperStore(args.db, readonly=True)
    try:
        # Not ready on an empty database; other database errors: _database_errors, one line.
        snap = store.snapshot(signals=10, fills=10, equity_points=1)
    finally:
        store.close()
    if args.json:
        print(json.dumps(snap, indent=2, sort_keys=True, default=str))
        return 0
    if not snap.get("ready"):
        print(f"no portfolio in {display_name(args.db)} yet")
        return 0
    a, r = snap["account"], snap["risk"]
    print(
        f"equity {a['equity']:,.2f}  cash {a['cash']:,.2f}  P&L {a['pnl']:+,.2f} "
        f"({a['return']:+.2%})  realized {a['realized_pnl']:+,.2f}  fees {a['fees_paid']:,.2f}"
    )
    print(
        f"signals {a['signals']}  fills {a['fills']}  pending {a['pending']}  "
        f"drawdown {r['drawdown']:.2%}  daily loss {r['daily_loss']:.2%}  "
        f"weekly loss {r['weekly_loss']:.2%}  entries: {r['halt_reason'] or 'allowed'}"
    )
    for p in snap["positions"]:
        print(
            f"  {p['symbol']:<10} {p['side']:<5} {abs(p['qty']):>14.6f} @ {p['avg_price']:>12,.4f}"
            f"  mark {p['mark']:>12,.4f}  uP&L {p['unrealized_pnl']:>+12,.2f}  {p['book']}"
        )
    return 0


@_database_errors
def run_reset_breaker(args: argparse.Namespace) -> int:
    from tradestream.ledger.store import PaperStore

    store = PaperStore(args.db)
    try:
        store.request("reset_breaker")
    finally:
        store.close()
    print(
        "breaker reset requested: a running executor applies it within a second, "
        "a stopped one when it starts"
    )
    return 0
