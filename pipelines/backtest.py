"""`tradestream backtest`: strategies over historical trades or candles, as a Beam batch job.

    tradestream backtest --input trades.csv --output out/ \\
        --strategy SMA_CROSSOVER --param fast=10 --param slow=30
    tradestream backtest --input BTC-USD.csv --output out/ \\
        --strategy SMA_CROSSOVER --grid fast=5:50:5 --grid slow=20:200:10
    tradestream backtest --input 'data/*.parquet' --output out/ --strategies mine.yaml \\
        --fill=next_open --fee=0.001 --slippage_bps=2 --allow_short
    ... --runner=FlinkRunner --flink_master=[local] --environment_type=LOOPBACK \\
        --flink_job_server_jar=.local/jvm/beam/flink-job-server.jar

Inputs: trades files (`time,symbol,price,size`) become candles through the same
WindowTradesToCandles and FillCandleGaps transforms as the realtime pipeline
(--candle_interval, --allowed_lateness, --max_gap); candles files (`Date,Open,High,Low,Close,
Volume`, any case; a `symbol` column, else --symbol, else the file name) are used as they are.
A file with `open` and `close` columns is a candles file, one with `price` and `size` a
trades file (--input_format forces one). Rejected rows are counted with their reasons; two
rows of a candles file for one symbol and time: the last wins, and if they differ stderr says
so (file, rows, both closes).

Strategies: --strategy NAME --param k=v (repeatable), --strategies FILE (a YAML/JSON strategy
file, or an optimizer's DIR/best.json; see the README's Strategy files), or a --grid over one
strategy type.

Execution model: a signal is acted on at the close of its candle (--fill=close) or at the
next candle's open (--fill=next_open); long-only unless --allow_short (SELL then opens a
short); all-in fractional position sizes from --cash; --fee is a fraction of the notional
per side, --slippage_bps moves every fill against the trader. Metrics are annualized with
365-day years of candles (--periods_per_year overrides, e.g. 252 for daily stock data); on a
sample under 30 days the annualized ones (CAGR, volatility, Sharpe, Sortino, Calmar) are
shown as n/a (null in summary.json), being extrapolations rather than measurements.

Portfolio (--portfolio): every symbol and strategy trade one shared account with the
portfolio engine of `tradestream paper run`, with its flags under the same names and
defaults (--sizing, --fraction, --stop, --risk_per_trade, --max_open_positions, loss limits,
the breaker, --aggregation vote, --fee (0.001 here), --slippage_bps, --allow_short, ...;
--cash is its --initial_cash). Stops are checked inside each candle's high-low range. The
files: summary.json (with `portfolio`: final_equity, fills, fees_paid, ...; `attribution`
per symbol), fills.csv, trades.csv, equity.csv, signals.csv (with each decision),
candles.csv, report.html. Not with --grid or --fill=next_open.

Output (--output DIR): summary.json, trades.csv, signals.csv, equity.csv, candles.csv,
report.html. The detail files cover the best --detail_top results per symbol by --rank_by.
They replace a previous run's files in DIR only when the run has results: a failed run
leaves DIR as it was. Exit status: 0 on success, 2 for invalid arguments or inputs (a DIR
that is a file or cannot be written, inputs without a data row), 1 when no candle could be
built from the inputs (every row rejected; the error line gives the reasons).
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from apache_beam.options.pipeline_options import PipelineOptions

from tradestream.backtest.chunks import RANK_METRICS
from tradestream.backtest.files import (
    resolve_inputs,
)
from tradestream.backtest.outputs import (
    GridInfo,
    OutputDirError,
    RunInfo,
    StagedOutputDir,
    console_summary,
    no_candle_error,
    read_summary,
)
from tradestream.backtest.selection import grid_progress, select_strategies
from tradestream.cli_types import hidden_alias, non_negative_int, positive_int
from tradestream.exchanges.recordings import BookFileError, book_updates_from_recording
from tradestream.market.book_features import DEFAULT_DEPTH
from tradestream.market.trade_files import TradeFileError
from tradestream.pipelines.options import (
    CandleOptions,
    StrategyOptions,
    add_execution_flags,
    add_input_kind_flags,
    add_input_output_flags,
    batch_pipeline,
    execution_config,
    parse_pipeline_args,
    positive_float,
    unknown_flags,
)
from tradestream.portfolio.flags import add_portfolio_flags, given_settings
from tradestream.runtime.errors import hide_strategy_error_logs
from tradestream.strategies.errors import StrategyError
from tradestream.transforms.backtest.book import AttachBook
from tradestream.transforms.backtest.collect_series import CollectCandleSeries
from tradestream.transforms.backtest.inputs import CandlesFromInputs
from tradestream.transforms.backtest.simulate import (
    DetailResults,
    RankResults,
    SelectTopResults,
    SimulateTrades,
)
from tradestream.transforms.backtest.write_outputs import WriteBacktestOutputs

if TYPE_CHECKING:
    from tradestream.portfolio.config import PortfolioConfig

# The portfolio's modules (its engine, its outputs, the ledger's database) are imported by
# the --portfolio path only: up front they cost every backtest ~0.3 s.


class BacktestFiles:
    """--input/--output. Deliberately not a PipelineOptions subclass: `ingest` has an --input
    flag too, and Beam parses the flags of every PipelineOptions subclass in the process
    together, where two definitions of one flag are an error."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("data")
        add_input_output_flags(group)
        group.add_argument(
            "--book",
            default=None,
            metavar="FILE",
            help="a recorded level-2 session (JSON lines of Coinbase frames, .gz too; what "
            "`tradestream ingest --channel=level2 --source=replay` sends): the order book "
            "that strategies reading it (ORDER_BOOK_IMBALANCE, book_* fields) see",
        )
        group.add_argument(
            "--book_depth",
            type=positive_int,
            default=DEFAULT_DEPTH,
            help=f"levels per side in the book's depth and imbalance (default {DEFAULT_DEPTH})",
        )


