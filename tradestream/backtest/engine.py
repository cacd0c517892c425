"""The position simulator: signal matrices in, equity curves and trades out, no per-bar loop.

Execution model (the same for every strategy; `ExecutionConfig` holds the settings)
------------------------------------------------------------------------------------
* Signals are position-free (see :mod:`strategies`): +1 BUY, -1 SELL on rising edges. The
  simulator turns them into a position. Long-only (default): BUY opens a long when flat, SELL
  closes it; a BUY while long or a SELL while flat changes nothing. With `allow_short`, SELL
  opens a short (closing a long first, at the same price) and BUY covers it (and goes long):
  the position is always the side of the latest signal.
* `fill="close"` (default): a signal is acted on at the close of the candle that produced it.
  `fill="next_open"`: at the open of the next candle; a signal on the last candle is not
  acted on.
* All-in, fractional sizing: an entry commits the whole equity. A long buys
  `units = equity / (price_in * (1 + fee))`; a short sells the same number of units.
* Costs: `slippage_bps` moves every fill against the trader (buys at `p * (1 + s)`, sells at
  `p * (1 - s)`); `fee` is a fraction of the fill's notional, paid on entry and on exit. A
  reversal (long to short) is an exit and an entry, each paying its costs.
* Equity is marked to market at every candle's close (an open position is valued at the close,
  without its exit fee). A short of `u` units entered at `p_in` is worth `u * (2 * p_in -
  close)`; a short whose value reaches 0 at a close (close >= 2 * p_in) is liquidated there:
  equity stays 0 and later signals are ignored.
* Trade return = exit value / equity committed at entry - 1 (fees and slippage included);
  trade P&L = that return * the committed equity. A position still open after the last candle
  is reported as an open trade marked at the last close; the trade statistics count closed
  trades only.

Vectorization
-------------
Whole-array numpy over k parameter sets and n candles, no per-candle loop. Signals are
sparse, so the work happens on them:
1. the non-zero signals of the (k, n) matrix (`np.nonzero`, sorted by set then candle) give
   the wanted position after each; the ones that change it are the "events" (shifted one
   candle for `next_open`);
2. each event starts a segment of constant position. Entry/exit prices, the growth factor of
   each finished segment and the equity committed to each segment (a per-set cumulative
   product, in log space) are computed per event;
3. within a segment equity is linear in the close, `E = a + b * close` (flat: `a` =
   committed, `b = 0`; long: `b` = units; short: `a = 2 * units * p_in`, `b = -units`), so
   the (k, n) equity matrix is two `np.repeat`s of the segment values and a multiply-add.
The equity matrix (8 bytes per set and candle) and the metrics' temporaries dominate memory;
callers chunk parameter sets, budgeting 64 bytes per set and candle (:func:`chunk_size_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tradestream.backtest.config import ExecutionConfig

# Peak working set of a chunk per (set, candle): evaluating its strategies (their indicator
# nodes, shared within the chunk), simulating them and their metrics. Measured (tracemalloc)
# at 26-45 bytes on 256-set chunks of BBAND_W_R, KST_OSCILLATOR, ICHIMOKU_CLOUD, SAR_MFI,
# VOLUME_WEIGHTED_MACD and MICRO_REVERSAL_SCALPER grids, each set with its own nodes.
_BYTES_PER_CELL = 64


def chunk_size_for(candles: int, memory_mb: float, cap: int = 512) -> int:
    """How many parameter sets to simulate at once within about `memory_mb` of working set."""
    fit = int(memory_mb * 1024 * 1024 // (max(candles, 1) * _BYTES_PER_CELL))
    return max(1, min(cap, fit))


@dataclass(frozen=True)
class Trades:
    """Round trips of k parameter sets, as parallel arrays (one element per trade).

    `row` is the parameter set's index in the chunk; `entry`/`exit` are candle indices (the
    candles whose close (fill=close) or open (fill=next_open) filled them; the last candle for
    an open trade); prices include slippage; `ret` and `pnl` include fees. Sorted by (row,
    entry).
    """

    row: np.ndarray  # int64
    entry: np.ndarray  # int64
    exit: np.ndarray  # int64
    direction: np.ndarray  # int8: +1 long, -1 short
    entry_price: np.ndarray
    exit_price: np.ndarray  # the last close for an open trade
    size: np.ndarray  # units of the base asset
    ret: np.ndarray
    pnl: np.ndarray
    closed: np.ndarray  # bool

    def __len__(self) -> int:
        return int(self.row.shape[0])

    def select(self, mask: np.ndarray) -> Trades:
        """The trades where `mask` (bool or index array) selects."""
        return Trades(**{f.name: getattr(self, f.name)[mask] for f in fields(self)})


@dataclass(frozen=True)
class Simulation:
    """The outcome of k parameter sets over one symbol's n candles.

    Attributes:
        equity: (k, n) float64, equity at each candle's close.
        trades: every round trip, closed and open.
        cash: the starting equity.
        segment_side: per segment of constant position (set by set, in candle order), the
            position (+1, 0, -1) held at the close of its candles.
        segment_length: its number of candles (k * n in all).
        segment_row: its parameter set.
    """

    equity: np.ndarray
    trades: Trades
    cash: float
    segment_side: np.ndarray
    segment_length: np.ndarray
    segment_row: np.ndarray

    def position(self) -> np.ndarray:
        """(k, n) int8: the position held at each candle's close."""
        return np.repeat(self.segment_side.astype(np.int8), self.segment_length).reshape(
            self.equity.shape
        )

    def exposure(self) -> np.ndarray:
        """(k,) fraction of candles that end with a position."""
        k, n = self.equity.shape
        held = np.where(self.segment_side != 0, self.segment_length, 0).astype(np.float64)
        return np.bincount(self.segment_row, weights=held, minlength=k) / n


