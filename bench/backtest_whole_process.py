"""Whole-process backtests, timed as a user runs them: TradeStream against its peers.

Issue 22, target 4. Each run is a fresh process, timed from its start to its exit with every
output written, on the same machine and the same data:

1. **sweep**: the 1,225 SMA-crossover sets (every `fast < slow` pair of windows 5..54) over
   50,000 one-minute candles. `tradestream backtest --grid` against a vectorbt script (CSV in
   with pandas, `MA.run_combs`, `Portfolio.from_signals`, the metrics of every set to
   `metrics.csv`, the best 10 sets' trades and equity to CSV, an HTML report of the best set
   with `Portfolio.plot`). Target: ours at least 5x faster.
2. **single**: one SMA-crossover backtest (10/30) of a 2,000-candle daily file.
   `tradestream backtest --strategy` against a backtesting.py script (CSV in with pandas,
   `Backtest.run`, the stats printed, trades and equity to CSV, its HTML report with
   `Backtest.plot`). Target: ours no slower. The same script without the report is timed
   too and printed as an (info) row: backtesting.py's report is optional, ours is not.

Both sides write what the tool writes as a user would run it (ours: summary.json, trades,
signals, equity and candles CSVs, report.html). Each command runs once untimed (the page
cache, `.pyc` files and vectorbt's numba cache warm), then `--runs` times alternating ours
and the peer's, so that load from other jobs on the machine falls on both; the medians are
compared. Peak RSS is the process's own (`wait4`). The peers run from `.local/bench-venv`
(created by `bench/backtest_vs_peers.py` from PyPI on first use: vectorbt 1.2.0,
backtesting.py 0.6.6), since they need newer numpy/pandas than Beam allows.

    .venv/bin/python bench/backtest_whole_process.py            # 3 timed runs each (~6 min)
    .venv/bin/python bench/backtest_whole_process.py --quick    # 1 run, 10,000-candle sweep

Not part of the test suite. Measured here (2026-12-06, 2 shared cores, medians of 3):

    target                                      ours s  peer s  peer/ours  target  met
    sweep 1,225 sets, 50,000 1m candles vs vectorbt  7.74   43.11    5.57x    >= 5x  yes
    single, 2,000 daily candles vs backtesting.py    1.66    2.10    1.27x    >= 1x  yes
      (info) backtesting.py without its report       1.66    1.59    0.96x
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backtest_vs_peers import REPO, ensure_bench_venv, make_candles  # noqa: E402

CASH = 10_000.0
DAY_MS = 86_400_000
SINGLE = (10, 30)  # the single backtest's SMA windows
DETAIL_TOP = 10  # ours writes the trades/signals/equity of the best 10 sets by default


# --- the peers' scripts (run in the peers' virtualenv: stdlib at module level only) --------


def peer_vectorbt(args) -> None:
    """The sweep as a vectorbt user writes it: every set, its metrics, the best sets' files."""
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(args.input, index_col="Date", parse_dates=True)
    close = frame["Close"]
    windows = np.arange(args.low, args.high + 1)
    fast, slow = vbt.MA.run_combs(close, window=windows, r=2, short_names=["fast", "slow"])
    entries = fast.ma_crossed_above(slow)
    exits = fast.ma_crossed_below(slow)
    pf = vbt.Portfolio.from_signals(close, entries, exits, init_cash=CASH, fees=0.0, freq="1min")
    metrics = pd.DataFrame(
        {
            "total_return": pf.total_return(),
            "annualized_volatility": pf.annualized_volatility(),
            "sharpe": pf.sharpe_ratio(),
            "sortino": pf.sortino_ratio(),
            "calmar": pf.calmar_ratio(),
            "max_drawdown": pf.max_drawdown(),
            "win_rate": pf.trades.win_rate(),
            "profit_factor": pf.trades.profit_factor(),
            "expectancy": pf.trades.expectancy(),
            "trades": pf.trades.closed.count(),
        }
    ).sort_values("sharpe", ascending=False)
    metrics.to_csv(out / "metrics.csv")
    best = list(metrics.index[:DETAIL_TOP])
    pf[best].trades.records_readable.to_csv(out / "trades.csv", index=False)
    pf[best].value().to_csv(out / "equity.csv")
    pf[best[0]].plot().write_html(out / "report.html")
    print(metrics.head(DETAIL_TOP).to_string())


