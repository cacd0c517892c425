"""The generated protobuf modules match protos/ and carry the contract's fields."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _gen_protos():
    spec = importlib.util.spec_from_file_location("gen_protos", REPO / "scripts" / "gen_protos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_protos_generated_code_is_current():
    problems = _gen_protos().stale_files()
    assert problems == [], f"run `make protos`: {problems}"


def test_protos_changed_proto_is_detected_as_stale(tmp_path):
    gen = _gen_protos()
    protos = tmp_path / "protos"
    shutil.copytree(REPO / "protos", protos)
    trade = protos / "tradestream" / "v1" / "trade.proto"
    trade.write_text(
        trade.read_text().replace("int64 time_ms = 7;", "int64 time_ms = 7;\n  string venue = 8;")
    )
    problems = gen.stale_files(REPO, protos)
    assert any(p.startswith("trade_pb2.py") for p in problems)


def test_protos_signal_roundtrip_keeps_contract_fields():
    from tradestream.v1 import signal_pb2, strategy_pb2

    signal = signal_pb2.Signal(
        signal_id="abc",
        symbol="BTC-USD",
        action=signal_pb2.ACTION_BUY,
        price=42000.5,
        candle_start_ms=1_700_000_000_000,
        candle_interval_ms=60_000,
        strategy=strategy_pb2.Strategy(
            type="SMA_CROSSOVER",
            strategy_id="SMA_CROSSOVER(fast=10,slow=30)",
            params=[strategy_pb2.Parameter(name="fast", int_value=10)],
        ),
        reason="CrossesAbove",
    )
    decoded = signal_pb2.Signal.FromString(signal.SerializeToString())
    assert decoded == signal
    assert decoded.strategy.params[0].WhichOneof("value") == "int_value"


@pytest.mark.parametrize("module", ["trade", "candle", "strategy", "signal", "backtest", "book"])
def test_protos_package_is_tradestream_v1(module):
    mod = importlib.import_module(f"tradestream.v1.{module}_pb2")
    assert mod.DESCRIPTOR.package == "tradestream.v1"