def simulate(
    signals: np.ndarray, open_: np.ndarray, close: np.ndarray, config: ExecutionConfig
) -> Simulation:
    """Runs k signal series over one symbol's candles (see the module docstring).

    Args:
        signals: (k, n) int8 signal matrix (or (n,) for one set).
        open_: (n,) candle opens.
        close: (n,) candle closes.
        config: execution settings.

    Returns:
        The Simulation of the k sets.
    """
    signals = np.atleast_2d(np.asarray(signals, dtype=np.int8))
    k, n = signals.shape
    close = np.ascontiguousarray(close, dtype=np.float64)
    price = close if config.fill == "close" else np.ascontiguousarray(open_, dtype=np.float64)
    rows, cols, new = _position_changes(signals, config.fill, config.allow_short)
    fills = price[cols]
    events = _events(k, n, rows, cols, new, fills, config)
    if config.allow_short and (events.new < 0).any():
        busted = _bankruptcies(events, close, n)
        if busted:
            rows, cols, new, fills = _liquidate(rows, cols, new, fills, busted, close)
            events = _events(k, n, rows, cols, new, fills, config)
    equity = np.repeat(events.slope, events.length).reshape(k, n)
    equity *= close
    equity += np.repeat(events.level, events.length).reshape(k, n)
    np.maximum(equity, 0.0, out=equity)
    return Simulation(
        equity=equity,
        trades=_trades(events, close),
        cash=config.cash,
        segment_side=events.side,
        segment_length=events.length,
        segment_row=events.segment_row,
    )


@dataclass(frozen=True)
class _Events:
    """The position changes (events) of one simulation, and the segments they delimit.

    Arrays indexed by event, except the segment arrays (`level`, `slope`, `side`, `length`,
    `segment_row`: per row its initial flat segment, then one per event). "This segment" is
    the one the event starts, "the previous" the one it ends.
    """

    row: np.ndarray  # parameter set
    col: np.ndarray  # candle
    old: np.ndarray  # side of the previous segment
    new: np.ndarray  # side of this segment
    entry_price: np.ndarray  # this segment's entry fill price
    prev_entry: np.ndarray  # the previous segment's entry fill price
    prev_col: np.ndarray  # the candle where the previous segment started
    exit_price: np.ndarray  # the previous segment's exit fill price (this candle)
    growth: np.ndarray  # the previous segment's exit value / its committed equity
    committed: np.ndarray  # equity committed to this segment
    prev_committed: np.ndarray  # equity committed to the previous segment
    units: np.ndarray  # this segment's position size (0 when flat)
    prev_units: np.ndarray
    last_in_row: np.ndarray  # bool: the row's last event
    level: np.ndarray  # a in E = a + b * close
    slope: np.ndarray  # b
    side: np.ndarray
    length: np.ndarray
    segment_row: np.ndarray


def _shifted(values: np.ndarray, first_in_row: np.ndarray, fill) -> np.ndarray:
    """values[i - 1] within each row, `fill` at each row's first element."""
    out = np.empty_like(values)
    out[1:] = values[:-1]
    out[first_in_row] = fill
    return out


