"""EventSequencer: trades and signals read from several Kafka partitions, handed to the
portfolio engine in the order a portfolio backtest uses, whatever order the partitions are
read in.

    seq = EventSequencer(engine, interval_ms=60_000, max_gap=60)
    seq.track("trades:0", TRADES); seq.track("signals:0", SIGNALS)
    seq.add_trade("trades:0", "BTC-USD", time_ms, price)
    seq.add_signal("signals:0", event)
    seq.set_caught_up("signals:0", True)      # the partition's position is at its end
    seq.release()                             # applies what is complete, in event order

The order (the one of :mod:`tradestream.backtest.portfolio`): candle ends in time order; at
each end, every symbol's candle (symbol order, `PortfolioEngine.on_candle`), then the
signals of that end (symbol, then strategy id).

Candles are built from trades as the realtime pipeline builds them from in-order trades: a
symbol's candle closes once its trades partition has a trade at or after the candle's end
(a partition's trades are in time order), and intervals without a trade become flat candles
at the last close, at most `max_gap` after a real one.

An end T is released when it is complete:
* every trades partition has a trade at or after T, or is caught up (read to its end);
* no symbol still has an open candle ending at or before T;
* every signals partition is caught up. Signals of one partition are not in time order
  across symbols (several writers), so only a partition read to its end says that no
  earlier signal is still to come.
For a replay (every record in the topics before the executor reads them) this makes the
applied order, and so the portfolio, independent of how the partitions were polled. Live, a
signal the realtime pipeline writes after the executor has released its candle end is
applied when it arrives and counted as `late_signals` (its decision says `late`); a trade
for a candle already closed is counted as `late_trades` and not used.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, field

from tradestream.portfolio.engine import PortfolioEngine, SignalEvent

TRADES, SIGNALS = "trades", "signals"
_CANDLE, _SIGNAL = 0, 1
NEVER = -(2**62)  # progress of a partition nothing was read from yet


@dataclass
class CandleBuilder:
    """One symbol's open candle, and where its last closed candle ended."""

    partition: str
    start_ms: int | None = None
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    last_close: float | None = None
    last_end_ms: int | None = None  # end of the last candle queued (real or flat)
    last_real_end_ms: int | None = None


class _Once(set):
    """The `seen` set the engine wants per signal: the sequencer de-duplicates at arrival."""


