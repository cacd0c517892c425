"""Backtest speed and memory, side by side: TradeStream's engine, vectorbt and backtesting.py.

The same SMA-crossover sweep (long-only, fill at the signal bar's close, no fees, all-in
fractional sizes) over the same 50,000 one-minute candles:

1. every `fast < slow` pair of windows 5..54 (1,225 parameter sets) in our engine and in
   vectorbt (all sets at once, as its docs recommend), and in backtesting.py on a random
   sample of the sets (it runs one set at a time), extrapolated to all of them;
2. our engine alone on windows 5..104 (4,950 pairs), chunked within --memory_mb, with
   progress on stderr (vectorbt ran out of 24 GiB there when this was first measured).

Each engine runs in its own subprocess, so peak memory (the process's VmHWM) is its own; the
peers run from a separate virtualenv (`.local/bench-venv`, created here from PyPI on first
use), since they need newer numpy/pandas than Beam allows. Our figures are the engine's
chunk loop that the `SimulateTrades`/`ComputeMetrics` transforms run (signal evaluation,
simulation and every metric); vectorbt's include its signals, portfolio and the comparable
metrics; vectorbt's numba compilation is done on a small warm-up first and reported apart.

    .venv/bin/python bench/backtest_vs_peers.py            # the full comparison (~3 min)
    .venv/bin/python bench/backtest_vs_peers.py --quick    # 10,000 candles, smaller sweeps

Not part of the test suite. Measured here (2 cores, shared with other jobs; vectorbt 1.2.0,
backtesting.py 0.6.6), 1,225 sets over 50,000 candles:

    engine            ms/set   all sets   peak RSS (+ over imports)   vs ours (time, +memory)
    ours                3.55      4.3 s     542 MiB (+348)              1x, 1x
    vectorbt           45.76     56.1 s    8109 MiB (+7728)            12.9x, 22x
    backtesting.py    457.0     ~560 s      144 MiB (+43, one set)     129x (12 sets, extrapolated)

All three agree on total return and trade count of the cross-checked sets. Ours alone on
windows 5..104 (4,950 sets): 10.0 s, peak RSS 517 MiB, in chunks of 167 sets. The whole
`tradestream backtest` pipeline (DirectRunner, CSV in, all output files and the report) on
the 1,225-set grid takes 7.7 s with a peak RSS of 472 MiB, against 43 s for a vectorbt script
doing the same (bench/backtest_whole_process.py times whole processes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_VENV = REPO / ".local" / "bench-venv"
PEERS = ("vectorbt==1.2.0", "backtesting==0.6.6")
CASH = 10_000.0


# --- helpers shared by every worker (stdlib only: the peers' venv has no TradeStream) -----


def _peak_rss_mb() -> float:
    """The process's peak resident set size so far (VmHWM), in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _pairs(low: int, high: int) -> list[tuple[int, int]]:
    return [(f, s) for f in range(low, high + 1) for s in range(f + 1, high + 1)]


def _load(path: str):
    import numpy as np

    data = np.load(path)
    return {name: data[name] for name in data.files}


def _emit(result: dict) -> None:
    print("RESULT " + json.dumps(result), flush=True)


# --- workers ----------------------------------------------------------------------------


def worker_ours(args) -> None:
    """TradeStream: strategies from the library, chunked evaluate + simulate + metrics."""
    sys.path.insert(0, str(REPO))
    from tradestream.backtest.chunks import chunk_results, simulate_chunk
    from tradestream.backtest.config import ExecutionConfig
    from tradestream.backtest.engine import chunk_size_for
    from tradestream.backtest.progress import Progress
    from tradestream.backtest.series import CandleSeries
    from tradestream.strategies.spec import parse_document

    data = _load(args.data)
    n = data["close"].shape[0]
    series = CandleSeries(
        symbol="BENCH-USD",
        interval_ms=60_000,
        start_ms=data["start_ms"],
        open=data["open"],
        high=data["high"],
        low=data["low"],
        close=data["close"],
        volume=data["volume"],
        filled=data["close"] != data["close"],
    )
    config = ExecutionConfig(cash=CASH)
    pairs = _pairs(args.low, args.high)
    baseline = _peak_rss_mb()
    start = time.perf_counter()
    sma_cross = parse_document(SMA_CROSS, "bench")[0][0]
    strategies = [sma_cross.build({"fast": f, "slow": s}) for f, s in pairs]
    size = chunk_size_for(n, args.memory_mb)
    progress = Progress("[ours]", len(strategies), every_s=2.0)
    checks = {}
    for first in range(0, len(strategies), size):
        chunk = simulate_chunk(series, strategies[first : first + size], config)
        for result in chunk_results(chunk, config):
            key = result.strategy.strategy_id
            if key in CHECKED:
                checks[key] = [result.metrics.total_return, result.metrics.num_trades]
        progress.advance(len(chunk.strategies))
    seconds = time.perf_counter() - start
    _emit(
        {
            "engine": "ours",
            "sets": len(pairs),
            "seconds": seconds,
            "peak_mb": _peak_rss_mb(),
            "baseline_mb": baseline,
            "chunk": size,
            "checks": checks,
        }
    )


