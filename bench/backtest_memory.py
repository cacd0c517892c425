"""Backtest memory: the peak RSS of `tradestream backtest` on big grids against --memory_mb.

Runs the real command (a subprocess, DirectRunner) over 1,000 daily candles (a random walk
written as a candles CSV): first one parameter set, whose peak is the process's baseline
(Python, Beam, numpy, TA-Lib, the runner), then BBAND_W_R grids. For each run it prints the
peak RSS (ru_maxrss of the child, VmHWM polled while it runs), the bound (baseline +
--memory_mb) and the elapsed time side by side, then the last progress line of each phase
(checking the grid, evaluating, ranking, writing summary.json).

    .venv/bin/python bench/backtest_memory.py                 # 104,247 sets (~2 min)
    .venv/bin/python bench/backtest_memory.py --large         # and 683,991 sets (~12 min)
    .venv/bin/python bench/backtest_memory.py --memory_mb 128

Not part of the test suite (`tests/pipelines/test_backtest_memory.py` is its small form).
Measured here (2 cores, shared with other jobs; times vary with the load):

    2026-12-06, after the lean start-up of a local backtest (issue 22):
    512            one set         1  126 MB                          1.9 s
    512            104k      104,247  146 MB   126 + 512 = 638 MB    49 s (evaluating 36 s,
                                                                     summary.json 11 s)
    earlier (before it):
    --memory_mb    run       sets      peak    baseline + budget   elapsed
    512            one set         1  218 MB                          7.7 s
    512            104k      104,247  239 MB   218 + 512 = 730 MB    69 s (evaluating 50 s,
                                                                     summary.json 13 s)
    512            684k      683,991  244 MB   218 + 512 = 730 MB   626 s (evaluating 466 s,
                                                                     ranking 3 s, summary 150 s)
    128            104k      104,247  232 MB   217 + 128 = 345 MB   136 s
    before the fix 104k      104,247  >1.7 GB (2.1 GB in issue 15), killed at 300 s, no
                                      progress after the first line
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.pipelines.test_backtest_memory import run_measured, write_daily_candles  # noqa: E402

SETS = re.compile(r"(\d+) parameter set\(s\)")
PHASE = re.compile(r"\d/[\d,]+ ([a-z .]+) \(\d+%\)")
GRIDS = {
    "bbands 104k": ["bb_period=2:100:1", "wr_period=2:40:1", "bb_width=0.5:3.1:0.1"],
    "bbands 684k": ["bb_period=2:100:1", "wr_period=2:50:1", "bb_width=0.5:4.0:0.025"],
}


def measure(name: str, grid: list[str], candles: Path, work: Path, memory_mb: float):
    """Runs one backtest; returns (exit status, peak KB, elapsed s, lines on stderr)."""
    out = work / name.replace(" ", "-")
    err = work / f"{out.name}.err"
    args = ["backtest", "--input", str(candles), "--output", str(out), "--strategy", "BBAND_W_R"]
    for axis in grid:
        args += ["--grid", axis]
    start = time.perf_counter()
    code, peak_kb = run_measured([*args, "--memory_mb", str(memory_mb)], err, timeout=7200)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)  # summary.json alone is ~1 KB a parameter set
    return code, peak_kb, elapsed, err.read_text().splitlines()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory_mb", type=float, default=512.0)
    parser.add_argument("--large", action="store_true", help="also the 683,991-set grid")
    parser.add_argument("--candles", type=int, default=1000)
    args = parser.parse_args(argv)
    names = list(GRIDS) if args.large else ["bbands 104k"]
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        candles = write_daily_candles(work / "BTC-USD.csv", n=args.candles)
        code, baseline_kb, elapsed, _ = measure("baseline", [], candles, work, args.memory_mb)
        if code != 0:
            print(f"[bench] the one-set run failed (exit {code})", file=sys.stderr)
            return 1
        bound_kb = baseline_kb + args.memory_mb * 1024
        print(f"[bench] {args.candles:,} daily candles, --memory_mb {args.memory_mb:g}")
        print(f"{'run':<14}{'sets':>10}{'peak':>10}{'baseline + budget':>26}{'within':>8}"
              f"{'elapsed':>10}")  # fmt: skip
        print(f"{'baseline':<14}{1:>10,}{baseline_kb / 1024:>7.0f} MB{'':>26}{'':>8}"
              f"{elapsed:>8.1f} s")  # fmt: skip
        failed = False
        for name in names:
            code, peak_kb, elapsed, lines = measure(
                name, GRIDS[name], candles, work, args.memory_mb
            )
            sets = next((m.group(1) for ln in lines if (m := SETS.search(ln))), "?")
            budget = f"{baseline_kb / 1024:.0f} + {args.memory_mb:g} = {bound_kb / 1024:.0f} MB"
            within = peak_kb <= bound_kb and code == 0
            failed |= not within
            print(
                f"{name:<14}{sets:>10}{peak_kb / 1024:>7.0f} MB{budget:>26}"
                f"{'yes' if within else 'NO':>8}{elapsed:>8.1f} s"
                + ("" if code == 0 else f"  (exit {code}: {lines[-1] if lines else ''})")
            )
            last: dict[str, str] = {}  # the last progress line of each phase
            for line in lines:
                if (m := PHASE.search(line)) is not None:
                    last[m.group(1)] = line
            for line in last.values():
                print(f"{'':<14}{line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
