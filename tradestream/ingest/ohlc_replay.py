"""Minute OHLC bars replayed as trades, so candle data can feed the trade pipeline.

Input: one CSV per symbol in the TradeBooks layout, `datetime,open,high,low,close,% change`
(an optional `volume` column is used; `% change` is ignored). The symbol is the file name
(`AAPL.csv` -> `AAPL-USD` with `--quote USD`; a name with a dash, `BTC-USD.csv`, is kept).
`datetime` is the bar's *start*, ISO-8601; a time without a zone is read in `--ohlc_timezone`
(default UTC). Bars must be in time order within a file; files are merged by time.

The rule: each bar [t, t+T) becomes four trades, replaying one plausible path through it:

    open  at t            (trade id "<t>-0")
    first extreme at t + T/3, second extreme at t + 2T/3   (ids "<t>-1", "<t>-2")
    close at t + T - 1s   (id "<t>-3")

A rising bar (close >= open) visits the low first, then the high (open -> low -> high ->
close); a falling bar the high first. This is the usual convention of bar-based backtesters:
the extreme on the far side of the close is visited first, which is the shorter path through
the bar. Any path gives back the same bar: windowing these trades into candles of T (or any
multiple of T aligned to it) reproduces open, high, low and close exactly.

Size: with a `volume` > 0, each trade carries volume/4, so the candle's volume matches; without
one (or with 0) each trade carries `unit_size` (default 1), since a trade cannot have size 0.
Side is unspecified (the bar does not say who aggressed). Bars that are not bars (high below
open/close, low above, a price <= 0, an unreadable number or time, a bar not after the
previous one) become dead letters with the reason; the replay goes on.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from tradestream.market.trade_files import BadRow, TradeFileError
from tradestream.market.trade_validation import SYMBOL_PATTERN, check_trade
from tradestream.v1 import trade_pb2

EXCHANGE = "ohlc-replay"
REQUIRED = ("datetime", "open", "high", "low", "close")
VOLUME_COLUMNS = ("volume", "vol")
DEFAULT_INTERVAL_MS = 60_000


@dataclass(frozen=True)
class Bar:
    """One OHLC bar; `volume` None when the file has none."""

    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None


def bar_problem(bar: Bar) -> str | None:
    """Why these four prices are not a bar, or None."""
    prices = (bar.open, bar.high, bar.low, bar.close)
    if not all(math.isfinite(p) and p > 0 for p in prices):
        return f"prices must be finite and > 0, got {prices}"
    if bar.high < max(bar.open, bar.close) or bar.low > min(bar.open, bar.close):
        return (
            f"high {bar.high} / low {bar.low} do not contain open {bar.open} and close {bar.close}"
        )
    if bar.volume is not None and not (math.isfinite(bar.volume) and bar.volume >= 0):
        return f"volume must be finite and >= 0, got {bar.volume}"
    return None


def bar_trades(
    symbol: str, bar: Bar, interval_ms: int = DEFAULT_INTERVAL_MS, unit_size: float = 1.0
) -> list[trade_pb2.Trade]:
    """The four trades of a bar, by the rule in the module docstring.

    Args:
        symbol: `BASE-QUOTE`.
        bar: a valid bar (see `bar_problem`).
        interval_ms: bar length T (>= 4 ms).
        unit_size: size of each trade when the bar has no volume (> 0).
    """
    if bar.close >= bar.open:
        first, second = bar.low, bar.high
    else:
        first, second = bar.high, bar.low
    last_offset = interval_ms - 1000 if interval_ms >= 4000 else interval_ms - 1
    offsets = (0, interval_ms // 3, 2 * interval_ms // 3, last_offset)
    size = bar.volume / 4 if bar.volume else unit_size
    return [
        trade_pb2.Trade(
            exchange=EXCHANGE,
            symbol=symbol,
            trade_id=f"{bar.start_ms}-{k}",
            price=price,
            size=size,
            side=trade_pb2.SIDE_UNSPECIFIED,
            time_ms=bar.start_ms + offset,
        )
        for k, (price, offset) in enumerate(
            zip((bar.open, first, second, bar.close), offsets, strict=True)
        )
    ]


def symbol_for(path: Path, quote: str = "USD") -> str:
    """`AAPL.csv` -> `AAPL-USD`; `eth-btc.csv.gz` -> `ETH-BTC`."""
    name = path.name
    for suffix in (".csv.gz", ".csv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    base = name.strip().upper()
    return base if "-" in base else f"{base}-{quote.strip().upper()}"


def parse_bar_time_ms(text: str, zone: tzinfo = UTC) -> int:
    """Epoch ms of a bar's ISO-8601 start; a time without a zone is read in `zone`."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty datetime")
    dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return round(dt.timestamp() * 1000)


