"""TradePortfolio: every symbol's candle series -> one shared account, and its files.

    _ = {"series": series, "rejected": rejected} | TradePortfolio(strategies, config, ...)

Signals are computed per symbol in parallel (`symbol_timeline`); the account is one
sequence of decisions over every symbol in event order, so the trading itself is one step
(`run_portfolio`, see :mod:`tradestream.backtest.portfolio`), which also writes the files of
:mod:`tradestream.backtest.portfolio_outputs` and report.html.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import apache_beam as beam

from tradestream.backtest.outputs import RejectionSummary, SeriesInfo, write_text
from tradestream.backtest.portfolio import run_portfolio, symbol_timeline
from tradestream.backtest.portfolio_outputs import (
    portfolio_summary,
    write_portfolio_db,
    write_portfolio_outputs,
)
from tradestream.portfolio.config import PortfolioConfig
from tradestream.strategies.strategy import Strategy
from tradestream.transforms.backtest.write_outputs import SummarizeRejectionsCombineFn


class TradePortfolio(beam.PTransform):
    """{series, rejected} -> PCollection[str] of the files written.

    Args:
        strategies: what every symbol runs.
        config: the portfolio's settings.
        output_dir: where the files go.
        command, inputs, input_kind: recorded in summary.json.
        periods_per_year: candles per year for annualizing (0: 365 days / interval).
        db_url: the database the portfolio is written to (default: SQLite
            `output_dir/portfolio.db`).
    """

    def __init__(
        self,
        strategies: Sequence[Strategy],
        config: PortfolioConfig,
        output_dir: str,
        command: str,
        inputs: Sequence[str],
        input_kind: str,
        periods_per_year: float = 0.0,
        db_url: str | None = None,
    ) -> None:
        super().__init__()
        self._strategies = list(strategies)
        self._config = config
        self._dir = str(output_dir)
        self._about = (command, tuple(inputs), input_kind, periods_per_year)
        self._db = db_url

    def expand(self, inputs: dict[str, beam.PCollection]) -> beam.PCollection:
        strategies, config, out_dir, about = self._strategies, self._config, self._dir, self._about
        rejected = inputs["rejected"] | "SummarizeRejections" >> beam.CombineGlobally(
            SummarizeRejectionsCombineFn()
        )
        timelines = inputs["series"] | "Signals" >> beam.Map(symbol_timeline, strategies)
        return (
            timelines
            | "AllSymbols" >> beam.combiners.ToList()
            | "TradeAndWrite"
            >> beam.FlatMap(
                _trade_and_write,
                config=config,
                out_dir=out_dir,
                about=about,
                db_url=self._db or f"sqlite:///{os.path.join(out_dir, 'portfolio.db')}",
                strategies=len(strategies),
                rejected=beam.pvalue.AsSingleton(rejected),
            )
        )


def _trade_and_write(
    timelines, config, out_dir, about, db_url, strategies, rejected: RejectionSummary
) -> list[str]:
    from tradestream.reports.portfolio_report import render_portfolio_report

    command, inputs, kind, periods = about

    def progress(done: int, total: int) -> None:
        print(f"[backtest] portfolio: {done:,} of {total:,} candle ends", file=sys.stderr)

    # Risk events go to summary.json and the console summary, not one log line each.
    engine_log = logging.getLogger("tradestream.portfolio.engine")
    level = engine_log.level
    engine_log.setLevel(logging.ERROR)
    try:
        run = run_portfolio(config, timelines, progress)
    finally:
        engine_log.setLevel(level)
    series = [tl.series for tl in timelines]
    summary = portfolio_summary(
        run,
        command,
        inputs,
        kind,
        strategies,
        [SeriesInfo.of(s) for s in series],
        rejected,
        periods,
    )
    written = write_portfolio_outputs(out_dir, run, series, summary)
    if timelines:
        write_portfolio_db(db_url, run)
    report = render_portfolio_report(summary, run)
    written.append(write_text(os.path.join(out_dir, "report.html"), report))
    return written