@dataclass
class EventSequencer:
    """See the module docstring."""

    engine: PortfolioEngine
    interval_ms: int
    max_gap: int = 60
    candles: dict[str, CandleBuilder] = field(default_factory=dict)
    progress: dict[str, int] = field(default_factory=dict)  # partition -> latest trade time
    kinds: dict[str, str] = field(default_factory=dict)  # partition -> TRADES | SIGNALS
    caught_up: set[str] = field(default_factory=set)
    queue: list[tuple] = field(default_factory=list)  # heap of (end, kind, symbol, id, n, x)
    released_until: int = NEVER  # the latest end applied
    seen: set[str] = field(default_factory=set)  # signal ids queued or applied here
    known: Collection[str] = ()  # signal ids the caller's database holds (set per batch)
    _n: int = 0  # insertion counter: a total order on equal keys

    # --- inputs ---------------------------------------------------------------------

    def track(self, partition: str, kind: str) -> None:
        """Declares a partition the executor reads (it holds ends back until read)."""
        if kind not in (TRADES, SIGNALS):
            raise ValueError(f"kind must be {TRADES!r} or {SIGNALS!r}, got {kind!r}")
        self.kinds[partition] = kind
        if kind == TRADES:
            self.progress.setdefault(partition, NEVER)

    def set_caught_up(self, partition: str, caught_up: bool) -> None:
        """Whether the partition has been read to its end offset (as of the last poll)."""
        if caught_up:
            self.caught_up.add(partition)
        else:
            self.caught_up.discard(partition)

    def add_trade(self, partition: str, symbol: str, time_ms: int, price: float) -> None:
        """A trade in the order of its partition; invalid prices are counted and skipped.

        Every trade, also one of a symbol the portfolio does not trade or with an invalid
        price, moves its partition's progress on and so closes the candles it has passed.
        """
        self.kinds.setdefault(partition, TRADES)
        self.progress[partition] = max(self.progress.get(partition, NEVER), time_ms)
        if not (math.isfinite(price) and price > 0):
            self.engine.count("invalid_trades")
        elif self.engine.config.wants_symbol(symbol):
            self._fold(partition, symbol, time_ms, price)
        self._close_passed(partition)

    def _fold(self, partition: str, symbol: str, time_ms: int, price: float) -> None:
        """Adds a trade to its symbol's open candle (closing the one before, if any)."""
        start = time_ms - time_ms % self.interval_ms
        builder = self.candles.get(symbol)
        if builder is None:
            builder = self.candles[symbol] = CandleBuilder(partition)
        builder.partition = partition
        if start + self.interval_ms <= max(self.released_until, builder.last_end_ms or NEVER):
            self.engine.count("late_trades")
            return
        if builder.start_ms is not None and start < builder.start_ms:
            self.engine.count("late_trades")
            return
        if builder.start_ms is not None and start == builder.start_ms:
            builder.high = max(builder.high, price)
            builder.low = min(builder.low, price)
            builder.close = price
        else:
            if builder.start_ms is not None:
                self._close(symbol, builder)
            self._flats(symbol, builder, start)
            builder.start_ms = start
            builder.open = builder.high = builder.low = builder.close = price

    def add_signal(self, partition: str, event: SignalEvent, source: str = "") -> None:
        """A signal; applied at once if its candle end was released already (late).

        A signal id queued or applied before (by this sequencer, or in `known`: what the
        caller's database already holds) is a duplicate: counted, not queued.
        """
        self.kinds.setdefault(partition, SIGNALS)
        if event.signal_id in self.seen or event.signal_id in self.known:
            self.engine.count("duplicates")
            return
        if event.time_ms <= self.released_until:
            self.engine.count("late_signals")
            self.engine.on_signal(event, self.seen, source=source)
            record = self.engine.changes.signals.get(event.signal_id)
            if record is not None:
                record.decision = f"late {record.decision}"
            return
        self.seen.add(event.signal_id)
        self._push(event.time_ms, _SIGNAL, event.symbol, event.strategy_id, (event, source))

    # --- output ---------------------------------------------------------------------

    def release(self) -> int:
        """Applies every complete candle end (see the module docstring); returns how many
        events were applied."""
        limit = self._complete_until()
        applied = 0
        while self.queue and self.queue[0][0] <= limit:
            end, kind, symbol, _, _, payload = heapq.heappop(self.queue)
            if kind == _CANDLE:
                start, o, h, lo, c = payload
                self.engine.on_candle(symbol, start, self.interval_ms, o, h, lo, c)
            else:
                event, source = payload
                self.engine.on_signal(event, _Once(), source=source)
            self.released_until = max(self.released_until, end)
            applied += 1
        return applied

    def pending(self) -> int:
        """Events waiting for their candle end to be complete."""
        return len(self.queue)

    # --- state ----------------------------------------------------------------------

    def to_json(self) -> dict:
        """What a restart needs (stored with the offsets after the records it holds)."""
        queue = []
        for end, kind, symbol, key, n, payload in sorted(self.queue):
            data = list(payload) if kind == _CANDLE else [payload[0].to_json(), payload[1]]
            queue.append([end, kind, symbol, key, n, data])
        return {
            "interval_ms": self.interval_ms,
            "candles": {s: asdict(b) for s, b in sorted(self.candles.items())},
            "progress": dict(sorted(self.progress.items())),
            "queue": queue,
            "released_until": self.released_until,
            "n": self._n,
        }

    def restore(self, data: dict) -> None:
        """Takes back what `to_json` stored (the same interval only)."""
        if data["interval_ms"] != self.interval_ms:
            raise ValueError(
                f"the stored candles are of {data['interval_ms']} ms, not {self.interval_ms} "
                "ms: the candle interval cannot change under a portfolio"
            )
        self.candles = {s: CandleBuilder(**b) for s, b in data["candles"].items()}
        self.progress.update(data["progress"])
        self.queue = []
        for end, kind, symbol, key, n, payload in data["queue"]:
            if kind == _CANDLE:
                item = tuple(payload)
            else:
                item = (SignalEvent(**payload[0]), payload[1])
                self.seen.add(item[0].signal_id)
            self.queue.append((end, kind, symbol, key, n, item))
        heapq.heapify(self.queue)
        self.released_until = data["released_until"]
        self._n = data["n"]

    # --- inside ---------------------------------------------------------------------

    def _complete_until(self) -> float:
        """The latest candle end that is complete (see the module docstring)."""
        limit: float = math.inf
        for partition, kind in self.kinds.items():
            if partition in self.caught_up:
                continue
            if kind == SIGNALS:
                return NEVER
            limit = min(limit, self.progress.get(partition, NEVER))
        for builder in self.candles.values():
            if builder.start_ms is not None:  # its open candle ends at start + interval
                limit = min(limit, builder.start_ms + self.interval_ms - 1)
        return limit

    def _push(self, end: int, kind: int, symbol: str, key: str, payload) -> None:
        self._n += 1
        heapq.heappush(self.queue, (end, kind, symbol, key, self._n, payload))

    def _close(self, symbol: str, b: CandleBuilder) -> None:
        assert b.start_ms is not None
        end = b.start_ms + self.interval_ms
        self._push(end, _CANDLE, symbol, "", (b.start_ms, b.open, b.high, b.low, b.close))
        b.last_close, b.last_end_ms, b.last_real_end_ms = b.close, end, end
        b.start_ms = None

    def _flats(self, symbol: str, b: CandleBuilder, until_start: int) -> None:
        """Flat candles at the last close for the intervals before `until_start` that had no
        trade, at most `max_gap` after the last real candle."""
        if b.last_end_ms is None or b.last_close is None or b.last_real_end_ms is None:
            return
        start = b.last_end_ms
        last_allowed = b.last_real_end_ms + (self.max_gap - 1) * self.interval_ms
        while start < until_start and start <= last_allowed:
            c = b.last_close
            self._push(start + self.interval_ms, _CANDLE, symbol, "", (start, c, c, c, c))
            start += self.interval_ms
            b.last_end_ms = start

    def _close_passed(self, partition: str) -> None:
        """Closes the open candles of `partition`'s symbols that its trades have passed, and
        fills the intervals since (a partition's trades are in time order)."""
        progress = self.progress[partition]
        passed = progress - progress % self.interval_ms  # intervals wholly before `progress`
        for symbol, b in self.candles.items():
            if b.partition != partition:
                continue
            if b.start_ms is not None and b.start_ms + self.interval_ms <= passed:
                self._close(symbol, b)
            if b.start_ms is None:
                self._flats(symbol, b, passed)
