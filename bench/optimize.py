"""Optimizer speed: fitness evaluations per second, and a year of 1-minute candles end to end.

1. Fitness evaluations per second of one strategy (SMA_CROSSOVER) on 50,000 one-minute
   candles: random valid genomes backtested and scored (`evaluate_genomes`: signals,
   simulation, every metric, the objective and the CSCV block sums) in batches of
   --batch_size, in this process; then the same genomes as one Beam job (DirectRunner,
   `EvaluateFitness`), job start-up included.
2. `tradestream optimize` on SMA_RSI over one year of 1-minute candles (525,600; a random
   walk with a daily cycle, written as a candles CSV), population 50 x 30 generations,
   DirectRunner: wall time, distinct genomes evaluated, and the time of the first (load) job.

    .venv/bin/python bench/optimize.py            # both (~several minutes)
    .venv/bin/python bench/optimize.py --quick    # 50,000 candles for part 2, 10 generations

Not part of the test suite. Measured here (2 cores, shared with other jobs):

    SMA_CROSSOVER, 50,000 candles, batches of 10:   265-300 evaluations/s in process
                                                     168/s as one DirectRunner job (200 genomes)
    SMA_RSI, 525,600 candles, 50 x 30, DirectRunner: 110 s wall (~15 s load job, ~92 s for the
                                                     30 generation jobs), 1,191 distinct genomes
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tradestream.optimize.builders import series_from_close, write_candles_csv  # noqa: E402
from tradestream.backtest.config import ExecutionConfig  # noqa: E402
from tradestream.optimize.fitness import (  # noqa: E402
    EvaluateFitness,
    FitnessConfig,
    evaluate_genomes,
    plan_jobs,
)
from tradestream.optimize.genome import make_space  # noqa: E402
from tradestream.optimize.store import save_series  # noqa: E402
from tradestream.optimize.walk_forward import Window  # noqa: E402
from tradestream.strategies import library  # noqa: E402

MINUTE = 60_000


def synthetic_close(n: int, seed: int = 1) -> np.ndarray:
    """A random walk (0.05% per minute) with a daily cycle of +-1%."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    walk = np.cumsum(0.0005 * rng.standard_normal(n))
    return 100.0 * np.exp(walk + 0.01 * np.sin(2 * np.pi * t / 1440))


def evaluations_per_second(candles: int, genomes: int, batch: int, work: Path) -> None:
    from tradestream.optimize.fitness import FitnessTask

    series = series_from_close(synthetic_close(candles))
    file = save_series(series, str(work / "series"))
    space = make_space(library.get("SMA_CROSSOVER"))
    rng = np.random.default_rng(0)
    wanted = list(dict.fromkeys(space.sample(rng) for _ in range(genomes * 2)))[:genomes]
    task = FitnessTask("t", space, file.symbol, file.path, Window(file.first_ms, file.end_ms))
    config = FitnessConfig(ExecutionConfig(fee=0.001), "sharpe", 1)
    evaluate_genomes(task, series, wanted[:batch], config)  # warm-up (imports, TA-Lib)
    start = time.perf_counter()
    for first in range(0, len(wanted), batch):
        evaluate_genomes(task, series, wanted[first : first + batch], config)
    elapsed = time.perf_counter() - start
    print(
        f"[bench] in process: {len(wanted)} genomes x {candles:,} candles in {elapsed:.2f} s: "
        f"{len(wanted) / elapsed:,.1f} evaluations/s (batches of {batch})"
    )
    import apache_beam as beam

    jobs = plan_jobs({"t": wanted}, batch)
    start = time.perf_counter()
    with beam.Pipeline() as p:
        _ = p | beam.Create(jobs) | EvaluateFitness({"t": task}, config) | beam.Map(lambda r: None)
    elapsed = time.perf_counter() - start
    print(
        f"[bench] one Beam job (DirectRunner): {len(wanted)} genomes in {elapsed:.2f} s: "
        f"{len(wanted) / elapsed:,.1f} evaluations/s"
    )


def optimize_year(candles: int, population: int, generations: int, work: Path) -> None:
    from tradestream.pipelines import optimize

    path = write_candles_csv(work / "BTC-USD.csv", series_from_close(synthetic_close(candles)))
    out = work / "out"
    argv = ["--input", str(path), "--output", str(out), "--strategy", "SMA_RSI",
            "--population", str(population), "--generations", str(generations),
            "--seed", "1", "--fee", "0.001", "--min_trades", "10"]  # fmt: skip
    start = time.perf_counter()
    code = optimize.run(argv)
    elapsed = time.perf_counter() - start
    history = json.loads((out / "history.json").read_text())["searches"][0]
    first = history["generations"][0]["elapsed_s"]
    best = json.loads((out / "best.json").read_text())
    print(
        f"[bench] tradestream optimize SMA_RSI, {candles:,} candles, population {population} x "
        f"{generations} generations: exit {code}, {elapsed:.1f} s wall, "
        f"{history['evaluations']} distinct genomes evaluated "
        f"({history['evaluations'] / elapsed:.1f}/s overall), generation 0 done "
        f"{first:.1f} s after the load job; best {best[0]['strategy_id'] if best else None}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--batch_size", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="optimize-bench-"))
    try:
        evaluations_per_second(50_000, 200, args.batch_size, work)
        if args.quick:
            optimize_year(50_000, 50, 10, work)
        else:
            optimize_year(525_600, 50, 30, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
