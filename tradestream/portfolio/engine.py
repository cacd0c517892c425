"""PortfolioEngine: signals in, decisions and fills out. Pure state, no I/O, deterministic.

The same sequence of signals (and, for ATR stops, trades; for a portfolio backtest,
candles) always gives the same portfolio: the paper executor feeds it records in Kafka order
and stores what it returns; `backtest --portfolio` feeds it the candles and signals of
historical data in event-time order (see `on_candle`); the tests feed it lists.

Per signal (first sight of its `signal_id` only; a repeat is counted and ignored):

1. symbol filter; with ATR stops, the signal waits (pending, in arrival order per symbol)
   until that symbol's trades have closed the ATR candle of its candle end;
2. mark the symbol at the signal's price (event time = candle end), update the risk limits
   (see risk.py), flatten everything if the breaker trips with `breaker_flatten`;
3. protective stops of the symbol's positions: a long at or below its stop, a short at or
   above, is closed at this price;
4. the action, per book (the strategy, or the symbol's `vote` book, see aggregation.py):

       BUY:   flat -> open long;  short -> cover, then open long;   long  -> hold
       SELL:  long -> close (then open short if shorting);  flat -> open short if shorting
              else ignore;  short -> hold

   An entry needs: the strategy filter and minimum confidence, no halt (risk limits), fewer
   than `max_open_positions` open, and a size (sizing.py). Exits are never refused.

   An entry is a market order at the signal's price, or (`entry_order`, or the signal's own
   OrderIntent) a limit or stop order that later candles fill (orders.py).

Per candle (`on_candle`, where candles are known: a portfolio backtest, `paper run
--candles`), before the signals of that candle:

1. exits inside the candle's range (orders.py): protective stops and take-profit targets,
   the stop first when the candle reaches both, a gap filled at the open. The fill is dated
   at the candle's end, when the candle is known;
2. pending limit and stop entries of the symbol: filled, expired, or left waiting;
3. trailing stops move to the candle's best price less their distance;
4. the symbol is marked at the close, the risk limits are updated (as for a signal), and the
   candle's end gets an equity point.
"""

from __future__ import annotations

import logging
import math
from collections.abc import MutableSet
from dataclasses import asdict, dataclass, field

from google.protobuf.message import DecodeError

from tradestream.portfolio.account import Fill, Portfolio, Position
from tradestream.portfolio.aggregation import VOTE_BOOK, Vote, VoteBook
from tradestream.portfolio.atr import AtrTracker
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.orders import (
    PendingOrder,
    entry_fill,
    exit_at_price,
    exit_fill,
    order_price,
)
from tradestream.portfolio.risk import RiskState, RiskStatus, reset_breaker, status_of, update_risk
from tradestream.portfolio.sizing import entry_size, fill_price
from tradestream.v1 import signal_pb2

log = logging.getLogger(__name__)

_ACTIONS = {signal_pb2.ACTION_BUY: "BUY", signal_pb2.ACTION_SELL: "SELL"}
_ORDER_TYPES = {
    signal_pb2.ORDER_TYPE_MARKET: "market",
    signal_pb2.ORDER_TYPE_LIMIT: "limit",
    signal_pb2.ORDER_TYPE_STOP: "stop",
}


