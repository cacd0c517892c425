"""The files of a backtest's output directory (written by :mod:`tradestream.transforms.backtest.write_outputs`).

    summary.json   run settings, input accounting (rejected rows, candles per symbol) and one
                   entry per (parameter set, symbol) with every metric
    trades.csv     symbol,strategy,direction,entry_time,entry_price,exit_time,exit_price,size,
                   return,pnl,duration_ms,status
    signals.csv    time,symbol,strategy,action,price,signal_id
    equity.csv     time,symbol,strategy,equity,drawdown,position
    candles.csv    time,symbol,open,high,low,close,volume
    report.html    see :mod:`tradestream.reports.backtest_report`

Times are ISO-8601 UTC (`2024-01-02T00:00:00Z`); a candle's time is its start, a trade's entry
and exit times are the starts of the candles whose close (or, with `next_open`, open) filled
it; prices include slippage, returns and P&L include fees. trades/signals/equity cover the
detailed results (the best `detail_top` per symbol, or all), summary.json every result.
Undefined metrics are `null`, and so are the annualized ones (CAGR, volatility, Sharpe, Sortino,
Calmar) of a sample under 30 days, whose entry gives the reason in `annualized_omitted` (null
otherwise; see :mod:`tradestream.backtest.metrics`). Results are still ranked by the computed
values (for Sharpe, Sortino and CAGR the same order as the per-candle ratio or total return).

Each CSV is written by workers as sorted part files, then concatenated in order by one step,
so memory stays bounded by one part however large the file.

A run writes into a staging directory (`StagedOutputDir`, shared with `tradestream
optimize`) and its files replace those in the output directory only once it has results: a
failed run leaves a previous run's files as they were.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradestream.backtest.chunks import ResultDetail, rank_value
from tradestream.backtest.config import ExecutionConfig
from tradestream.backtest.files import CONFLICT_REASON, RejectedRow
from tradestream.backtest.grid import Grid
from tradestream.backtest.metrics import ANNUALIZED_METRICS, annualization_caveat
from tradestream.backtest.progress import Progress
from tradestream.backtest.ranking import RankedResults
from tradestream.backtest.series import CandleSeries
from tradestream.market.signal_messages import signal_id

CANDLES_HEADER = "time,symbol,open,high,low,close,volume"
SIGNALS_HEADER = "time,symbol,strategy,action,price,signal_id"
TRADES_HEADER = (
    "symbol,strategy,direction,entry_time,entry_price,exit_time,exit_price,size,return,pnl,"
    "duration_ms,status"
)
EQUITY_HEADER = "time,symbol,strategy,equity,drawdown,position"
EXAMPLES_KEPT = 20
CONFLICTS_SHOWN = 10  # conflicting duplicate candles listed on stderr; the rest counted
EXECUTION_MODEL = (
    "Signals are acted on at the close of the signal candle (fill=close) or the next candle's "
    "open (fill=next_open). Long-only unless allow_short (SELL then opens a short). All-in "
    "fractional sizing; fee is a fraction of notional per side; slippage moves each fill "
    "against the trader. Equity is marked to market at each close; an open position at the "
    "end is reported as an open trade and not counted in the trade statistics."
)


@dataclass(frozen=True)
class GridInfo:
    """What a grid searched (without its built strategies)."""

    type_name: str
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    combinations: int
    skipped: int
    constraints: tuple[str, ...]

    @classmethod
    def of(cls, grid: Grid) -> GridInfo:
        return cls(
            grid.type_name,
            tuple((a.name, a.values) for a in grid.axes),
            grid.combinations,
            grid.skipped,
            grid.constraints,
        )


@dataclass(frozen=True)
class RunInfo:
    """The settings of a run, as summary.json and the report record them."""

    inputs: tuple[str, ...]
    input_kind: str
    candle_interval_ms: int
    config: ExecutionConfig
    strategies: int
    rank_by: str = "sharpe"
    detail_top: int = 10
    grid: GridInfo | None = None
    command: str = ""

    def to_json(self) -> dict[str, Any]:
        c = self.config
        out: dict[str, Any] = {
            "command": self.command,
            "inputs": list(self.inputs),
            "input_kind": self.input_kind,
            "candle_interval_ms": self.candle_interval_ms if self.input_kind == "trades" else None,
            "execution": {
                "fill": c.fill,
                "allow_short": c.allow_short,
                "cash": c.cash,
                "fee": c.fee,
                "slippage_bps": c.slippage_bps,
                "periods_per_year": c.periods_per_year or None,
                "model": EXECUTION_MODEL,
            },
            "parameter_sets": self.strategies,
            "rank_by": self.rank_by,
            "detail_top": self.detail_top,
        }
        if self.grid is not None:
            g = self.grid
            out["grid"] = {
                "strategy": g.type_name,
                "axes": {name: list(values) for name, values in g.axes},
                "combinations": g.combinations,
                "evaluated": g.combinations - g.skipped,
                "skipped": g.skipped,
                "constraints": list(g.constraints),
            }
        return out


@dataclass(frozen=True)
class SeriesInfo:
    """What the strategies saw of one symbol."""

    symbol: str
    interval_ms: int
    candles: int
    start_ms: int
    end_ms: int
    filled: int
    duplicates: int
    conflicts: int = 0
    conflict_examples: tuple[str, ...] = ()

    @classmethod
    def of(cls, series: CandleSeries) -> SeriesInfo:
        return cls(
            series.symbol,
            series.interval_ms,
            len(series),
            int(series.start_ms[0]),
            int(series.start_ms[-1]) + series.interval_ms,
            int(series.filled.sum()),
            series.duplicates,
            series.conflicts,
            series.conflict_examples,
        )


@dataclass(frozen=True)
class RejectionSummary:
    """Rejected input rows: counts by reason and by file, and the first examples."""

    total: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    by_file: dict[str, int] = field(default_factory=dict)
    examples: tuple[RejectedRow, ...] = ()

    def describe(self) -> str:
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(self.by_reason.items()))
        return f"{self.total} input row(s) rejected ({reasons})"


# --- formatting -------------------------------------------------------------------------


def iso_times(ms: np.ndarray) -> list[str]:
    """Epoch ms -> ISO-8601 UTC strings (seconds precision unless a time has milliseconds)."""
    ms = np.asarray(ms, dtype=np.int64)
    unit = "s" if ms.size == 0 or not (ms % 1000).any() else "ms"
    return [t + "Z" for t in np.datetime_as_string(ms.astype("datetime64[ms]"), unit=unit)]


@functools.lru_cache(maxsize=256)  # summary.json repeats each symbol's start and end per entry
def iso_time(ms: int) -> str:
    return iso_times(np.array([ms]))[0]


def series_times(start_ms: np.ndarray) -> list[str]:
    """iso_times of a whole series, remembered for the last series: each detailed result of a
    symbol (10 by default) writes an equity row per candle, all at the same times."""
    return _series_times(np.ascontiguousarray(start_ms, dtype=np.int64).tobytes())


@functools.lru_cache(maxsize=1)
def _series_times(packed: bytes) -> list[str]:
    return iso_times(np.frombuffer(packed, dtype=np.int64))


def csv_number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else ""


def json_number(value: float | int) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def candles_csv(series: CandleSeries) -> str:
    """The rows of candles.csv for one symbol (no header)."""
    times = series_times(series.start_ms)
    columns = [series.open, series.high, series.low, series.close, series.volume]
    symbol = itertools.repeat(series.symbol, len(times))
    # str.format over columns: ~2x faster than an f-string per row for long series
    row = "{},{},{!r},{!r},{!r},{!r},{!r}\n".format
    return "".join(map(row, times, symbol, *(c.tolist() for c in columns)))


def signals_csv(detail: ResultDetail) -> str:
    """The rows of signals.csv for one (strategy, symbol): every signal the strategy emitted."""
    sid = detail.strategy.strategy_id
    index = np.flatnonzero(detail.signals)
    times = iso_times(detail.start_ms[index])
    rows = []
    for t, i in zip(times, index.tolist(), strict=True):
        action = "BUY" if detail.signals[i] > 0 else "SELL"
        start = int(detail.start_ms[i])
        rows.append(
            f"{t},{detail.symbol},{csv_field(sid)},{action},{csv_number(detail.close[i])},"
            f"{signal_id(sid, detail.symbol, start, action)}\n"
        )
    return "".join(rows)


def trades_csv(detail: ResultDetail) -> str:
    """The rows of trades.csv for one (strategy, symbol)."""
    t = detail.trades
    entries = iso_times(detail.start_ms[t.entry])
    exits = iso_times(detail.start_ms[t.exit])
    sid = csv_field(detail.strategy.strategy_id)
    rows = []
    for i in range(len(t)):
        duration = int(detail.start_ms[t.exit[i]] - detail.start_ms[t.entry[i]])
        rows.append(
            f"{detail.symbol},{sid},{'long' if t.direction[i] > 0 else 'short'},"
            f"{entries[i]},{csv_number(t.entry_price[i])},{exits[i]},{csv_number(t.exit_price[i])},"
            f"{csv_number(t.size[i])},{csv_number(t.ret[i])},{csv_number(t.pnl[i])},{duration},"
            f"{'closed' if t.closed[i] else 'open'}\n"
        )
    return "".join(rows)


def equity_csv(detail: ResultDetail) -> str:
    """The rows of equity.csv for one (strategy, symbol)."""
    times = series_times(detail.start_ms)
    peak = np.maximum(np.maximum.accumulate(detail.equity), detail.cash)
    drawdown = detail.equity / peak - 1.0
    if not (len(times) == len(detail.equity) == len(drawdown) == len(detail.position)):
        raise ValueError("equity_csv: series of different lengths")
    names = itertools.repeat(f"{detail.symbol},{csv_field(detail.strategy.strategy_id)}")
    # str.format over columns: ~2x faster than an f-string per row for long series
    row = "{},{},{!r},{!r},{}\n".format
    return "".join(
        map(row, times, names, detail.equity.tolist(), drawdown.tolist(), detail.position.tolist())
    )


def csv_field(text: str) -> str:
    """Quotes a field with commas (strategy ids list their parameters: `X(a=1,b=2)`)."""
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def result_json(result) -> dict[str, Any]:
    """One summary.json entry of a BacktestResult."""
    params = {}
    for p in result.strategy.params:
        params[p.name] = p.int_value if p.WhichOneof("value") == "int_value" else p.float_value
    caveat = annualization_caveat(result.end_ms - result.start_ms)
    metrics = {}
    for f in result.metrics.DESCRIPTOR.fields:
        omitted = caveat is not None and f.name in ANNUALIZED_METRICS
        metrics[f.name] = None if omitted else json_number(getattr(result.metrics, f.name))
    return {
        "symbol": result.symbol,
        "strategy": result.strategy.type,
        "strategy_id": result.strategy.strategy_id,
        "params": params,
        "start": iso_time(result.start_ms),
        "end": iso_time(result.end_ms),
        "candles": result.candle_count,
        "interval_ms": result.config.candle_interval_ms,
        "metrics": metrics,
        "annualized_omitted": caveat,
    }


def summary_json(
    run: RunInfo,
    results: Iterable,
    series: Sequence[SeriesInfo],
    rejected: RejectionSummary,
) -> dict[str, Any]:
    """The whole summary.json document."""
    ordered = sorted(
        results,
        key=lambda r: (r.symbol, -rank_value(r, run.rank_by), r.strategy.strategy_id),
    )
    return {
        "run": run.to_json(),
        "input": input_json(series, rejected),
        "results": [result_json(r) for r in ordered],
    }


def input_json(series: Sequence[SeriesInfo], rejected: RejectionSummary) -> dict[str, Any]:
    """summary.json's `input`: each symbol's candles, and the rejected rows."""
    return {
        "symbols": {
            s.symbol: {
                "candles": s.candles,
                "interval_ms": s.interval_ms,
                "start": iso_time(s.start_ms),
                "end": iso_time(s.end_ms),
                "filled_candles": s.filled,
                "duplicate_candles_dropped": s.duplicates,
                "conflicting_candles": s.conflicts,
                "conflict_examples": list(s.conflict_examples),
            }
            for s in sorted(series, key=lambda s: s.symbol)
        },
        "rejected_rows": {
            "total": rejected.total,
            "by_reason": dict(sorted(rejected.by_reason.items())),
            "by_file": dict(sorted(rejected.by_file.items())),
            "examples": [
                {"file": r.file, "row": r.row, "reason": r.reason, "detail": r.detail}
                for r in rejected.examples
            ],
        },
    }


def write_summary(
    path: str,
    run: RunInfo,
    results: Sequence,
    series: Sequence[SeriesInfo],
    rejected: RejectionSummary,
) -> str:
    """Writes summary.json. RankedResults (one per symbol, best first, on disk) are streamed
    into it an entry at a time, so memory does not grow with the grid; the bytes are those
    `write_json(path, summary_json(...))` writes for the same results.

    Args:
        path: the file to write.
        run: the run's settings.
        results: every BacktestResult, or one RankedResults per symbol.
        series: what each symbol's candles were.
        rejected: the rejected input rows.
    """
    ranked = sorted((r for r in results if isinstance(r, RankedResults)), key=lambda r: r.symbol)
    if not ranked:
        return write_json(path, summary_json(run, results, series, rejected))
    total = sum(r.count for r in ranked)
    meter = Progress("[backtest]", total, "results written to summary.json", every_s=2.0)
    head = json.dumps(summary_json(run, [], series, rejected), indent=2, allow_nan=False)
    empty = '"results": []\n}'
    if not head.endswith(empty):
        raise AssertionError("summary.json: the results must be its last key")
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(head[: -len(empty)] + '"results": [\n')
        separator = ""
        for symbol_results in ranked:
            # Progress only for long writes (a few seconds): 100,000 results and more.
            progress = meter.advance if total >= 100_000 else None
            for result in symbol_results.results(progress=progress):
                fh.write(separator + _entry_text(result_json(result)))
                separator = ",\n"
        fh.write("\n  ]\n}\n")
    os.replace(tmp, path)
    return path


def _json_scalar(value: Any) -> str:
    """What json.dumps writes for a str, number, bool or None (NaN and infinities refused)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.encoder.encode_basestring_ascii(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"out of range float value in summary.json: {value!r}")
        return float.__repr__(value)
    if isinstance(value, int):
        return int.__repr__(value)
    return json.dumps(value, allow_nan=False)


