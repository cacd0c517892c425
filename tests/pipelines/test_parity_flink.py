"""What you backtest is what paper trades: a recorded trades file replayed through the realtime
pipeline on Flink, its signals traded by `paper run --candles`, gives exactly what
`backtest --portfolio` gives over the same file with the same settings.

Three symbols, two strategies, risk sizing with ATR stops, shorts, and a daily loss limit that
trips on both UTC days of the 30-hour sample. Compared: every fill (time, symbol, strategy,
side, quantity, price, fee, kind), every risk event, the final equity, and the signals
themselves (the realtime pipeline's ids equal the backtest's).
"""

from __future__ import annotations

import csv
import json
import uuid

import pytest

from tests.support.cli import tradestream
from tests.support.kafka import create_topics, produce
from tests.support.realtime import (
    RealtimeProcess,
    flink_env,
    read_signals,
    topic_counts,
    topic_flags,
    topic_size,
    wait_for,
    with_sentinels,
)
from tradestream.ledger.store import PaperStore
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import parse_time_ms, write_trades_csv
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine

pytestmark = pytest.mark.integration

STRATEGY_FLAGS = [
    "--strategy", "SMA_CROSSOVER", "--param", "fast=3", "--param", "slow=8",
    "--strategy", "DOUBLE_EMA_CROSSOVER", "--param", "short=3", "--param", "long=9",
]  # fmt: skip
PORTFOLIO_FLAGS = [
    "--allow_short", "--sizing", "risk", "--stop", "atr", "--atr_multiple", "1.0",
    "--atr_period", "10", "--risk_per_trade", "0.002", "--max_open_positions", "4",
    "--daily_loss_limit", "0.01", "--slippage_bps", "1", "--fee", "0.0005",
]  # fmt: skip


def _csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# A strategy of one's own whose entries are limit orders half an ATR below the close, with
# their own stop and take-profit (Signal.order), beside a library one.
ORDERS_YAML = """
strategies:
  - name: SMA_CROSSOVER
    values: {fast: 3, slow: 8}
  - name: SMA_PULLBACK
    params:
      fast: {kind: int, low: 2, high: 50, default: 3}
      slow: {kind: int, low: 3, high: 200, default: 9}
    nodes:
      fast_ma: {kind: ema, inputs: [close], params: {period: $fast}}
      slow_ma: {kind: ema, inputs: [close], params: {period: $slow}}
      atr: {kind: atr, inputs: [high, low, close], params: {period: 10}}
    entry: {kind: crosses_above, inputs: [fast_ma, slow_ma]}
    exit: {kind: crosses_below, inputs: [fast_ma, slow_ma]}
    order:
      type: limit
      price: {kind: sub, inputs: [close, {kind: mul, inputs: [0.3, atr]}]}
      time_in_force: 3
      stop: {kind: sub, inputs: [close, {kind: mul, inputs: [1.5, atr]}]}
      take_profit: {kind: add, inputs: [close, {kind: mul, inputs: [2, atr]}]}
"""