def expand_inputs(spec: str | Iterable[str]) -> list[Path]:
    """Paths from `a.csv,b.csv` or a directory (its *.csv and *.csv.gz, sorted).

    Raises:
        TradeFileError: a path that does not exist, or a directory without CSV files.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    paths: list[Path] = []
    for item in items:
        if not item.strip():
            continue
        path = Path(item.strip())
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.name.lower().endswith((".csv", ".csv.gz"))
            )
            if not found:
                raise TradeFileError(f"{path}: no .csv files in this directory")
            paths.extend(found)
        elif path.is_file():
            paths.append(path)
        else:
            raise TradeFileError(f"{path}: no such file or directory")
    if not paths:
        raise TradeFileError("no OHLC files given")
    return paths


def _open_rows(path: Path) -> tuple[Iterator[dict[str, str]], list[str], object]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    fh = opener(path, "rt", newline="")
    reader = csv.DictReader(fh)
    if reader.fieldnames is None:
        fh.close()
        raise TradeFileError(f"{path}: empty file (no header row)")
    columns = [c.strip().lower() for c in reader.fieldnames]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        fh.close()
        raise TradeFileError(
            f"{path}: missing column(s) {', '.join(missing)}; an OHLC file needs "
            f"{','.join(REQUIRED)} (found: {', '.join(reader.fieldnames)})"
        )
    rows = ({(k or "").strip().lower(): (v or "") for k, v in row.items()} for row in reader)
    return rows, columns, fh


def read_ohlc_file(
    path: str | Path,
    quote: str = "USD",
    zone: tzinfo = UTC,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    unit_size: float = 1.0,
) -> Iterator[trade_pb2.Trade | BadRow]:
    """The trades of one symbol's OHLC file in time order, with a BadRow per unusable bar.

    Raises:
        TradeFileError: missing file or columns (on the first `next()`).
    """
    path = Path(path)
    if not path.is_file():
        raise TradeFileError(f"{path}: no such file")
    symbol = symbol_for(path, quote)
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise TradeFileError(
            f"{path}: the file name gives symbol {symbol!r}, not BASE-QUOTE (e.g. AAPL.csv -> "
            "AAPL-USD); rename the file"
        )
    rows, columns, fh = _open_rows(path)
    volume_column = next((c for c in VOLUME_COLUMNS if c in columns), None)
    raw_columns = REQUIRED + ((volume_column,) if volume_column else ())
    previous: int | None = None
    try:
        for number, row in enumerate(rows, start=1):
            raw = ",".join(row.get(c, "") for c in raw_columns)
            try:
                volume_text = row.get(volume_column, "").strip() if volume_column else ""
                bar = Bar(
                    start_ms=parse_bar_time_ms(row["datetime"], zone),
                    open=float(row["open"]),
                    high=float(row["high"]),
                    low=float(row["low"]),
                    close=float(row["close"]),
                    volume=float(volume_text) if volume_text else None,
                )
            except (TypeError, ValueError, OverflowError) as exc:
                yield BadRow(number, "malformed", f"{path.name} row {number}: {exc}", raw)
                continue
            problem = bar_problem(bar)
            if problem is not None:
                yield BadRow(number, "invalid_bar", f"{path.name} row {number}: {problem}", raw)
                continue
            if previous is not None and bar.start_ms <= previous:
                yield BadRow(
                    number,
                    "out_of_order",
                    f"{path.name} row {number}: bar at {row['datetime']} is not after the "
                    "previous bar",
                    raw,
                )
                continue
            trades = bar_trades(symbol, bar, interval_ms, unit_size)
            rejection = check_trade(trades[0])
            if rejection is not None:
                yield BadRow(
                    number, rejection.reason, f"{path.name} row {number}: {rejection.detail}", raw
                )
                continue
            previous = bar.start_ms
            yield from trades
    finally:
        fh.close()


def read_ohlc(
    paths: Iterable[str | Path],
    quote: str = "USD",
    zone: tzinfo = UTC,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    unit_size: float = 1.0,
) -> Iterator[trade_pb2.Trade | BadRow]:
    """The trades of several OHLC files merged in time order (BadRows stay in place).

    Raises:
        TradeFileError: a missing file, or one without the OHLC columns.
    """
    if interval_ms < 4:
        raise ValueError(f"bar interval must be >= 4 ms, got {interval_ms}")
    if not (math.isfinite(unit_size) and unit_size > 0):
        raise ValueError(f"unit size must be > 0, got {unit_size}")
    paths = [Path(p) for p in paths]
    symbols = [symbol_for(p, quote) for p in paths]
    if len(set(symbols)) != len(symbols):
        raise TradeFileError(f"two files map to the same symbol: {', '.join(sorted(symbols))}")
    streams = [
        _keyed(index, read_ohlc_file(path, quote, zone, interval_ms, unit_size))
        for index, path in enumerate(paths)
    ]
    for _, _, _, record in heapq.merge(*streams):
        yield record


def _keyed(index: int, records: Iterator[trade_pb2.Trade | BadRow]):
    """(time, file index, position, record): a total order heapq.merge can use."""
    last_time = 0
    for position, record in enumerate(records):
        if isinstance(record, trade_pb2.Trade):
            last_time = record.time_ms
        yield last_time, index, position, record


__all__ = [
    "Bar",
    "bar_problem",
    "bar_trades",
    "expand_inputs",
    "parse_bar_time_ms",
    "read_ohlc",
    "read_ohlc_file",
    "symbol_for",
]
