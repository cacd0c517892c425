"""`tradestream backtest` stays within --memory_mb, plus the interpreter's baseline, on a grid.

The real command runs in a subprocess; its peak resident memory (VmHWM, polled, and the
exact ru_maxrss of the child once it has exited) is compared with the peak of the same
command over one parameter set (the baseline: Python, Beam, numpy, TA-Lib and the runner,
about 220 MB here). Before grids were lazy and results ranked on disk, this grid of 5,940
sets went ~190 MB over the baseline at --memory_mb 64 (672 MB at 11,880 sets); the run is
stopped as soon as it crosses the bound, so a regression fails in seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

MEMORY_MB = 64
GRID = ("--grid", "bb_period=2:100:1", "--grid", "wr_period=2:31:1", "--grid", "bb_width=1,2")
SETS = 99 * 30 * 2


def write_daily_candles(path: Path, n: int = 500, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.01, n)))
    days = np.datetime64("2021-01-01") + np.arange(n)
    rows = [
        f"{d},{o:.4f},{h:.4f},{lo:.4f},{c:.4f},{1000 + i}"
        for i, (d, o, h, lo, c) in enumerate(zip(days, open_, high, low, close, strict=True))
    ]
    path.write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
    return path


def _vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(
    args: list[str], stderr_path: Path, limit_kb: int | None = None, timeout: float = 300
) -> tuple[int, int]:
    """Runs `tradestream ARGS`; returns (exit status, peak RSS in KB).

    Stops the command (exit status -9) as soon as its peak passes `limit_kb`.
    """
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tradestream.cli", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        deadline = time.monotonic() + timeout
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode, max(peak, usage.ru_maxrss)  # Linux: KB
            peak = max(peak, _vm_hwm_kb(proc.pid))
            if (limit_kb is not None and peak > limit_kb) or time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)


@pytest.fixture(scope="module")
def candles(tmp_path_factory) -> Path:
    return write_daily_candles(tmp_path_factory.mktemp("data") / "BTC-USD.csv")


def test_backtest_grid_peak_rss_stays_within_memory_mb_plus_baseline(candles, tmp_path):
    common = ["backtest", "--input", str(candles), "--strategy", "BBAND_W_R"]
    code, baseline_kb = run_measured(
        [*common, "--output", str(tmp_path / "one"), "--memory_mb", str(MEMORY_MB)],
        tmp_path / "one.err",
    )
    assert code == 0, (tmp_path / "one.err").read_text()
    bound_kb = baseline_kb + MEMORY_MB * 1024

    err = tmp_path / "grid.err"
    code, peak_kb = run_measured(
        [*common, *GRID, "--output", str(tmp_path / "grid"), "--memory_mb", str(MEMORY_MB)],
        err,
        limit_kb=bound_kb,
    )
    stderr = err.read_text()
    report = (
        f"peak {peak_kb / 1024:.0f} MB, baseline {baseline_kb / 1024:.0f} MB + --memory_mb "
        f"{MEMORY_MB} = {bound_kb / 1024:.0f} MB"
    )
    assert peak_kb <= bound_kb, f"{report}\n{stderr[-2000:]}"
    assert code == 0, f"{report}\n{stderr[-2000:]}"
    summary = json.loads((tmp_path / "grid" / "summary.json").read_text())
    assert len(summary["results"]) == SETS
    assert summary["run"]["grid"]["evaluated"] == SETS
    ranks = [r["metrics"]["sharpe"] for r in summary["results"]]
    finite = [v for v in ranks if v is not None]
    assert finite == sorted(finite, reverse=True) and ranks[: len(finite)] == finite
    progress = [line for line in stderr.splitlines() if f"/{SETS:,} parameter sets" in line]
    assert progress and progress[-1].startswith(f"[backtest] BTC-USD: {SETS:,}/{SETS:,}"), stderr
    assert any("ETA" in line for line in progress[:-1]), stderr