CHECKED_PAIRS = ((10, 30), (5, 25))
CHECKED = {f"SMA_CROSS(fast={f},slow={s})" for f, s in CHECKED_PAIRS}
# The library's SMA_CROSSOVER, with bounds wide enough for windows up to 104 (the library
# caps `fast` at 100): a user-defined strategy type, as in a --strategies file.
SMA_CROSS = {
    "strategies": [
        {
            "name": "SMA_CROSS",
            "params": {
                "fast": {
                    "kind": "int",
                    "low": 2,
                    "high": 1000,
                    "default": 10,
                    "description": "fast",
                },
                "slow": {
                    "kind": "int",
                    "low": 3,
                    "high": 1000,
                    "default": 30,
                    "description": "slow",
                },
            },
            "constraints": ["fast < slow"],
            "nodes": {
                "f": {"kind": "sma", "inputs": ["close"], "params": {"period": "$fast"}},
                "s": {"kind": "sma", "inputs": ["close"], "params": {"period": "$slow"}},
            },
            "entry": {"kind": "crosses_above", "inputs": ["f", "s"]},
            "exit": {"kind": "crosses_below", "inputs": ["f", "s"]},
        }
    ]
}


def worker_vectorbt(args) -> None:
    """vectorbt: MA.run_combs over the windows, crossings, Portfolio.from_signals, metrics."""
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    data = _load(args.data)
    index = pd.to_datetime(data["start_ms"], unit="ms")
    close = pd.Series(data["close"], index=index, name="close")
    windows = np.arange(args.low, args.high + 1)

    def sweep(price: pd.Series, wins) -> dict:
        fast, slow = vbt.MA.run_combs(price, window=wins, r=2, short_names=["fast", "slow"])
        entries = fast.ma_crossed_above(slow)
        exits = fast.ma_crossed_below(slow)
        pf = vbt.Portfolio.from_signals(
            price, entries, exits, init_cash=CASH, fees=0.0, freq="1min"
        )
        out = {
            "total_return": pf.total_return(),
            "volatility": pf.annualized_volatility(),
            "sharpe": pf.sharpe_ratio(),
            "sortino": pf.sortino_ratio(),
            "calmar": pf.calmar_ratio(),
            "max_drawdown": pf.max_drawdown(),
            "win_rate": pf.trades.win_rate(),
            "profit_factor": pf.trades.profit_factor(),
            "expectancy": pf.trades.expectancy(),
            "trades": pf.trades.closed.count(),
        }
        return out

    warm = time.perf_counter()
    sweep(close.iloc[:500], windows[:3])  # numba compilation
    jit_seconds = time.perf_counter() - warm
    baseline = _peak_rss_mb()
    start = time.perf_counter()
    stats = sweep(close, windows)
    seconds = time.perf_counter() - start
    checks = {}
    for fast_w, slow_w in CHECKED_PAIRS:
        if (fast_w, slow_w) in stats["total_return"].index:
            checks[f"SMA_CROSS(fast={fast_w},slow={slow_w})"] = [
                float(stats["total_return"].loc[(fast_w, slow_w)]),
                int(stats["trades"].loc[(fast_w, slow_w)]),
            ]
    _emit(
        {
            "engine": "vectorbt",
            "version": vbt.__version__,
            "sets": int(len(stats["total_return"])),
            "seconds": seconds,
            "jit_seconds": jit_seconds,
            "peak_mb": _peak_rss_mb(),
            "baseline_mb": baseline,
            "checks": checks,
        }
    )


