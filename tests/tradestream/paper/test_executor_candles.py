"""`paper run --candles` on a real broker: a replay trades as the portfolio backtest does.

Trades and signals are produced to topics of three partitions (keyed by symbol, as ingest
and the realtime pipeline key them); the executor runs as a user runs it, in small batches
so that the partitions are read interleaved and the state is stored many times. Its fills
and risk events must be the portfolio backtest's (`run_portfolio`) over the same trades,
exactly; the realtime pipeline on Flink in front of it is tests/pipelines/test_parity_flink.py.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support.cli import tradestream
from tests.support.kafka import create_topics, produce
from tests.support.portfolio_case import CONFIG, portfolio_case
from tests.support.realtime import with_sentinels
from tradestream.ledger.store import PaperStore
from tradestream.market.signal_messages import make_signal, strategy_proto

pytestmark = pytest.mark.integration

FLAGS = [
    "--initial_cash", "20000", "--allow_short", "--sizing", "risk", "--stop", "pct",
    "--stop_pct", "0.0007", "--risk_per_trade", "0.002", "--max_open_positions", "4",
    "--daily_loss_limit", "0.006", "--slippage_bps", "1", "--fee", "0.0005",
]  # fmt: skip


def fill_rows(fills) -> list[tuple]:
    """Fills as comparable rows (dicts from the store, or Fill objects)."""
    rows = []
    for f in fills:
        get = f.get if isinstance(f, dict) else lambda k, f=f: getattr(f, k)
        rows.append(tuple(get(k) for k in ("time_ms", "symbol", "book", "side", "qty", "price",
                                            "fee", "kind")))  # fmt: skip
    return rows


ORDER_FLAGS = [
    "--entry_order", "limit", "--entry_offset_pct", "0.0003", "--time_in_force", "3",
    "--take_profit_r", "1.5", "--trailing_stop",
]  # fmt: skip


@pytest.mark.parametrize("orders", [False, True], ids=["market", "limit-target-trailing"])
def test_paper_candles_replay_equals_the_portfolio_backtest(kafka_broker, tmp_path, orders):
    config = CONFIG
    if orders:
        config = CONFIG.model_copy(
            update=dict(
                entry_order="limit",
                entry_offset_pct=0.0003,
                time_in_force=3,
                take_profit_r=1.5,
                trailing_stop=True,
            )  # fmt: skip
        )
    case = portfolio_case(config)
    if orders:
        kinds = {f.kind for f in case.expected.fills}
        assert {"entry", "stop", "target"} <= kinds and case.expected.counters["orders_expired"]
    run = uuid.uuid4().hex[:8]
    trades_topic, signals_topic = f"trades-{run}", f"signals-{run}"
    create_topics(kafka_broker, [trades_topic, signals_topic], partitions=3)
    produce(
        kafka_broker.bootstrap,
        trades_topic,
        [(t.symbol.encode(), t.SerializeToString()) for t in with_sentinels(case.trades)],
    )
    signals = []
    for tl in case.timelines:
        for e in tl.signals:
            strategy = strategy_proto(e.strategy_type, {}, e.strategy_id)
            proto = make_signal(strategy, e.symbol, e.action, e.price, e.candle_start_ms,
                                e.candle_interval_ms, e.reason)  # fmt: skip
            signals.append((e.symbol.encode(), proto.SerializeToString()))
    produce(kafka_broker.bootstrap, signals_topic, signals)

    db = f"sqlite:///{tmp_path / 'paper.db'}"
    proc = tradestream(
        "paper", "run", "--db", db, "--bootstrap_servers", kafka_broker.bootstrap,
        "--signals_topic", signals_topic, "--trades_topic", trades_topic, "--stop_at_end",
        "--candles", "--max_batch", "200", "--group_id", f"paper-{run}", *FLAGS,
        *(ORDER_FLAGS if orders else []),
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

    store = PaperStore(db)
    try:
        fills = store.all_fills()
        snapshot = store.snapshot(equity_points=1_000_000)
    finally:
        store.close()
    expected = case.expected
    assert len(fills) > 20
    assert fill_rows(fills) == fill_rows(expected.fills)
    status = json.loads(tradestream("paper", "status", "--db", db, "--json").stdout)
    # `paper status` adds cash and market values in its own order: equal to the last bits.
    assert status["account"]["equity"] == pytest.approx(expected.snapshot["equity"], rel=1e-12)
    assert status["account"]["fees_paid"] == expected.snapshot["fees_paid"]
    assert status["account"]["fills"] == len(expected.fills)
    curve = [(p["time_ms"], p["equity"]) for p in snapshot["equity"]]
    assert curve == [(p.time_ms, p.equity) for p in expected.equity]  # a point per candle end
    events = [(e["time_ms"], e["kind"], e["message"]) for e in snapshot["events"]]
    assert sorted(events) == sorted((e.time_ms, e.kind, e.message) for e in expected.events)