# Flags of `paper run` that backtest declares itself with the same meaning (--initial_cash
# is --cash here); --strategy and --symbol name what to backtest (a backtest filters by not
# running a strategy or symbol).
_SHARED_FLAGS = frozenset(
    {"--initial_cash", "--fee", "--slippage_bps", "--allow_short", "--strategy", "--symbol"}
)


class BacktestOptions(PipelineOptions):
    """What a backtest reads, how it trades, and what it reports."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        group = parser.add_argument_group("backtest")
        add_input_kind_flags(group)
        group.add_argument(
            "--grid",
            action="append",
            default=[],
            metavar="NAME=START:STOP:STEP",
            help="search a parameter of the (single) strategy: stop included; or NAME=V1,V2; "
            "repeatable; combinations breaking a constraint are skipped",
        )
        add_execution_flags(group)
        group.add_argument(
            "--rank_by",
            choices=list(RANK_METRICS),
            default="sharpe",
            help="metric that ranks results (report, detail files) (default sharpe)",
        )
        group.add_argument(
            "--detail_top",
            type=non_negative_int,
            default=10,
            help="write trades/signals/equity of the best N results per symbol; 0 = all "
            "(default 10)",
        )
        group.add_argument(
            "--memory_mb",
            type=positive_float,
            default=512.0,
            help="memory the run may use on top of the process's baseline (Python, Beam, "
            "numpy: ~130 MB), whatever the grid: sizes the chunks of parameter sets "
            "(default 512)",
        )
        portfolio = parser.add_argument_group(
            "portfolio (--portfolio: one shared account, traded as `paper run` trades; the "
            "flags and defaults are paper run's)"
        )
        portfolio.add_argument(
            "--portfolio",
            action="store_true",
            help="trade every symbol and strategy from one account with the paper executor's "
            "engine: sizing, stops inside candles, risk limits, votes",
        )
        portfolio.add_argument(
            "--db",
            metavar="URL",
            default=None,
            help="--portfolio: also write the portfolio to this database, as paper run keeps "
            "one (`paper status --db URL`, the dashboard): a SQLAlchemy URL of an empty "
            "database, postgresql:// included (default: DIR/portfolio.db, SQLite)",
        )
        add_portfolio_flags(
            portfolio,
            skip=_SHARED_FLAGS,
            atr_interval_help="stop=atr: the ATR's candle length; default and only value: the "
            "candles' interval",
        )
        hidden_alias(parser, "--initial_cash", "--cash")


def run(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, beam_args = parse_pipeline_args(
        argv,
        prog="tradestream backtest",
        description=__doc__,
        option_classes=[BacktestFiles, BacktestOptions, StrategyOptions, CandleOptions],
    )
    try:
        unknown = unknown_flags(beam_args)
    except ValueError as exc:
        return _error(str(exc))
    if unknown:
        return _error(f"unknown flag(s) {', '.join(unknown)}")
    try:
        paths, kind = resolve_inputs(args.input, args.input_format)
        portfolio = portfolio_config(args) if args.portfolio else None
        selection = select_strategies(
            args.strategy_spec, args.strategies_file, args.grid, grid_progress()
        )
        config = execution_config(args)
        if kind == "trades":  # the candle interval is known now: strategies it cannot run
            for strategy in selection.strategies:
                strategy.warmup_at(args.candle_interval)
        book = _read_book(args, selection.strategies)
        staged = StagedOutputDir(args.output)  # before any work: a file, a read-only place
    except (ValueError, TradeFileError, OutputDirError, StrategyError) as exc:
        return _error(str(exc))
    if portfolio is not None:
        if not selection.strategies:
            return _error("no strategy to trade")
        if args.db is not None:
            problem = _unusable_db(args.db)
            if problem:
                return _error(problem)
        return _portfolio(
            args, beam_args, kind, paths, selection.strategies, portfolio, argv, staged, book
        )
    if selection.grid is not None:
        print(f"[backtest] {selection.grid.describe()}", file=sys.stderr)
    if not selection.strategies:
        return _error("no parameter set is valid")
    strategies = selection.strategies
    info = RunInfo(
        inputs=tuple(paths),
        input_kind=kind,
        candle_interval_ms=args.candle_interval,
        config=config,
        strategies=len(strategies),
        rank_by=args.rank_by,
        detail_top=args.detail_top,
        grid=GridInfo.of(selection.grid) if selection.grid is not None else None,
        command=shlex.join(["tradestream", "backtest", *argv]),
    )

    def job(out_dir: str) -> None:
        print(
            f"[backtest] {len(strategies)} parameter set(s) over {len(paths)} {kind} file(s)",
            file=sys.stderr,
        )
        _backtest(args, beam_args, kind, paths, strategies, config, info, out_dir, book)

    failed = _run_staged(staged, args.output, job)
    if failed is not None:
        return failed
    text, _ = console_summary(args.output, args.rank_by)
    print(text, file=sys.stderr)
    return 0


def _read_book(args, strategies) -> list | None:
    """The BookUpdates of --book (None without it), said in one line on stderr.

    Raises:
        ValueError: a strategy reads the book and no --book is given, or the file is unusable.
    """
    readers = sorted({s.type_name for s in strategies if s.reads_book})
    if args.book is None:
        if readers:
            raise ValueError(
                f"{', '.join(readers)} read(s) the order book: give --book FILE (a recorded "
                "level-2 session: JSON lines of Coinbase frames)"
            )
        return None
    try:
        updates, counts = book_updates_from_recording(Path(args.book))
    except BookFileError as error:
        raise ValueError(f"--book {args.book}: {error}") from None
    not_sent = sum(counts.dead_letters.values()) + sum(counts.skipped.values())
    said = ", ".join(
        f"{reason} {n}" for reason, n in sorted((counts.dead_letters + counts.skipped).items())
    )
    print(
        f"[backtest] book: {counts.updates} update(s) of {len({u.symbol for u in updates})} "
        f"symbol(s) from {counts.frames} frame(s) of {args.book}"
        + (f"; {not_sent} record(s) not used ({said}), as `ingest` would" if not_sent else ""),
        file=sys.stderr,
    )
    if not readers:
        print("[backtest] book: no chosen strategy reads the order book", file=sys.stderr)
    return updates


def _with_book(series, book: list | None, depth: int):
    return series if book is None else series | "AttachBook" >> AttachBook(book, depth)


def _backtest(
    args, beam_args, kind, paths, strategies, config, info, out_dir: str, book=None
) -> None:
    """The Beam job: inputs -> candles -> results, detail files and report in `out_dir`."""
    with (
        tempfile.TemporaryDirectory(prefix=".results-", dir=out_dir) as work_dir,
        batch_pipeline(beam_args) as p,
    ):
        inputs = p | "ReadInputs" >> CandlesFromInputs(
            kind, paths, args.symbol, args.candle_interval, args.allowed_lateness, args.max_gap
        )
        candles, rejected = inputs.candles, inputs.rejected
        series = candles | "CollectCandleSeries" >> CollectCandleSeries(args.candle_interval)
        series = _with_book(series, book, args.book_depth)
        results = (  # one RankedResults per symbol: every result, best first, on disk
            series
            | "SimulateTrades" >> SimulateTrades(strategies, config, args.memory_mb)
            | "RankResults" >> RankResults(strategies, config, args.rank_by, work_dir)
        )
        selected = results | "SelectTop" >> SelectTopResults(args.detail_top, args.rank_by)
        details = series | "DetailResults" >> DetailResults(
            strategies, config, selected, args.memory_mb
        )
        _ = {
            "results": results,
            "series": series,
            "details": details,
            "rejected": rejected,
        } | "WriteOutputs" >> WriteBacktestOutputs(out_dir, info)


def portfolio_config(args) -> PortfolioConfig:
    """The PortfolioConfig of `backtest --portfolio`: paper run's defaults, the flags given.

    Raises:
        ValueError: a setting out of range, or a flag a portfolio cannot honour.
    """
    from pydantic import ValidationError

    from tradestream.cli_types import validation_errors
    from tradestream.portfolio.config import PortfolioConfig

    if args.grid:
        raise ValueError(
            "--portfolio trades one set of strategies; a --grid is a search (run it without "
            "--portfolio, then trade its best.json or the chosen parameters)"
        )
    if args.fill != "close":
        raise ValueError("--portfolio acts on signals at their candle's close: --fill=close only")
    settings = given_settings(args)
    settings["initial_cash"] = args.cash
    if args.fee is not None:
        settings["fee"] = args.fee
    settings["slippage_bps"] = args.slippage_bps
    settings["allow_short"] = args.allow_short
    if "atr_interval_ms" in settings:
        raise ValueError(
            "--atr_interval: a portfolio backtest builds the ATR from its own candles "
            "(--candle_interval for trades files, the files' interval for candles)"
        )
    try:
        return PortfolioConfig.model_validate(settings)
    except ValidationError as exc:
        raise ValueError("; ".join(validation_errors(exc.errors()))) from None


def _unusable_db(url: str) -> str:
    """Why `--db` cannot take the portfolio ('' when it can), before any work."""
    from tradestream.ledger.store import PaperStore, StoreUnusableError

    try:
        store = PaperStore(url)
    except StoreUnusableError as exc:
        return str(exc)
    try:
        store.require_no_portfolio()
    except StoreUnusableError as exc:
        return f"--db {exc}"
    finally:
        store.close()
    return ""


def _portfolio(args, beam_args, kind, paths, strategies, config, argv, staged, book) -> int:
    """`backtest --portfolio`: the Beam job, then the summary lines."""
    from tradestream.backtest.portfolio_outputs import console_lines
    from tradestream.transforms.backtest.portfolio import TradePortfolio

    command = shlex.join(["tradestream", "backtest", *argv])

    def job(out_dir: str) -> None:
        print(
            f"[backtest] portfolio of {len(strategies)} strategy(ies) over {len(paths)} {kind} "
            "file(s)",
            file=sys.stderr,
        )
        with batch_pipeline(beam_args) as p:
            inputs = p | "ReadInputs" >> CandlesFromInputs(
                kind,
                paths,
                args.symbol,
                args.candle_interval,
                args.allowed_lateness,
                args.max_gap,
            )
            series = inputs.candles | "CollectCandleSeries" >> CollectCandleSeries(
                args.candle_interval
            )
            series = _with_book(series, book, args.book_depth)
            _ = {"series": series, "rejected": inputs.rejected} | "TradePortfolio" >> (
                TradePortfolio(
                    strategies,
                    config,
                    out_dir,
                    command,
                    paths,
                    kind,
                    args.periods_per_year,
                    args.db,
                )
            )

    failed = _run_staged(staged, args.output, job, results_per_symbol=None)
    if failed is not None:
        return failed
    print("\n".join(console_lines(read_summary(args.output), args.output)), file=sys.stderr)
    return 0


def _run_staged(
    staged: StagedOutputDir, output: str, job, results_per_symbol: int | None = 0
) -> int | None:
    """Runs `job(out_dir)` in the staged output directory and moves its files into `output`
    if it built candles; returns the exit status of a failure (its line said), else None.

    `results_per_symbol`: how much of summary.json to read (0: only its head, a grid's
    results can be hundreds of MB; None: all of it, a portfolio's has no results list).
    """
    hide_strategy_error_logs()
    try:
        with staged as out_dir:
            job(out_dir)
            failed = no_candle_error(read_summary(out_dir, results_per_symbol))
            if failed is None:
                staged.commit()
    except OutputDirError as exc:
        return _error(str(exc))
    except StrategyError as exc:  # a strategy the input's candles cannot run (their interval)
        return _error(str(exc).split(" [while running", 1)[0] + f"; nothing written to {output}")
    if failed is not None:
        code, reason = failed
        return _error(f"{reason}; nothing written to {output}", code)
    return None


def _error(message: str, code: int = 2) -> int:
    print(f"tradestream backtest: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(run())