def peer_backtesting(args) -> None:
    """One backtest as a backtesting.py user writes it: run, stats, files, its HTML report."""
    import warnings

    import pandas as pd
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    warnings.filterwarnings("ignore")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(args.input, index_col="Date", parse_dates=True)

    class SmaCross(Strategy):
        fast_w, slow_w = SINGLE

        def init(self):
            self.fast = self.I(SMA, self.data.Close, self.fast_w)
            self.slow = self.I(SMA, self.data.Close, self.slow_w)

        def next(self):
            if crossover(self.fast, self.slow):
                if not self.position:
                    self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    bt = Backtest(frame, SmaCross, cash=CASH, commission=0.0, trade_on_close=True)
    stats = bt.run()
    print(stats)
    stats["_trades"].to_csv(out / "trades.csv", index=False)
    stats["_equity_curve"].to_csv(out / "equity.csv")
    if not args.no_report:
        bt.plot(filename=str(out / "report.html"), open_browser=False)


PEERS = {"vectorbt": peer_vectorbt, "backtesting": peer_backtesting}


# --- data ---------------------------------------------------------------------------------


def write_minute_candles(n: int, path: Path) -> None:
    """bench/backtest_vs_peers.py's one-minute random walk, as `Date,Open,...,Volume` CSV."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "candles.npz"
        make_candles(n, npz)
        data = np.load(npz)
        _write_csv(
            path, data["start_ms"], *(data[k] for k in ("open", "high", "low", "close", "volume"))
        )


def write_daily_candles(n: int, path: Path, seed: int = 7) -> None:
    """A deterministic daily random walk around 100 (whole shares are affordable at 10,000)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0, 2e-3, n // 60 + 1), 60)[:n]
    close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0, 0.015, n)))
    open_ = np.concatenate(([close[0]], close[:-1])) * np.exp(rng.normal(0, 3e-3, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 8e-3, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 8e-3, n)))
    volume = rng.uniform(1e5, 1e6, n).round()
    start = 1_546_300_800_000 + DAY_MS * np.arange(n, dtype=np.int64)  # from 2019-01-01
    _write_csv(path, start, open_, high, low, close, volume)


def _write_csv(path: Path, start_ms, *columns) -> None:
    with open(path, "w") as fh:
        fh.write("Date,Open,High,Low,Close,Volume\n")
        for ms, *values in zip(start_ms.tolist(), *(c.tolist() for c in columns), strict=True):
            when = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            fh.write(when + "," + ",".join(repr(v) for v in values) + "\n")


# --- timing -------------------------------------------------------------------------------