@dataclass(frozen=True)
class SignalEvent:
    """The fields of a `Signal` the executor uses."""

    signal_id: str
    symbol: str
    action: str  # BUY | SELL
    price: float
    candle_start_ms: int
    candle_interval_ms: int
    strategy_id: str
    strategy_type: str
    reason: str = ""
    confidence: float = 1.0
    # The signal's order intent (protobuf OrderIntent); empty/0: the engine's settings.
    order_type: str = ""  # market | limit | stop
    order_price: float = 0.0
    time_in_force: int = 0
    stop_price: float = 0.0
    take_profit_price: float = 0.0

    @property
    def time_ms(self) -> int:
        """Event time: the end of the candle that produced the signal."""
        return self.candle_start_ms + self.candle_interval_ms

    @classmethod
    def from_proto(cls, signal: signal_pb2.Signal) -> SignalEvent:
        """Raises ValueError for a signal no executor can act on."""
        action = _ACTIONS.get(signal.action)
        if action is None:
            raise ValueError(f"signal {signal.signal_id!r}: unknown action {signal.action}")
        if not signal.signal_id or not signal.symbol:
            raise ValueError("signal without signal_id or symbol")
        if not signal.price > 0 or signal.price == float("inf"):
            raise ValueError(f"signal {signal.signal_id}: price must be > 0, got {signal.price}")
        # A NaN confidence would poison the symbol's vote score for good.
        if not 0 <= signal.confidence <= 1:
            raise ValueError(
                f"signal {signal.signal_id}: confidence must be in [0, 1], got {signal.confidence}"
            )
        if signal.candle_start_ms < 0 or signal.candle_interval_ms < 0:
            raise ValueError(
                f"signal {signal.signal_id}: candle time {signal.candle_start_ms} / interval "
                f"{signal.candle_interval_ms} must be >= 0"
            )
        intent = signal.order
        for name in ("price", "stop_price", "take_profit_price"):
            value = getattr(intent, name)
            if not (0 <= value < math.inf):
                raise ValueError(
                    f"signal {signal.signal_id}: order {name} must be >= 0, got {value}"
                )
        if intent.time_in_force_candles < 0:
            raise ValueError(
                f"signal {signal.signal_id}: order time_in_force_candles must be >= 0, got "
                f"{intent.time_in_force_candles}"
            )
        return cls(
            signal_id=signal.signal_id,
            symbol=signal.symbol,
            action=action,
            price=signal.price,
            candle_start_ms=signal.candle_start_ms,
            candle_interval_ms=signal.candle_interval_ms,
            strategy_id=signal.strategy.strategy_id or signal.strategy.type,
            strategy_type=signal.strategy.type,
            reason=signal.reason,
            confidence=signal.confidence,
            order_type=_ORDER_TYPES.get(intent.type, ""),
            order_price=intent.price,
            time_in_force=intent.time_in_force_candles,
            stop_price=intent.stop_price,
            take_profit_price=intent.take_profit_price,
        )

    def to_json(self) -> dict:
        return asdict(self)


def decode_signal(value: bytes | None) -> SignalEvent:
    """A `signals` record value as a SignalEvent.

    Raises:
        ValueError: no value (a tombstone), not a protobuf Signal, or a signal no executor can
            act on (see `SignalEvent.from_proto`).
    """
    if value is None:
        raise ValueError("record without a value")
    try:
        signal = signal_pb2.Signal.FromString(value)
    except DecodeError as exc:
        raise ValueError(f"not a protobuf Signal: {exc}") from None
    return SignalEvent.from_proto(signal)


@dataclass
class SignalRecord:
    """What the executor did with a signal (the `signals` table)."""

    seq: int
    event: SignalEvent
    decision: str = ""
    detail: str = ""
    source: str = ""  # topic/partition/offset it came from
    received_ms: int = 0  # wall clock (display only; never used in decisions)


@dataclass(frozen=True)
class EquityPoint:
    seq: int
    time_ms: int
    equity: float
    cash: float
    exposure: float
    drawdown: float


@dataclass(frozen=True)
class RiskEvent:
    time_ms: int
    kind: str
    message: str


@dataclass
class Changes:
    """Everything a batch changed: what the store writes in one transaction."""

    signals: dict[str, SignalRecord] = field(default_factory=dict)
    new_signal_ids: set[str] = field(default_factory=set)
    fills: list[Fill] = field(default_factory=list)
    equity: dict[int, EquityPoint] = field(default_factory=dict)  # by point number
    events: list[RiskEvent] = field(default_factory=list)
    marks: set[str] = field(default_factory=set)
    votes: set[tuple[str, str]] = field(default_factory=set)
    atr: set[str] = field(default_factory=set)
    pending_added: dict[str, tuple[int, SignalEvent]] = field(default_factory=dict)
    pending_removed: set[str] = field(default_factory=set)


@dataclass
class EngineState:
    portfolio: Portfolio
    risk: RiskState
    votes: VoteBook = field(default_factory=VoteBook)
    atr: dict[str, AtrTracker] = field(default_factory=dict)
    pending: dict[str, list[tuple[int, SignalEvent]]] = field(default_factory=dict)  # by symbol
    orders: dict[tuple[str, str], PendingOrder] = field(default_factory=dict)  # (symbol, book)
    seq: int = 0  # signals numbered in arrival order
    fill_id: int = 0
    last_equity_seq: int = 0  # number of the latest equity point
    last_equity_time_ms: int = -1
    counters: dict[str, int] = field(default_factory=dict)

    @classmethod
    def fresh(cls, config: PortfolioConfig) -> EngineState:
        return cls(Portfolio(cash=config.initial_cash), RiskState(peak_equity=config.initial_cash))