def _first_in_row(rows: np.ndarray) -> np.ndarray:
    first = np.ones(rows.shape[0], dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    return first


def _position_changes(signals: np.ndarray, fill: str, allow_short: bool):
    """(row, col, new side) of every fill that changes the position, sorted by (row, col)."""
    n = signals.shape[1]
    rows, cols = np.nonzero(signals)
    wanted = signals[rows, cols].astype(np.int64)
    if not allow_short:
        wanted = (wanted > 0).astype(np.int64)
    if fill == "next_open":
        cols = cols + 1
        keep = cols < n  # a signal on the last candle has no next open
        rows, cols, wanted = rows[keep], cols[keep], wanted[keep]
    before = _shifted(wanted, _first_in_row(rows), 0)  # every row starts flat
    moves = wanted != before
    return rows[moves].astype(np.int64), cols[moves].astype(np.int64), wanted[moves]


def _events(
    k: int,
    n: int,
    rows: np.ndarray,
    cols: np.ndarray,
    new: np.ndarray,
    fill: np.ndarray,
    config: ExecutionConfig,
) -> _Events:
    """Prices, growth and committed equity of every event; the segments' equity lines."""
    count = rows.shape[0]
    first_in_row = _first_in_row(rows)
    last_in_row = np.ones(count, dtype=bool)
    last_in_row[:-1] = rows[1:] != rows[:-1]
    old = _shifted(new, first_in_row, 0)
    fee, slip = config.fee, config.slippage
    entry_price = fill * (1.0 + slip * new)  # buys pay up, sells get less
    exit_price = fill * (1.0 - slip * old)
    prev_entry = _shifted(entry_price, first_in_row, 1.0)
    prev_col = _shifted(cols, first_in_row, 0)

    cost = prev_entry * (1.0 + fee)
    growth = np.ones(count)
    long_, short = old > 0, old < 0
    growth[long_] = exit_price[long_] * (1.0 - fee) / cost[long_]
    growth[short] = (2.0 * prev_entry[short] - exit_price[short] * (1.0 + fee)) / cost[short]
    np.maximum(growth, 0.0, out=growth)

    # Equity committed after each event: cash * the product of the row's growths so far, as
    # a cumulative sum of logs restarted at each row. A growth of 0 (a short wiped out) is
    # counted apart, so that it zeroes its own row only.
    wiped = growth == 0
    logs = np.log(np.where(wiped, 1.0, growth))
    total = np.cumsum(logs)
    zeros = np.cumsum(wiped)
    row_start = np.maximum.accumulate(np.where(first_in_row, np.arange(count), 0))
    committed = config.cash * np.exp(total - (total[row_start] - logs[row_start]))
    committed[zeros - (zeros[row_start] - wiped[row_start]) > 0] = 0.0
    units = np.where(new != 0, committed / (entry_price * (1.0 + fee)), 0.0)

    # Segments: per row the initial flat one, then one per event.
    per_row = np.bincount(rows, minlength=k) + 1
    row_base = np.zeros(k, dtype=np.int64)
    row_base[1:] = np.cumsum(per_row)[:-1]
    segments = int(per_row.sum())
    segment = row_base[rows] + (np.arange(count) - row_start) + 1
    level = np.full(segments, config.cash)
    slope = np.zeros(segments)
    side = np.zeros(segments, dtype=np.int8)
    level[segment] = np.where(
        new == 0, committed, np.where(new < 0, 2.0 * units * entry_price, 0.0)
    )
    slope[segment] = units * new
    side[segment] = new
    starts = np.zeros(segments, dtype=np.int64)
    starts[segment] = cols
    ends = np.empty(segments, dtype=np.int64)
    ends[:-1] = starts[1:]
    ends[row_base + per_row - 1] = n
    return _Events(
        row=rows,
        col=cols,
        old=old,
        new=new,
        entry_price=entry_price,
        prev_entry=prev_entry,
        prev_col=prev_col,
        exit_price=exit_price,
        growth=growth,
        committed=committed,
        prev_committed=_shifted(committed, first_in_row, config.cash),
        units=units,
        prev_units=_shifted(units, first_in_row, 0.0),
        last_in_row=last_in_row,
        level=level,
        slope=slope,
        side=side,
        length=ends - starts,
        segment_row=np.repeat(np.arange(k), per_row),
    )


def _bankruptcies(events: _Events, close: np.ndarray, n: int) -> dict[int, tuple[int, bool]]:
    """row -> (candle, at its close) where a short lost everything, the earliest per row.

    Either a close at or above twice the entry price while short (liquidated at that close),
    or an exit fill so high that nothing is left (growth 0 at that event).
    """
    shorts = np.flatnonzero(events.new < 0)
    starts = events.col[shorts]
    following = events.col[np.minimum(shorts + 1, len(events.col) - 1)]
    ends = np.where(events.last_in_row[shorts], n, following)
    ends = np.maximum(ends, starts + 1)  # a zero-length short (next_open) still marks its candle
    threshold = 2.0 * events.entry_price[shorts]
    busted: dict[int, tuple[int, bool]] = {}
    for i in np.flatnonzero(_range_max(close, starts, ends) >= threshold):
        row = int(events.row[shorts[i]])  # rare: only shorts that lose everything
        start, end = int(starts[i]), int(ends[i])
        first = start + int(np.argmax(close[start:end] >= threshold[i]))
        if row not in busted or first < busted[row][0]:
            busted[row] = (first, True)
    for i in np.flatnonzero((events.growth == 0) & (events.old < 0)):
        row, col = int(events.row[i]), int(events.col[i])
        if row not in busted or col < busted[row][0]:
            busted[row] = (col, False)
    return busted


def _range_max(values: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """max(values[s:e]) for each (s, e), e > s, with a sparse table (O(n log n) once)."""
    levels = [values]
    width = 1
    while 2 * width <= values.shape[0]:
        prev = levels[-1]
        levels.append(np.maximum(prev[:-width], prev[width:]))
        width *= 2
    span = ends - starts
    power = np.floor(np.log2(span)).astype(np.int64)
    out = np.empty(starts.shape[0])
    for level in np.unique(power):
        sel = power == level
        table = levels[level]
        out[sel] = np.maximum(table[starts[sel]], table[ends[sel] - (1 << level)])
    return out


def _liquidate(rows, cols, new, fills, busted: dict[int, tuple[int, bool]], close):
    """Ends each busted row at its bankruptcy: no position and no event after it."""
    keep = np.ones(rows.shape[0], dtype=bool)
    new = new.copy()
    extra_rows, extra_cols = [], []
    for row, (col, at_close) in busted.items():
        in_row = rows == row
        keep &= ~(in_row & (cols > col))
        if at_close:  # liquidated at this close
            extra_rows.append(row)
            extra_cols.append(col)
        else:  # the exit fill took everything: nothing is re-entered
            new[in_row & (cols == col)] = 0
    extra = np.array(extra_cols, dtype=np.int64)
    rows = np.concatenate([rows[keep], np.array(extra_rows, dtype=np.int64)])
    cols = np.concatenate([cols[keep], extra])
    new = np.concatenate([new[keep], np.zeros(extra.shape[0], dtype=new.dtype)])
    fills = np.concatenate([fills[keep], close[extra]])
    # A liquidation goes after an entry on the same candle (next_open).
    order = np.lexsort((np.arange(rows.shape[0]), cols, rows))
    return rows[order], cols[order], new[order], fills[order]


def _trades(events: _Events, close: np.ndarray) -> Trades:
    e = events
    n = close.shape[0]
    # Closed: every event that ends a position.
    ends = np.flatnonzero(e.old != 0)
    ret = e.growth[ends] - 1.0
    closed = {
        "row": e.row[ends],
        "entry": e.prev_col[ends],
        "exit": e.col[ends],
        "direction": e.old[ends].astype(np.int8),
        "entry_price": e.prev_entry[ends],
        "exit_price": e.exit_price[ends],
        "size": e.prev_units[ends],
        "ret": ret,
        "pnl": e.prev_committed[ends] * ret,
        "closed": np.ones(ends.shape[0], dtype=bool),
    }
    # Open after the last candle: the last event of a row that holds something.
    still = np.flatnonzero(e.last_in_row & (e.new != 0))
    base = e.committed[still]
    value = e.units[still] * np.where(
        e.new[still] > 0, close[-1], 2.0 * e.entry_price[still] - close[-1]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        open_ret = np.where(base > 0, np.maximum(value, 0.0) / base - 1.0, -1.0)
    opened = {
        "row": e.row[still],
        "entry": e.col[still],
        "exit": np.full(still.shape[0], n - 1, dtype=np.int64),
        "direction": e.new[still].astype(np.int8),
        "entry_price": e.entry_price[still],
        "exit_price": np.full(still.shape[0], close[-1]),
        "size": e.units[still],
        "ret": open_ret,
        "pnl": base * open_ret,
        "closed": np.zeros(still.shape[0], dtype=bool),
    }
    merged = {name: np.concatenate([closed[name], opened[name]]) for name in closed}
    order = np.lexsort((merged["entry"], merged["row"]))
    return Trades(**{name: values[order] for name, values in merged.items()})
