"""EvaluateFitness: PCollection[FitnessJob] -> PCollection[FitnessResult].

    results = jobs | EvaluateFitness(tasks, config)

Spreads the genome batches over workers; each batch is scored by
:func:`tradestream.optimize.fitness.evaluate_genomes`.
"""

from __future__ import annotations

from collections.abc import Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics

from tradestream.optimize.fitness import FitnessConfig, FitnessJob, FitnessTask, evaluate_genomes
from tradestream.optimize.store import load_series


class EvaluateFitnessFn(beam.DoFn):
    """FitnessJob -> FitnessResult per genome (the series files are read once per process)."""

    def __init__(self, tasks: Mapping[str, FitnessTask], config: FitnessConfig) -> None:
        self._tasks = dict(tasks)
        self._config = config
        self._evaluated = Metrics.counter("EvaluateFitness", "genomes")

    def process(self, job: FitnessJob):
        task = self._tasks[job.task]
        series = load_series(task.series_path)
        yield from evaluate_genomes(task, series, job.genomes, self._config)
        self._evaluated.inc(len(job.genomes))


class EvaluateFitness(beam.PTransform):
    """PCollection[FitnessJob] -> PCollection[FitnessResult], one per genome.

    Args:
        tasks: the run's tasks by key.
        config: the fitness settings.
    """

    def __init__(self, tasks: Mapping[str, FitnessTask], config: FitnessConfig) -> None:
        super().__init__()
        self._tasks = dict(tasks)
        self._config = config

    def expand(self, jobs: beam.PCollection) -> beam.PCollection:
        return (
            jobs
            | "Spread" >> beam.Reshuffle()
            | "Backtest" >> beam.ParDo(EvaluateFitnessFn(self._tasks, self._config))
        )