class PortfolioEngine:
    """Applies signals (and trades, for ATR stops) to a paper portfolio."""

    def __init__(
        self, config: PortfolioConfig, state: EngineState | None = None, candles: bool = False
    ) -> None:
        """`candles`: candles will come (`on_candle`), so limit and stop entries can fill."""
        self.config = config
        self.state = state or EngineState.fresh(config)
        self.changes = Changes()
        self.candles = candles

    # --- inputs -------------------------------------------------------------------------

    def on_signal(
        self,
        event: SignalEvent,
        seen: MutableSet[str],
        source: str = "",
        received_ms: int = 0,
    ) -> str:
        """Processes one signal; returns its decision ('duplicate' for a repeat).

        Args:
            event: the signal.
            seen: signal ids already processed (the executor's view of its database);
                the id is added to it.
            source: where it came from (topic/partition/offset), for the record.
            received_ms: wall-clock arrival, for display.
        """
        st = self.state
        if event.signal_id in seen:
            self.count("duplicates")
            return "duplicate"
        seen.add(event.signal_id)
        st.seq += 1
        self.count("signals")
        record = SignalRecord(st.seq, event, source=source, received_ms=received_ms)
        self.changes.new_signal_ids.add(event.signal_id)
        self.changes.signals[event.signal_id] = record
        if not self.config.wants_symbol(event.symbol):
            record.decision = "ignored:symbol"
            return record.decision
        if self.config.needs_trades:
            queue = st.pending.get(event.symbol)
            tracker = st.atr.get(event.symbol)
            if queue or tracker is None or not tracker.ready_for(event.time_ms):
                st.pending.setdefault(event.symbol, []).append((st.seq, event))
                self.changes.pending_added[event.signal_id] = (st.seq, event)
                record.decision = "pending"
                return record.decision
        self._process(record)
        return record.decision

    def on_trade(self, symbol: str, time_ms: int, price: float) -> None:
        """Feeds the symbol's ATR candles; releases the signals that were waiting for them."""
        if not self.config.needs_trades or not self.config.wants_symbol(symbol):
            return
        if not 0 < price < math.inf:
            return
        self.count("trades")
        tracker = self._tracker(symbol)
        tracker.add_trade(time_ms, price)
        queue = self.state.pending.get(symbol)
        while queue and tracker.ready_for(queue[0][1].time_ms):
            seq, event = queue.pop(0)
            self.changes.pending_added.pop(event.signal_id, None)
            self.changes.pending_removed.add(event.signal_id)
            record = self.changes.signals.get(event.signal_id) or SignalRecord(seq, event)
            self.changes.signals[event.signal_id] = record
            self._process(record)
        if queue is not None and not queue:
            del self.state.pending[symbol]

    def _tracker(self, symbol: str) -> AtrTracker:
        """The symbol's ATR tracker (created on first use), marked as changed."""
        tracker = self.state.atr.get(symbol)
        if tracker is None:
            tracker = AtrTracker(self.config.atr_interval_ms, self.config.atr_period)
            self.state.atr[symbol] = tracker
        self.changes.atr.add(symbol)
        return tracker

    def reset_breaker(self, time_ms: int) -> None:
        reset_breaker(self.state.risk, self.state.portfolio.equity())
        self.changes.events.append(RiskEvent(time_ms, "breaker_reset", "circuit breaker reset"))

    def take_changes(self) -> Changes:
        changes, self.changes = self.changes, Changes()
        return changes

    def risk_status(self) -> RiskStatus:
        return status_of(self.state.risk, self.state.portfolio.equity())

    # --- the decision -------------------------------------------------------------------

    def on_candle(
        self,
        symbol: str,
        start_ms: int,
        interval_ms: int,
        open_: float,
        high: float,
        low: float,
        close: float,
    ) -> list[str]:
        """A closed candle of `symbol`: stops inside its range, then the mark at its close.

        Returns what happened (`stop:BOOK`, `breaker:flattened`), for logs and tests.
        """
        if not self.config.wants_symbol(symbol):
            return []
        t = start_ms + interval_ms
        notes: list[str] = []
        pf = self.state.portfolio
        for pos in sorted(
            (p for p in pf.positions.values() if p.symbol == symbol), key=lambda p: p.book
        ):
            hit = exit_fill(pos.qty, pos.stop_price, pos.target_price, open_, high, low)
            if hit is not None:
                self._close(pos, t, "", hit[0], hit[1])
                notes.append(f"{hit[1]}:{pos.book}")
        notes += self._fill_orders(symbol, start_ms, t, open_, high, low)
        for pos in pf.positions.values():
            if pos.symbol == symbol and pos.trail_distance is not None and pos.opened_ms < t:
                self._trail(pos, high if pos.qty > 0 else low)
        if self.config.needs_trades:
            if interval_ms != self.config.atr_interval_ms:
                raise ValueError(
                    f"ATR stops need candles of the ATR interval ({self.config.atr_interval_ms} "
                    f"ms), got {interval_ms} ms"
                )
            self._tracker(symbol).add_candle(start_ms, high, low, close)
        _, breaker_notes = self._mark(symbol, close, t, "")
        self._equity_point(t)
        return notes + breaker_notes

    def _fill_orders(
        self, symbol: str, start_ms: int, t: int, open_: float, high: float, low: float
    ) -> list[str]:
        """The symbol's pending entry orders against one candle: expired, filled or waiting."""
        notes = []
        for key in sorted(k for k in self.state.orders if k[0] == symbol):
            order = self.state.orders[key]
            if order.placed_ms > start_ms:
                continue  # placed after this candle began (cannot happen in event order)
            if t > order.expires_ms:
                del self.state.orders[key]
                self.count("orders_expired")
                notes.append(f"expired:{order.book}")
                continue
            price = entry_fill(order.side, order.kind, order.price, open_, high, low)
            if price is None:
                continue
            del self.state.orders[key]
            outcome = self._open(order, price, t)
            notes.append(f"{order.kind}:{outcome}:{order.book}")
            pos = self.state.portfolio.positions.get(key)
            if pos is not None and pos.opened_ms == t:
                # Filled inside this candle: its stop too, if the candle reaches it.
                hit = exit_fill(pos.qty, pos.stop_price, None, price, high, low)
                if hit is not None:
                    self._close(pos, t, "", hit[0], "stop")
                    notes.append(f"stop:{pos.book}")
        return notes

    def _trail(self, pos: Position, best: float) -> None:
        """Moves a trailing stop after a candle (or a signal's price): never back."""
        assert pos.trail_distance is not None
        if pos.qty > 0:
            pos.extreme = max(pos.extreme if pos.extreme is not None else best, best)
            pos.stop_price = max(pos.stop_price or -math.inf, pos.extreme - pos.trail_distance)
        else:
            pos.extreme = min(pos.extreme if pos.extreme is not None else best, best)
            pos.stop_price = min(pos.stop_price or math.inf, pos.extreme + pos.trail_distance)

    def _mark(self, symbol: str, price: float, t: int, signal_id: str) -> tuple[RiskStatus, list]:
        """Marks `symbol` at `price`, advances the risk limits, flattens on a tripped breaker."""
        cfg, st, pf = self.config, self.state, self.state.portfolio
        equity_before = pf.equity()
        pf.mark(symbol, price, t)
        self.changes.marks.add(symbol)
        was_tripped = st.risk.breaker
        status, messages = update_risk(st.risk, cfg, equity_before, pf.equity(), t)
        for message in messages:
            kind = "breaker" if message.startswith("circuit") else "loss_limit"
            self.changes.events.append(RiskEvent(t, kind, message))
            log.warning("%s", message)
        notes: list[str] = []
        if status.breaker and not was_tripped and cfg.breaker_flatten:
            for pos in sorted(pf.positions.values(), key=lambda p: (p.symbol, p.book)):
                self._close(pos, t, signal_id, pf.price_of(pos.symbol), "breaker")
            notes.append("breaker:flattened")
        return status, notes

    def _process(self, record: SignalRecord) -> None:
        pf = self.state.portfolio
        ev = record.event
        status, notes = self._mark(ev.symbol, ev.price, ev.time_ms, ev.signal_id)
        for pos in [p for p in pf.positions.values() if p.symbol == ev.symbol]:
            if not self.candles and pos.trail_distance is not None:
                self._trail(pos, ev.price)  # without candles, signal prices are all we see
            kind = exit_at_price(pos.qty, pos.stop_price, pos.target_price, ev.price)
            if kind is not None:
                self._close(pos, ev.time_ms, ev.signal_id, ev.price, kind)
                notes.append(f"{kind}:{pos.book}")
        notes.append(self._decide(ev, status))
        record.decision = " ".join(n for n in notes if n)
        self._equity_point(ev.time_ms)

    def _decide(self, ev: SignalEvent, status: RiskStatus) -> str:
        cfg = self.config
        if not cfg.wants_strategy(ev.strategy_id, ev.strategy_type):
            return "ignored:strategy"
        if cfg.aggregation == "vote":
            if ev.confidence < cfg.min_confidence:
                return "ignored:confidence"
            weight = cfg.weight_of(ev.strategy_id, ev.strategy_type)
            vote = Vote(1 if ev.action == "BUY" else -1, ev.confidence, weight, ev.time_ms)
            self.state.votes.cast(ev.symbol, ev.strategy_id, vote)
            self.changes.votes.add((ev.symbol, ev.strategy_id))
            score = self.state.votes.score(ev.symbol)
            action = VoteBook.decide(score, cfg.vote_threshold)
            if action is None:
                return f"vote:{score:+.3f}:hold"
            return f"vote:{score:+.3f} " + self._act(ev, action, VOTE_BOOK, status, vote=True)
        return self._act(ev, ev.action, ev.strategy_id, status, vote=False)

    def _act(self, ev: SignalEvent, action: str, book: str, status: RiskStatus, vote: bool) -> str:
        cancelled = self.state.orders.pop((ev.symbol, book), None)
        decision = self._act_on(ev, action, book, status, vote)
        return f"cancelled:{cancelled.kind} {decision}" if cancelled is not None else decision

    def _act_on(
        self, ev: SignalEvent, action: str, book: str, status: RiskStatus, vote: bool
    ) -> str:
        pf = self.state.portfolio
        pos = pf.position(ev.symbol, book)
        if action == "BUY":
            if pos is not None and pos.qty > 0:
                return "hold:already_long"
            out = []
            if pos is not None:
                self._close(pos, ev.time_ms, ev.signal_id, ev.price, "exit")
                out.append("filled:cover")
            out.append(self._enter(ev, "BUY", book, status, vote))
            return " ".join(out)
        if pos is not None and pos.qty < 0:
            return "hold:already_short"
        if pos is not None:
            self._close(pos, ev.time_ms, ev.signal_id, ev.price, "exit")
            if not self.config.allow_short:
                return "filled:exit"
            return "filled:exit " + self._enter(ev, "SELL", book, status, vote)
        if not self.config.allow_short:
            return "ignored:no_position"
        return self._enter(ev, "SELL", book, status, vote)

    def _enter(self, ev: SignalEvent, side: str, book: str, status: RiskStatus, vote: bool) -> str:
        cfg = self.config
        if not vote and ev.confidence < cfg.min_confidence:
            return "skipped:confidence"
        blocked = self._entry_blocked(status)
        if blocked:
            return blocked
        kind = ev.order_type or cfg.entry_order
        order = PendingOrder(
            symbol=ev.symbol,
            book=book,
            side=side,
            kind=kind,
            price=ev.order_price or order_price(side, kind, ev.price, cfg.entry_offset_pct),
            placed_ms=ev.time_ms,
            expires_ms=ev.time_ms + (ev.time_in_force or cfg.time_in_force) * ev.candle_interval_ms,
            signal_id=ev.signal_id,
            strategy_id=ev.strategy_id,
            strategy_type=ev.strategy_type,
            stop_price=ev.stop_price or None,
            take_profit_price=ev.take_profit_price or None,
        )
        if kind == "market":
            return self._open(order, ev.price, ev.time_ms)
        if not self.candles:
            return "skipped:order_needs_candles"
        self.state.orders[(ev.symbol, book)] = order
        self.count("orders")
        return f"ordered:{kind}@{order.price:.10g}"

    def _entry_blocked(self, status: RiskStatus) -> str:
        """Why no entry may open now ('' when one may)."""
        cfg, pf = self.config, self.state.portfolio
        if status.halt_reason or self.state.risk.breaker:
            return f"skipped:{status.halt_reason or 'breaker'}"
        if cfg.max_open_positions and len(pf.positions) >= cfg.max_open_positions:
            return "skipped:max_open_positions"
        return ""

    def _open(self, order: PendingOrder, price: float, t: int) -> str:
        """Opens the position of an entry order filled at `price` (before slippage) at time t;
        returns the decision."""
        cfg, pf = self.config, self.state.portfolio
        if order.kind != "market":  # the limits apply when it fills, too
            blocked = self._entry_blocked(status_of(self.state.risk, pf.equity()))
            if blocked:
                self.count("orders_skipped")
                return blocked
        fill = fill_price(price, order.side, cfg.slippage_bps)
        atr = None
        if cfg.stop == "atr":
            tracker = self.state.atr.get(order.symbol)
            atr = tracker.atr_at(order.placed_ms) if tracker is not None else None
        size = entry_size(cfg, order.side, fill, pf.equity(), pf.buying_power(), atr)
        if size.qty <= 0:
            return f"skipped:{size.reason}"
        signed = size.qty if order.side == "BUY" else -size.qty
        self._fill(order.symbol, order.book, signed, fill, t, order.signal_id, "entry")
        pos = pf.positions[(order.symbol, order.book)]
        pos.stop_price = order.stop_price or size.stop_price
        pos.target_price = order.take_profit_price or self._target(order.side, fill, pos)
        if cfg.trailing_stop and pos.stop_price is not None:
            pos.trail_distance = abs(fill - pos.stop_price)
            pos.extreme = fill
        return "filled:entry"

    def _target(self, side: str, price: float, pos: Position) -> float | None:
        """The take-profit of a new position from the settings (None: none)."""
        cfg = self.config
        direction = 1.0 if side == "BUY" else -1.0
        if cfg.take_profit_pct:
            return price * (1.0 + direction * cfg.take_profit_pct)
        if cfg.take_profit_r and pos.stop_price is not None:
            return price + direction * cfg.take_profit_r * abs(price - pos.stop_price)
        return None

    def _close(self, pos: Position, t: int, signal_id: str, price: float, kind: str) -> None:
        """Closes `pos` at `price` (before slippage); `signal_id` is empty for a candle's stop."""
        side = "SELL" if pos.qty > 0 else "BUY"
        self._fill(
            pos.symbol,
            pos.book,
            -pos.qty,
            fill_price(price, side, self.config.slippage_bps),
            t,
            signal_id,
            kind,
        )

    def _fill(
        self,
        symbol: str,
        book: str,
        signed_qty: float,
        price: float,
        t: int,
        signal_id: str,
        kind: str,
    ) -> None:
        st, pf = self.state, self.state.portfolio
        fee = abs(signed_qty) * price * self.config.fee
        realized = pf.apply(symbol, book, signed_qty, price, fee, t, signal_id)
        st.fill_id += 1
        self.count("fills")
        self.changes.fills.append(
            Fill(
                fill_id=st.fill_id,
                signal_id=signal_id,
                time_ms=t,
                symbol=symbol,
                book=book,
                side="BUY" if signed_qty > 0 else "SELL",
                qty=abs(signed_qty),
                price=price,
                fee=fee,
                realized_pnl=realized,
                kind=kind,
                cash_after=pf.cash,
            )
        )

    def _equity_point(self, time_ms: int) -> None:
        """One point per processed signal, numbered in processing order; a signal of the
        same event time as the previous point replaces it."""
        st, pf = self.state, self.state.portfolio
        if not (time_ms == st.last_equity_time_ms and st.last_equity_seq):
            st.last_equity_seq += 1
        equity = pf.equity()
        self.changes.equity[st.last_equity_seq] = EquityPoint(
            seq=st.last_equity_seq,
            time_ms=time_ms,
            equity=equity,
            cash=pf.cash,
            exposure=pf.exposure(),
            drawdown=status_of(st.risk, equity).drawdown,
        )
        st.last_equity_time_ms = time_ms

    def count(self, name: str) -> None:
        """Adds one to a named counter (shown by `paper status` and the dashboard)."""
        self.state.counters[name] = self.state.counters.get(name, 0) + 1

    # --- for tests and status -------------------------------------------------------------

    def snapshot(self) -> dict:
        """A canonical view of the portfolio (two equal runs give equal snapshots)."""
        pf = self.state.portfolio
        return {
            "cash": pf.cash,
            "realized_pnl": pf.realized_pnl,
            "fees_paid": pf.fees_paid,
            "equity": pf.equity(),
            "positions": sorted(
                (p.symbol, p.book, p.qty, p.avg_price, p.stop_price) for p in pf.positions.values()
            ),
            "marks": dict(sorted(pf.marks.items())),
            "risk": self.state.risk.to_json(),
            "fills": self.state.fill_id,
            "signals": self.state.seq,
        }
