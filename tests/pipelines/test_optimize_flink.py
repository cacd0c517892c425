"""`tradestream optimize` on the Flink runner (embedded cluster, LOOPBACK workers) gives the
same result (best.json and evaluations.json) as on the DirectRunner, and runs every generation on
one job server."""

from __future__ import annotations

import pytest

from tests.tradestream.optimize.builders import series_from_close, sine_close, write_candles_csv
from tradestream.pipelines import optimize
from tradestream.runtime.flink import flink_runner_args
from tradestream.settings import get_settings

pytestmark = pytest.mark.integration


def test_optimize_on_flink_runner_matches_direct_runner(tmp_path, jvm_dir):
    candles = write_candles_csv(tmp_path / "SYN.csv", series_from_close(sine_close(1200)))
    args = ["--input", str(candles), "--strategy", "SMA_CROSSOVER", "--bound", "fast=2:40",
            "--bound", "slow=5:80", "--population", "6", "--generations", "2", "--seed", "5"]  # fmt: skip
    assert optimize.run([*args, "--output", str(tmp_path / "direct")]) == 0
    flink = flink_runner_args(get_settings(), parallelism=2)
    assert optimize.run([*args, "--output", str(tmp_path / "flink"), *flink]) == 0
    direct = (tmp_path / "direct" / "best.json").read_text()
    assert (tmp_path / "flink" / "best.json").read_text() == direct
    evaluations = (tmp_path / "direct" / "evaluations.json").read_text()
    assert (tmp_path / "flink" / "evaluations.json").read_text() == evaluations