def worker_backtesting(args) -> None:
    """backtesting.py: one Backtest.run per sampled set (trade_on_close, fractional)."""
    import random
    import warnings

    import pandas as pd
    from backtesting import Strategy
    from backtesting import __version__ as version
    from backtesting.lib import FractionalBacktest, crossover
    from backtesting.test import SMA

    warnings.filterwarnings("ignore")
    data = _load(args.data)
    frame = pd.DataFrame(
        {
            "Open": data["open"],
            "High": data["high"],
            "Low": data["low"],
            "Close": data["close"],
            "Volume": data["volume"],
        },
        index=pd.to_datetime(data["start_ms"], unit="ms"),
    )
    pairs = _pairs(args.low, args.high)
    # The cross-checked sets, then random ones.
    sample = [p for p in CHECKED_PAIRS if p in pairs][: args.sample]
    others = [p for p in pairs if p not in sample]
    sample += random.Random(7).sample(others, max(0, min(args.sample - len(sample), len(others))))
    baseline = _peak_rss_mb()
    checks = {}
    start = time.perf_counter()
    for fast_w, slow_w in sample:

        class SmaCross(Strategy):
            def init(self, fast_w=fast_w, slow_w=slow_w):
                self.fast = self.I(SMA, self.data.Close, fast_w)
                self.slow = self.I(SMA, self.data.Close, slow_w)

            def next(self):
                if crossover(self.fast, self.slow):
                    if not self.position:
                        self.buy()
                elif crossover(self.slow, self.fast):
                    self.position.close()

        stats = FractionalBacktest(
            frame, SmaCross, cash=CASH, commission=0.0, trade_on_close=True,
            fractional_unit=1e-9,
        ).run()  # fmt: skip
        checks[f"SMA_CROSS(fast={fast_w},slow={slow_w})"] = [
            float(stats["Equity Final [$]"]) / CASH - 1,
            int(stats["# Trades"]),
        ]
    seconds = time.perf_counter() - start
    _emit(
        {
            "engine": "backtesting.py",
            "version": version,
            "sets": len(sample),
            "of_sets": len(pairs),
            "seconds": seconds,
            "peak_mb": _peak_rss_mb(),
            "baseline_mb": baseline,
            "checks": {k: v for k, v in checks.items() if k in CHECKED},
        }
    )


WORKERS = {"ours": worker_ours, "vectorbt": worker_vectorbt, "backtesting": worker_backtesting}


# --- orchestration ------------------------------------------------------------------------


def ensure_bench_venv() -> Path:
    """The peers' virtualenv (vectorbt, backtesting.py), created from PyPI when missing."""
    python = BENCH_VENV / "bin" / "python"
    marker = BENCH_VENV / ".bench-requirements"
    wanted = "\n".join(PEERS) + "\n"
    if marker.is_file() and marker.read_text() == wanted:
        return python
    if not python.exists():
        print(f"[bench] creating {BENCH_VENV} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    print(f"[bench] installing {', '.join(PEERS)} from PyPI ...", file=sys.stderr, flush=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEERS],
        check=True,
    )
    marker.write_text(wanted)
    return python