@pytest.mark.parametrize("orders", [False, True], ids=["library", "strategy-orders"])
def test_paper_trading_the_realtime_signals_equals_the_portfolio_backtest(
    kafka_broker, jvm_dir, tmp_path, orders
):
    trades = list(sample_trades(hours=30, seed=3, rate_per_s=0.03))
    trades_file = tmp_path / "trades.csv"
    write_trades_csv(trades_file, trades)
    strategy_flags = STRATEGY_FLAGS
    if orders:
        (tmp_path / "strategies.yaml").write_text(ORDERS_YAML)
        strategy_flags = ["--strategies", str(tmp_path / "strategies.yaml")]

    # 1. The backtest over the recorded file.
    out = tmp_path / "backtest"
    proc = tradestream(
        "backtest", "--portfolio", "--input", str(trades_file), "--output", str(out),
        "--candle_interval", "1m", "--cash", "20000", *strategy_flags, *PORTFOLIO_FLAGS,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    expected_signals = {s["signal_id"] for s in _csv(out / "signals.csv")}
    expected_fills = _csv(out / "fills.csv")
    kinds = {f["kind"] for f in expected_fills}
    assert len(expected_fills) > 100 and {"entry", "exit", "stop"} <= kinds
    if orders:  # limit entries filled below their signal's close, targets reached
        ordered = [s for s in _csv(out / "signals.csv") if "ordered:limit@" in s["decision"]]
        assert ordered and "target" in kinds
    assert {t["side"] for t in _csv(out / "trades.csv")} == {"LONG", "SHORT"}
    assert len(summary["risk_events"]) == 2 and len(summary["attribution"]) == 3

    # 2. The same trades through Kafka and the realtime pipeline on Flink.
    run = uuid.uuid4().hex[:8]
    topics = {k: f"{k}-{run}" for k in ("trades", "signals", "dlq")}
    create_topics(kafka_broker, list(topics.values()))
    produce(
        kafka_broker.bootstrap,
        topics["trades"],
        [(t.symbol.encode(), t.SerializeToString()) for t in with_sentinels(trades)],
    )
    log = tmp_path / "realtime.log"
    pipeline = RealtimeProcess(
        [
            *topic_flags(kafka_broker.bootstrap, topics),
            f"--consumer_group=parity-{run}",
            "--checkpoint_interval=0",
            *strategy_flags,
        ],
        flink_env(tmp_path, jvm_dir),
        log,
    )
    try:
        wait_for(
            lambda: topic_size(kafka_broker.bootstrap, topics["signals"]) >= len(expected_signals),
            timeout_s=300,
            what=f"{len(expected_signals)} signals",
            log=log,
            state=topic_counts(kafka_broker.bootstrap, topics),
        )
    finally:
        pipeline.stop()
    realtime_signals = read_signals(kafka_broker.bootstrap, topics["signals"])
    assert {s.signal_id for s in realtime_signals} == expected_signals
    assert len(realtime_signals) == len(expected_signals)
    assert any(s.HasField("order") for s in realtime_signals) == orders

    # 3. The paper executor trades them, reading the trades for its candles.
    db = f"sqlite:///{tmp_path / 'paper.db'}"
    proc = tradestream(
        "paper", "run", "--db", db, "--bootstrap_servers", kafka_broker.bootstrap,
        "--signals_topic", topics["signals"], "--trades_topic", topics["trades"],
        "--group_id", f"paper-{run}", "--stop_at_end", "--candles", "--candle_interval", "1m",
        "--initial_cash", "20000", *PORTFOLIO_FLAGS, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

    store = PaperStore(db)
    try:
        fills = store.all_fills()
        events = store.snapshot()["events"]
        config = store.stored_config()
        assert config is not None
        equity = PortfolioEngine(config, store.load(config)).snapshot()["equity"]
    finally:
        store.close()
    assert config == PortfolioConfig.model_validate(
        {**summary["run"]["settings"], "atr_interval_ms": 60_000}
    )

    def paper(f: dict) -> tuple:
        return (f["time_ms"], f["symbol"], f["book"], f["side"], f["qty"], f["price"], f["fee"],
                f["kind"])  # fmt: skip

    def backtest(f: dict) -> tuple:
        return (parse_time_ms(f["time"]), f["symbol"], f["book"], f["side"], float(f["qty"]),
                float(f["price"]), float(f["fee"]), f["kind"])  # fmt: skip

    assert [paper(f) for f in fills] == [backtest(f) for f in expected_fills]
    assert sorted((e["time_ms"], e["kind"], e["message"]) for e in events) == sorted(
        (parse_time_ms(e["time"]), e["kind"], e["message"]) for e in summary["risk_events"]
    )
    assert equity == summary["portfolio"]["final_equity"]
