"""Multi-timeframe and model strategies: the realtime pipeline on Flink emits exactly the
batch signals.

A recorded trades file (three symbols, 8 hours, 1-minute candles) goes through the backtest
and, replayed into Kafka, through the realtime pipeline on Flink. The three library types
that read longer candles (5m/15m/1h; short periods so that the 8 hours hold many signals of
each), a strategy of one's own with an `interval:` node, two strategies reading models built
by hand in `tradestream train`'s format (a tree ensemble with a confidence node, a DQN
trader) and the strategy `tradestream train` writes for a model it trains on the same trades
must give the same signals, id for id, in both.
"""

from __future__ import annotations

import csv
import uuid
from collections import Counter

import pytest
import yaml

from tests.support.cli import tradestream
from tests.support.kafka import create_topics, produce
from tests.support.models import dqn_model, trees_model
from tests.support.realtime import (
    assert_signals_match_rows,
    flink_env,
    realtime_signals,
    with_sentinels,
)
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades_csv

pytestmark = pytest.mark.integration

STRATEGIES_YAML = """
strategies:
  - name: MTF_TREND_CROSSOVER
    values: {fast: 3, slow: 8, trend_period: 3}
  - name: RSI_TWO_TIMEFRAMES
    values: {period: 5, higher_period: 3, oversold: 40, overbought: 60}
  - name: NSE_WEIGHTED_VOTE
    values: {rsi_period: 3, macd_fast: 2, macd_slow: 4, macd_signal: 2, bb_period: 3,
             adx_period: 2, stoch_period: 3, atr_period: 2, threshold: 0.1}
  - name: QUARTER_HOUR_BREAKOUT
    description: BUY when the close breaks the last closed 15-minute high; SELL below its low.
    nodes:
      quarter_high: {kind: high, interval: 15m}
      quarter_low: {kind: low, interval: 15m}
    entry: {kind: crosses_above, inputs: [close, quarter_high]}
    exit: {kind: crosses_below, inputs: [close, quarter_low]}
  - name: TREES_SCORE
    nodes:
      score: {kind: model, params: {file: trees}, inputs: [
        {kind: rsi, inputs: [close], params: {period: 5}},
        {kind: mom, inputs: [close], params: {period: 3}}]}
    entry: {kind: crosses_above, inputs: [score, 1.0]}
    exit: {kind: crosses_below, inputs: [score, -1.0]}
    confidence: {kind: div, inputs: [score, 2]}
  - name: DQN_TRADER
    nodes:
      action: {kind: model, params: {file: dqn}, inputs: [
        {kind: mom, inputs: [close], params: {period: 3}}]}
    entry: {kind: above, inputs: [action, 0.5]}
    exit: {kind: below, inputs: [action, -0.5]}
"""
TYPES = ("MTF_TREND_CROSSOVER", "RSI_TWO_TIMEFRAMES", "NSE_WEIGHTED_VOTE", "QUARTER_HOUR_BREAKOUT",
         "TREES_SCORE", "DQN_TRADER", "ML_TREES")  # fmt: skip


def test_realtime_multi_timeframe_signals_equal_the_backtest(kafka_broker, jvm_dir, tmp_path):
    trades = list(sample_trades(hours=8, seed=21, rate_per_s=0.2))
    trades_file = tmp_path / "trades.csv"
    write_trades_csv(trades_file, trades)
    # A model trained on the file itself, its strategy.yaml's entry added to ours.
    proc = tradestream(
        "train", "--model", "classifier", "--input", str(trades_file), "--symbol", "BTC-USD",
        "--seed", "7", "--no_classic", "--output", str(tmp_path / "trained"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    trained = yaml.safe_load((tmp_path / "trained" / "strategy.yaml").read_text())
    [entry] = trained["strategies"]
    entry["nodes"]["model"]["params"]["file"] = "trained"  # relative to our strategy file
    document = yaml.safe_load(STRATEGIES_YAML)
    document["strategies"].append(entry)
    strategies = tmp_path / "strategies.yaml"
    strategies.write_text(yaml.safe_dump(document))
    trees_model(tmp_path)  # tmp_path/trees and tmp_path/dqn, beside the strategy file
    dqn_model(tmp_path)

    # 1. Batch: every signal of the backtest (a portfolio backtest lists them all).
    out = tmp_path / "backtest"
    proc = tradestream(
        "backtest", "--portfolio", "--input", str(trades_file), "--output", str(out),
        "--candle_interval", "1m", "--strategies", str(strategies),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "signals.csv", newline="") as fh:
        expected = {row["signal_id"]: row for row in csv.DictReader(fh)}
    per_type = Counter(row["strategy"].split("(")[0] for row in expected.values())
    assert all(per_type[name] >= 10 for name in TYPES), per_type

    # 2. Realtime: the same trades through Kafka and the pipeline on Flink.
    run = uuid.uuid4().hex[:8]
    topics = {k: f"{k}-{run}" for k in ("trades", "signals", "dlq")}
    create_topics(kafka_broker, list(topics.values()))
    produce(
        kafka_broker.bootstrap,
        topics["trades"],
        [(t.symbol.encode(), t.SerializeToString()) for t in with_sentinels(trades)],
    )
    got = realtime_signals(
        kafka_broker.bootstrap,
        topics,
        [f"--consumer_group=mtf-{run}", "--strategies", str(strategies)],
        flink_env(tmp_path, jvm_dir),
        tmp_path / "realtime.log",
        len(expected),
    )
    assert_signals_match_rows(got, expected)