def make_candles(n: int, path: Path, seed: int = 42) -> None:
    """A deterministic one-minute random walk with regimes (so crossovers trend and chop)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    drift = np.repeat(rng.normal(0, 2e-4, n // 500 + 1), 500)[:n]
    log_close = np.log(30_000.0) + np.cumsum(drift + rng.normal(0, 1.2e-3, n))
    close = np.exp(log_close)
    open_ = np.concatenate(([close[0]], close[:-1])) * np.exp(rng.normal(0, 2e-4, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 6e-4, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 6e-4, n)))
    start = 1_704_067_200_000 + 60_000 * np.arange(n, dtype=np.int64)
    volume = rng.uniform(1, 10, n)
    np.savez(path, start_ms=start, open=open_, high=high, low=low, close=close, volume=volume)


def run_worker(python: Path, name: str, data: Path, low: int, high: int, **extra) -> dict:
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", name, "--data", str(data),
           "--low", str(low), "--high", str(high)]  # fmt: skip
    for key, value in extra.items():
        cmd += [f"--{key}", str(value)]
    env = dict(os.environ, PYTHONWARNINGS="ignore", TQDM_DISABLE="1")
    started = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"engine": name, "error": f"exit {proc.returncode}", "wall": wall}
    result = json.loads(lines[-1][len("RESULT ") :])
    result["wall"] = wall
    return result


def _per_set_ms(r: dict) -> float:
    return 1000 * r["seconds"] / r["sets"]


def report(ours: dict, vbt: dict, bt: dict, big: dict, candles: int) -> str:
    lines = []
    sets = ours.get("sets", 0)
    lines.append(
        f"\nSMA crossover sweep, {sets:,} parameter sets over {candles:,} one-minute candles "
        "(long-only, fill at close, no fees, fractional all-in sizes)\n"
    )
    header = (
        f"{'engine':<26}{'sets run':>9}{'seconds':>10}{'ms/set':>10}{'all sets s':>12}"
        f"{'peak MiB':>10}{'+MiB':>8}{'time/set vs ours':>18}{'+MiB vs ours':>14}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    ours_ms = _per_set_ms(ours)
    ours_mem = ours["peak_mb"] - ours["baseline_mb"]
    for r in (ours, vbt, bt):
        if "error" in r:
            lines.append(f"{r['engine']:<26} failed: {r['error']}")
            continue
        ms = _per_set_ms(r)
        total = ms * sets / 1000
        extra_mb = r["peak_mb"] - r["baseline_mb"]
        name = r["engine"] + (f" {r['version']}" if "version" in r else "")
        lines.append(
            f"{name:<26}{r['sets']:>9,}{r['seconds']:>10.2f}{ms:>10.2f}{total:>12.1f}"
            f"{r['peak_mb']:>10.0f}{extra_mb:>8.0f}{ms / ours_ms:>17.1f}x"
            f"{extra_mb / max(ours_mem, 1):>13.2f}x"
        )
    if "jit_seconds" in vbt:
        lines.append(
            f"(vectorbt's numba compilation, done before timing: {vbt['jit_seconds']:.1f} s)"
        )
    if "of_sets" in bt:
        lines.append(
            f"(backtesting.py ran {bt['sets']} random sets of {bt['of_sets']:,}; "
            "'all sets s' extrapolates)"
        )
    lines.append("peak MiB = process peak RSS; +MiB = peak minus the RSS after imports and data")
    lines.append("\nSame results? total return / closed trades for two sets:")
    for key in sorted(CHECKED):
        row = [f"  {key:<34}"]
        for r in (ours, vbt, bt):
            value = r.get("checks", {}).get(key)
            row.append(
                f"{r['engine']}: " + ("n/a" if value is None else f"{value[0]:+.6f} / {value[1]}")
            )
        lines.append("   ".join(row))
    if "error" in big:
        lines.append(f"\nOurs on {big.get('sets', '?')} sets failed: {big['error']}")
    else:
        lines.append(
            f"\nOurs alone, windows 5..{big['high']} ({big['sets']:,} pairs): {big['seconds']:.1f} s "
            f"({_per_set_ms(big):.2f} ms/set), peak RSS {big['peak_mb']:.0f} MiB "
            f"(+{big['peak_mb'] - big['baseline_mb']:.0f} MiB), chunks of {big['chunk']} sets "
            f"within --memory_mb {big['memory_mb']:g}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 candles, smaller sweeps")
    parser.add_argument("--candles", type=int, default=None)
    parser.add_argument("--sample", type=int, default=None, help="backtesting.py sets to run")
    parser.add_argument("--memory_mb", type=float, default=512.0)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--low", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--high", type=int, default=54, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        WORKERS[args.worker](args)
        return 0

    candles = args.candles or (10_000 if args.quick else 50_000)
    high = 34 if args.quick else 54  # 435 or 1,225 pairs
    big_high = 54 if args.quick else 104  # 1,225 or 4,950 pairs
    sample = args.sample or (3 if args.quick else 12)
    peers_python = ensure_bench_venv()
    data = REPO / ".local" / f"bench-candles-{candles}.npz"
    data.parent.mkdir(parents=True, exist_ok=True)
    make_candles(candles, data)
    print(f"[bench] {candles:,} candles; sweeping windows 5..{high}", file=sys.stderr, flush=True)

    print("[bench] ours ...", file=sys.stderr, flush=True)
    ours = run_worker(Path(sys.executable), "ours", data, 5, high, memory_mb=args.memory_mb)
    print("[bench] vectorbt ...", file=sys.stderr, flush=True)
    vbt = run_worker(peers_python, "vectorbt", data, 5, high)
    print(f"[bench] backtesting.py ({sample} sets) ...", file=sys.stderr, flush=True)
    bt = run_worker(peers_python, "backtesting", data, 5, high, sample=sample)
    print(f"[bench] ours alone on windows 5..{big_high} ...", file=sys.stderr, flush=True)
    big = run_worker(Path(sys.executable), "ours", data, 5, big_high, memory_mb=args.memory_mb)
    big.update(high=big_high, memory_mb=args.memory_mb)
    print(report(ours, vbt, bt, big, candles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