def timed(cmd: list[str], log: Path) -> tuple[float, float, int]:
    """Runs `cmd` to its exit: (wall seconds, peak RSS MiB, exit status); output to `log`."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", TQDM_DISABLE="1")
    with open(log, "w") as fh:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


def compare(name: str, commands: dict[str, list[str]], runs: int, work: Path) -> dict:
    """A warm-up run of each command, then `runs` rounds of one run each: the medians."""
    times: dict[str, list[float]] = {side: [] for side in commands}
    peaks = dict.fromkeys(commands, 0.0)
    for attempt in range(runs + 1):
        for side, cmd in commands.items():
            log = work / f"{name}-{side}-{attempt}.log"
            wall, peak, code = timed(cmd, log)
            if code != 0:
                raise SystemExit(f"[bench] {name} {side} failed (exit {code}), see {log}")
            label = "warm-up" if attempt == 0 else f"run {attempt}/{runs}"
            print(f"[bench] {name} {side} {label}: {wall:.2f} s", file=sys.stderr, flush=True)
            if attempt:
                times[side].append(wall)
                peaks[side] = max(peaks[side], peak)
    return {
        side: {"median": statistics.median(t), "runs": t, "peak_mb": peaks[side]}
        for side, t in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run; a 10,000-candle sweep")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per command")
    parser.add_argument("--only", choices=("sweep", "single"), help="one target only")
    parser.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--low", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--high", type=int, default=54, help=argparse.SUPPRESS)
    parser.add_argument("--no_report", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer:
        PEERS[args.peer](args)
        return 0

    runs = args.runs or (1 if args.quick else 3)
    candles = 10_000 if args.quick else 50_000
    high = 34 if args.quick else 54  # 435 or 1,225 sets
    peers_python = str(ensure_bench_venv())
    ours = str(REPO / ".venv" / "bin" / "tradestream")
    me = str(Path(__file__).resolve())
    data = REPO / ".local" / "bench-whole-process"
    data.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=data))
    results = {}
    if args.only in (None, "sweep"):
        minute = data / f"BENCH-USD-{candles}.csv"
        if not minute.exists():
            write_minute_candles(candles, minute)
        sets = sum(1 for f in range(5, high + 1) for s in range(f + 1, high + 1))
        print(f"[bench] sweep: {sets:,} sets over {candles:,} candles", file=sys.stderr)
        results["sweep"] = compare(
            "sweep",
            {
                "ours": [ours, "backtest", "--input", str(minute),
                         "--output", str(work / "ours-sweep"), "--strategy", "SMA_CROSSOVER",
                         "--grid", f"fast=5:{high}:1", "--grid", f"slow=5:{high}:1"],
                "peer": [peers_python, me, "--peer", "vectorbt", "--input", str(minute),
                         "--output", str(work / "vectorbt"), "--low", "5",
                         "--high", str(high)],
            },
            runs, work,
        )  # fmt: skip
        results["sweep"].update(sets=sets, candles=candles)
    if args.only in (None, "single"):
        daily = data / "DAILY-2000.csv"
        if not daily.exists():
            write_daily_candles(2_000, daily)
        fast, slow = SINGLE
        print("[bench] single: one backtest of 2,000 daily candles", file=sys.stderr)
        peer = [peers_python, me, "--peer", "backtesting", "--input", str(daily)]
        results["single"] = compare(
            "single",
            {
                "ours": [ours, "backtest", "--input", str(daily),
                         "--output", str(work / "ours-single"), "--strategy", "SMA_CROSSOVER",
                         "--param", f"fast={fast}", "--param", f"slow={slow}",
                         "--periods_per_year", "252"],
                "peer": [*peer, "--output", str(work / "backtesting")],
                "peer without its report": [*peer, "--output", str(work / "bt-no-report"),
                                            "--no_report"],
            },
            runs, work,
        )  # fmt: skip
    print(report(results, runs, args.quick))
    return 0


TARGETS = {
    "sweep": ("vectorbt", 5.0),
    "single": ("backtesting.py", 1.0),
}


def report(results: dict, runs: int, quick: bool) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"\nWhole-process backtests, {when}, {os.cpu_count()} cores ({_cpu_name()}), median of "
        f"{runs} run(s) each: wall time from process start to exit, outputs written"
        + (" [--quick: not the issue's sweep]" if quick else ""),
        "",
        f"{'target':<52}{'ours s':>8}{'peer s':>8}{'peer/ours':>11}{'target':>9}{'met':>5}"
        f"{'ours MiB':>10}{'peer MiB':>10}",
    ]
    lines.append("-" * len(lines[-1]))
    for name, r in results.items():
        peer_name, target = TARGETS[name]
        if name == "sweep":
            label = f"sweep {r['sets']:,} sets, {r['candles']:,} 1m candles vs {peer_name}"
        else:
            label = f"single, 2,000 daily candles vs {peer_name}"
        ours = r["ours"]
        for side in [k for k in r if k.startswith("peer")]:
            peer = r[side]
            ratio = peer["median"] / ours["median"]
            main_row = side == "peer"
            lines.append(
                f"{label if main_row else '  (info) ' + side:<52}{ours['median']:>8.2f}"
                f"{peer['median']:>8.2f}{ratio:>10.2f}x"
                + (
                    f"{'>= ' + format(target, 'g') + 'x':>9}{'yes' if ratio >= target else 'NO':>5}"
                    if main_row
                    else f"{'':>9}{'':>5}"
                )
                + f"{ours['peak_mb']:>10.0f}{peer['peak_mb']:>10.0f}"
            )
    lines.append("")
    for name, r in results.items():
        for side in r:
            if isinstance(r[side], dict):
                runs_text = ", ".join(f"{t:.2f}" for t in r[side]["runs"])
                lines.append(f"  {name} {side} runs: {runs_text} s")
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
