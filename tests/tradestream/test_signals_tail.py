"""`tradestream signals tail`: rows and JSON of signals, and a missing broker said in one line."""

from __future__ import annotations

import json

from tests.support.cli import closed_bootstrap, timed_tradestream
from tradestream.signals_tail import format_row, to_json
from tradestream.v1 import signal_pb2, strategy_pb2


def test_signals_tail_row_and_json_name_the_action():
    signal = signal_pb2.Signal(
        signal_id="s1",
        symbol="BTC-USD",
        action=signal_pb2.ACTION_SELL,
        price=42000.5,
        candle_start_ms=1_704_205_800_000,
        strategy=strategy_pb2.Strategy(strategy_id="sma-10-30"),
    )
    assert format_row(signal).split() == [
        "2024-01-02", "14:30:00", "BTC-USD", "SELL", "42,000.5000", "sma-10-30",
    ]  # fmt: skip
    assert json.loads(to_json(signal))["action"] == "SELL"


def test_signals_tail_no_broker_is_one_line_on_stderr_exit_2_within_seconds():
    # Issue 15: kafka-python waited ~30 s, then printed a 34-82-line KafkaTimeoutError.
    done, seconds = timed_tradestream(
        "signals", "tail", f"--bootstrap_servers={closed_bootstrap()}", timeout=60
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(
        "tradestream signals tail: error: no Kafka broker answers at 127.0.0.1:"
    )
    assert seconds < 10
