"""The optimization driver: genetic searches in lockstep, one fitness evaluation per generation.

    specs = plan_searches(spaces, series_files, train_ms=..., test_ms=..., mode="rolling")
    outcomes = run_searches(specs, GAConfig(...), evaluate, batch_size=10)
    oos = evaluate_out_of_sample(outcomes, evaluate, batch_size=10)

A *search* is one GA over one strategy type on one symbol and one window: the final search
(where the parameters written to best.json are chosen) and, with walk-forward, one search
per fold on its training window (see :mod:`tradestream.optimize.walk_forward`). All searches
advance together: each generation, the genomes of every active search whose fitness is not
cached yet are batched into `FitnessJob`s and handed to `evaluate` at once, which is a Beam
job in `tradestream optimize` (:func:`tradestream.optimize.fitness.evaluate_locally` in
tests). Fitness is cached per (task, genome) for the whole run: a genome seen in an earlier
generation is never evaluated again, and every distinct genome evaluated is kept as a
*trial* (the deflated Sharpe ratio and PBO need them all), with the generation that first
asked for it (`DIR/evaluations.json` lists them, see :mod:`tradestream.optimize.outputs`).
Trials are kept in the order they were first asked for (generation, then population
order), never in the order Beam returned them, so that listing is the same for a seed.

Progress goes to `progress` (stderr in the pipeline), one line per search and generation:
best and mean fitness, new evaluations and cache hits, elapsed time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tradestream.optimize.fitness import FitnessJob, FitnessResult, FitnessTask, plan_jobs
from tradestream.optimize.ga import GAConfig, GenerationStats, GeneticSearch
from tradestream.optimize.genome import Genome, SearchSpace
from tradestream.optimize.store import SeriesFile
from tradestream.optimize.walk_forward import Fold, final_window, walk_forward_folds

Evaluate = Callable[[list[FitnessJob]], list[FitnessResult]]


@dataclass(frozen=True)
class SearchSpec:
    """One planned search: its training task and, for a fold, its test task."""

    key: str
    space: SearchSpace
    symbol: str
    train: FitnessTask
    fold: Fold | None = None
    test: FitnessTask | None = None


def plan_searches(
    spaces: Sequence[SearchSpace],
    series_files: Sequence[SeriesFile],
    train_ms: int | None = None,
    test_ms: int | None = None,
    mode: str = "rolling",
) -> list[SearchSpec]:
    """Every search of a run: per strategy type and symbol, the folds (if any) and the final.

    Raises:
        ValueError: only one of train/test given, or a symbol's data too short for a fold.
    """
    if (train_ms is None) != (test_ms is None):
        raise ValueError("walk-forward needs both --train and --test")
    specs: list[SearchSpec] = []
    for space in spaces:
        name = space.stype.name
        for series in series_files:
            base = f"{name}|{series.symbol}"
            if train_ms is not None and test_ms is not None:
                try:
                    folds = walk_forward_folds(
                        series.first_ms, series.end_ms, train_ms, test_ms, mode
                    )
                except ValueError as exc:
                    raise ValueError(f"{series.symbol}: {exc}") from None
                for fold in folds:
                    key = f"{base}|fold{fold.index}"
                    specs.append(
                        SearchSpec(
                            key=key,
                            space=space,
                            symbol=series.symbol,
                            train=FitnessTask(key, space, series.symbol, series.path, fold.train),
                            fold=fold,
                            test=FitnessTask(
                                f"{key}|test", space, series.symbol, series.path, fold.test
                            ),
                        )
                    )
            window = final_window(series.first_ms, series.end_ms, train_ms, mode)
            key = f"{base}|final"
            specs.append(
                SearchSpec(
                    key=key,
                    space=space,
                    symbol=series.symbol,
                    train=FitnessTask(key, space, series.symbol, series.path, window),
                )
            )
    return specs


def tasks_of(specs: Sequence[SearchSpec]) -> dict[str, FitnessTask]:
    """Every task of the searches (training and test windows) by key."""
    tasks = {}
    for spec in specs:
        tasks[spec.train.key] = spec.train
        if spec.test is not None:
            tasks[spec.test.key] = spec.test
    return tasks


@dataclass(frozen=True)
class GenerationRecord:
    """A generation of one search, with its evaluation costs."""

    stats: GenerationStats
    evaluated: int  # distinct genomes evaluated for this generation
    cached: int  # individuals whose fitness was already known
    elapsed_s: float  # since the run started


@dataclass
class SearchOutcome:
    """A finished search: its GA state, every trial and its history.

    Attributes:
        trials: every distinct genome evaluated and its result, in the order first asked.
        first_generation: the generation that first evaluated each trial's genome.
    """

    spec: SearchSpec
    search: GeneticSearch
    trials: dict[Genome, FitnessResult] = field(default_factory=dict)
    first_generation: dict[Genome, int] = field(default_factory=dict)
    history: list[GenerationRecord] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        return len(self.trials)

    def best(self) -> FitnessResult | None:
        """The best trial (ties: the smaller genome)."""
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def ranked(self) -> list[FitnessResult]:
        """Every trial, best first (ties broken by genome, so the order is stable)."""
        return sorted(self.trials.values(), key=lambda r: (-r.fitness, r.genome))


def _format(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else "none"


def run_searches(
    specs: Sequence[SearchSpec],
    config: GAConfig,
    evaluate: Evaluate,
    batch_size: int = 10,
    progress: Callable[[str], None] | None = None,
) -> list[SearchOutcome]:
    """Runs every search to its end (module docstring).

    Args:
        specs: the planned searches.
        config: GA settings (shared by the searches; each has its own random stream).
        evaluate: fitness of a list of jobs, one result per genome.
        batch_size: most genomes per job.
        progress: receives one line per search and generation.

    Returns:
        One SearchOutcome per spec, in order.
    """
    started = time.monotonic()
    outcomes = [SearchOutcome(spec, GeneticSearch(spec.key, spec.space, config)) for spec in specs]
    for outcome in outcomes:
        outcome.search.start()
    while True:
        active = [o for o in outcomes if not o.search.done]
        if not active:
            break
        wanted: dict[str, list[Genome]] = {}
        for o in active:
            fresh = [g for g in dict.fromkeys(o.search.population) if g not in o.trials]
            if fresh:
                wanted[o.spec.train.key] = fresh
        results = evaluate(plan_jobs(wanted, batch_size)) if wanted else []
        by_task: dict[str, dict[Genome, FitnessResult]] = {}
        for result in results:
            by_task.setdefault(result.task, {})[tuple(result.genome)] = result
        elapsed = time.monotonic() - started
        told: list[tuple[SearchOutcome, GenerationRecord]] = []
        for o in active:
            new = by_task.get(o.spec.train.key, {})
            fresh = wanted.get(o.spec.train.key, [])
            missing = [g for g in fresh if g not in new]
            if missing:
                raise RuntimeError(f"{o.spec.key}: no fitness came back for {missing[:3]}")
            for genome in fresh:  # population order, not arrival order
                o.trials[genome] = new[genome]
                o.first_generation[genome] = o.search.generation
            population = o.search.population
            stats = o.search.tell({g: o.trials[g].fitness for g in population})
            record = GenerationRecord(stats, len(fresh), len(population) - len(fresh), elapsed)
            o.history.append(record)
            told.append((o, record))
        if progress is not None:
            for line in progress_lines(told, config.generations, elapsed):
                progress(line)
    return outcomes


def progress_lines(
    told: Sequence[tuple[SearchOutcome, GenerationRecord]], generations: int, elapsed: float
) -> list[str]:
    """One line per strategy type and symbol: its final search, its folds summed up."""
    groups: dict[tuple[str, str], list[tuple[SearchOutcome, GenerationRecord]]] = {}
    for o, record in told:
        groups.setdefault((o.spec.space.stype.name, o.spec.symbol), []).append((o, record))
    lines = []
    for (name, symbol), members in groups.items():
        generation = members[0][1].stats.generation + 1
        parts = []
        for o, r in members:
            if o.spec.fold is None:
                s = r.stats
                parts.append(
                    f"best {_format(s.best)} (ever {_format(s.best_ever)}), mean "
                    f"{_format(s.mean)}; {r.evaluated} evaluated, {r.cached} cached"
                    + (" - early stop" if o.search.stopped_early else "")
                )
        folds = [(o, r) for o, r in members if o.spec.fold is not None]
        if folds:
            parts.append(
                f"walk-forward: {len(folds)} fold search(es), "
                f"{sum(r.evaluated for _, r in folds)} evaluated, "
                f"{sum(r.cached for _, r in folds)} cached"
            )
        lines.append(
            f"[optimize] gen {generation}/{generations} {name} {symbol}: "
            f"{'; '.join(parts)}; {elapsed:.1f} s"
        )
    return lines


def evaluate_out_of_sample(
    outcomes: Sequence[SearchOutcome], evaluate: Evaluate, batch_size: int = 10
) -> dict[str, FitnessResult]:
    """Backtests each fold's best genome on its test window.

    Returns:
        Fold search key -> the test result of its best genome.
    """
    wanted: dict[str, list[Genome]] = {}
    owner: dict[str, str] = {}
    for o in outcomes:
        best = o.best()
        if o.spec.test is not None and best is not None:
            wanted[o.spec.test.key] = [best.genome]
            owner[o.spec.test.key] = o.spec.key
    if not wanted:
        return {}
    results = evaluate(plan_jobs(wanted, batch_size))
    return {owner[r.task]: r for r in results}