def _entry_text(entry: dict[str, Any]) -> str:
    """An entry of summary.json's results list as `json.dump(summary, indent=2)` writes it
    (scalars and objects of scalars), built directly: the pure-Python indenting encoder is
    the slowest part of writing a big grid's summary."""
    lines = []
    for key, value in entry.items():
        name = json.encoder.encode_basestring_ascii(key)
        if not isinstance(value, dict):
            lines.append(f"      {name}: {_json_scalar(value)}")
        elif not value:
            lines.append(f"      {name}: {{}}")
        else:
            inner = ",\n".join(
                f"        {json.encoder.encode_basestring_ascii(k)}: {_json_scalar(v)}"
                for k, v in value.items()
            )
            lines.append(f"      {name}: {{\n{inner}\n      }}")
    if not lines:
        return "    {}"
    return "    {\n" + ",\n".join(lines) + "\n    }"


# --- writing ----------------------------------------------------------------------------


def concatenate_parts(parts: Sequence[tuple[Any, str]], path: str, header: str) -> str:
    """Writes `header` then the parts in key order to `path`; removes the parts."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as out:
        out.write(header + "\n")
        for _, part in sorted(parts, key=lambda kv: kv[0]):
            with open(part, encoding="utf-8") as fh:
                shutil.copyfileobj(fh, out)
    os.replace(tmp, path)
    for _, part in parts:
        Path(part).unlink(missing_ok=True)
    parts_dir = Path(path).parent / ".parts"
    for directory in (parts_dir / Path(path).name, parts_dir):
        with contextlib.suppress(OSError):  # only when empty: others may still write parts
            directory.rmdir()
    return path


def write_json(path: str, document: dict[str, Any]) -> str:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2, allow_nan=False)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def write_text(path: str, text: str) -> str:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def console_summary(output_dir: str, rank_by: str, top: int = 5) -> tuple[str, int]:
    """A few lines for the terminal (the best results per symbol, the files written), and
    the number of results."""
    summary = read_summary(output_dir, results_per_symbol=top)
    lines = []
    rejected = summary["input"]["rejected_rows"]
    if rejected["total"]:
        reasons = ", ".join(f"{r}: {n}" for r, n in rejected["by_reason"].items())
        lines.append(f"{rejected['total']} input row(s) rejected ({reasons}); see summary.json")
    lines += conflict_lines(rejected)
    symbols = summary["input"]["symbols"]
    lines += input_conflict_lines(symbols)
    if not symbols:
        lines.append("no candles were built from the input: nothing to backtest")
    results = summary["results"]
    for symbol, info in symbols.items():
        rows = [r for r in results if r["symbol"] == symbol][:top]
        lines.append(
            f"{symbol}: {info['candles']:,} candles {info['start']} .. {info['end']}, "
            f"best by {rank_by}:"
        )
        for r in rows:
            m = r["metrics"]
            value = m.get(rank_by)
            shown = "n/a" if value is None else f"{value:.4g}"
            lines.append(
                f"  {r['strategy_id']:<40} {rank_by}={shown:<8} return={100 * m['total_return']:+.2f}% "
                f"trades={m['num_trades']} max_dd={100 * m['max_drawdown']:.2f}%"
            )
        caveat = next((r["annualized_omitted"] for r in rows if r.get("annualized_omitted")), None)
        if caveat is not None:
            ranked = f"; ranked by the computed {rank_by}" if rank_by in ANNUALIZED_METRICS else ""
            lines.append(f"  n/a: {caveat}{ranked}")
    names = (
        "summary.json",
        "trades.csv",
        "signals.csv",
        "equity.csv",
        "candles.csv",
        "report.html",
    )
    lines.append(f"wrote {', '.join(names)} to {output_dir}")
    return "\n".join(lines), summary["run"]["parameter_sets"] * len(symbols)


def conflict_lines(rejected: dict[str, Any], shown: int = CONFLICTS_SHOWN) -> list[str]:
    """One line per conflicting duplicate candle (a candles-file row replaced by a later row
    of the same symbol and time with other values), the first `shown` of them, then a count
    of the rest.

    Args:
        rejected: summary.json's input.rejected_rows.
        shown: the most conflicts listed one by one.
    """
    total = rejected["by_reason"].get(CONFLICT_REASON, 0)
    examples = [e for e in rejected["examples"] if e["reason"] == CONFLICT_REASON][:shown]
    lines = [f"conflicting duplicate candle in {e['file']}, {e['detail']}" for e in examples]
    if total > len(examples):
        lines.append(
            f"... and {total - len(examples)} more conflicting duplicate candle(s); "
            "see summary.json"
        )
    return lines


def input_conflict_lines(symbols: dict[str, Any]) -> list[str]:
    """One line per candle two inputs disagree about (summary.json's input.symbols), then a
    count of those not listed."""
    lines = []
    for info in symbols.values():
        examples = info.get("conflict_examples", [])
        lines += [f"conflicting candles from different inputs: {e}" for e in examples]
        more = info.get("conflicting_candles", 0) - len(examples)
        if more > 0:
            lines.append(f"... and {more} more conflicting candle(s); see summary.json")
    return lines


def read_summary(output_dir: str, results_per_symbol: int | None = None) -> dict[str, Any]:
    """The summary.json document of an output (or staging) directory.

    Args:
        output_dir: the directory.
        results_per_symbol: keep only the first (best) N results of each symbol in
            "results", reading the file a line at a time: a big grid's summary.json can be
            hundreds of MB. None: every result.
    """
    path = os.path.join(output_dir, "summary.json")
    with open(path, encoding="utf-8") as fh:
        if results_per_symbol is None:
            return json.load(fh)
        head = []
        for line in fh:  # the results are the last key, one entry every 4-space "{" .. "}"
            if line.startswith('  "results": ['):
                break
            head.append(line)
        summary = json.loads("".join(head).rstrip().rstrip(",") + "\n}")
        summary["results"] = results = []
        kept: Counter[str] = Counter()
        wanted = len(summary["input"]["symbols"]) * results_per_symbol
        entry: list[str] = []
        for line in fh:
            if len(results) >= wanted:  # the best of every symbol: the rest is not read
                break
            entry.append(line)
            if line.rstrip() not in ("    }", "    },"):
                continue
            symbol_line = entry[1] if len(entry) > 1 else ""
            if symbol_line.startswith('      "symbol": '):
                symbol = json.loads(symbol_line.split(": ", 1)[1].rstrip().rstrip(","))
            else:
                symbol = json.loads("".join(entry).rstrip().rstrip(","))["symbol"]
            if kept[symbol] < results_per_symbol:
                kept[symbol] += 1
                results.append(json.loads("".join(entry).rstrip().rstrip(",")))
            entry = []
    return summary


def no_candle_error(summary: dict[str, Any]) -> tuple[int, str] | None:
    """Why a run built no candle, as (exit status, one line); None when it built some.

    Exit status 2 when the inputs hold no data row at all (a header only), 1 when every row
    was rejected (the line gives the counts by reason and the first example).
    """
    if summary["input"]["symbols"]:
        return None
    inputs = summary["run"]["inputs"]
    rejected = summary["input"]["rejected_rows"]
    if not rejected["total"]:
        named = inputs[0] + (f" and {len(inputs) - 1} more" if len(inputs) > 1 else "")
        return 2, f"no data rows in {named} (a header only?)"
    reasons = ", ".join(f"{r}: {n}" for r, n in rejected["by_reason"].items())
    line = f"no candle could be built: {rejected['total']} input row(s) rejected ({reasons})"
    if rejected["examples"]:
        first = rejected["examples"][0]
        line += f"; first: {first['file']} row {first['row']}, {first['reason']}"
        line += f" ({' '.join(str(first['detail']).split())})" if first["detail"] else ""
    return 1, line


# --- the output directory ---------------------------------------------------------------


class OutputDirError(Exception):
    """An output directory that cannot be written; the message is one line for the user."""


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


class StagedOutputDir:
    """A run's files, written to a staging directory and moved into the output directory only
    when the run succeeded, so a failed run leaves a previous run's files byte-identical.

        staged = StagedOutputDir(args.output)  # OutputDirError now if DIR cannot be written
        with staged as work_dir:               # DIR/.staging-XXXX (DIR made if missing)
            ...                                # the run writes its files into work_dir
            staged.commit()                    # each file replaces DIR's by one rename
        # without commit(): the staging directory is removed, and DIR if this run made it

    The staging directory is inside DIR, not beside it: a rename stays on one file system
    even when DIR is a mount point, only DIR needs to be writable, and other files in DIR
    (not written by the run) are left alone. Its name is hidden, so the dashboard does not
    list a run in progress.

    Args:
        directory: the output directory (--output).
        flag: how the user named it, for messages.
    """

    def __init__(self, directory: str | os.PathLike[str], flag: str = "--output") -> None:
        self.directory = Path(directory)
        self._flag = flag
        self._staging: Path | None = None
        self._created: list[Path] = []
        self._committed = False
        self._check()

    def _check(self) -> None:
        """Refuses, before any work, a DIR that is a file or that cannot be created or written."""
        target = self.directory
        if target.exists() and not target.is_dir():
            raise OutputDirError(f"{self._flag} {target} is a file, not a directory")
        existing = target
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise OutputDirError(
                f"cannot create {self._flag} {target}: {existing} is a file, not a directory"
            )
        if not os.access(existing, os.W_OK | os.X_OK):
            readonly = os.statvfs(existing).f_flag & os.ST_RDONLY
            why = "is on a read-only file system" if readonly else "is not writable"
            raise OutputDirError(f"cannot write {self._flag} {target}: {existing} {why}")

    def __enter__(self) -> str:
        missing = []
        path = self.directory
        while not path.exists() and path != path.parent:
            missing.append(path)
            path = path.parent
        self._created = missing  # deepest first, the order to remove them in
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            staging = tempfile.mkdtemp(prefix=".staging-", dir=self.directory)
        except OSError as exc:
            self._remove_created()
            raise OutputDirError(
                f"cannot create {self._flag} {self.directory}: {_why(exc)}"
            ) from None
        self._staging = Path(staging).absolute()
        return str(self._staging)

    def commit(self) -> list[Path]:
        """Moves every file the run wrote (not its hidden work files) into DIR.

        Returns:
            The files' paths in DIR.
        """
        if self._staging is None:
            raise RuntimeError("commit() outside the with block")
        moved = []
        try:
            for entry in sorted(self._staging.iterdir()):
                if entry.is_file() and not entry.name.startswith("."):
                    os.replace(entry, self.directory / entry.name)
                    moved.append(self.directory / entry.name)
        except OSError as exc:
            raise OutputDirError(
                f"cannot move the results into {self._flag} {self.directory}: {_why(exc)}"
            ) from None
        self._committed = True
        return moved

    def __exit__(self, *exc_info) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        if not self._committed:
            self._remove_created()

    def _remove_created(self) -> None:
        for directory in self._created:
            with contextlib.suppress(OSError):  # only when empty
                directory.rmdir()
