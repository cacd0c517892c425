"""The genetic algorithm: one search over one strategy type's parameters, ask/tell style.

    search = GeneticSearch("SMA_CROSSOVER|BTC-USD|final", space, GAConfig(population=30))
    genomes = search.start()                       # generation 0
    while not search.done:
        stats = search.tell({g: fitness[g] for g in search.population})  # breeds the next

The loop is written here rather than taken from DEAP or PyGAD: both own the evaluation loop
(PyGAD calls a fitness function per solution; DEAP's algorithms map `toolbox.evaluate` over
individuals), while here a generation's fitness is a Beam job over all searches at once, and
neither handles our int/float genes with constraint repair or per-child seeding without as
much glue code as the GA itself. The operators are the textbook ones:

* **initial population**: the type's defaults (when valid within the bounds), then uniform
  random genomes, repaired (see :mod:`tradestream.optimize.genome`), all distinct when the
  space allows it;
* **elitism**: the `elite` best genomes go to the next generation unchanged;
* **tournament selection**: each parent is the fittest of `tournament` individuals drawn
  with replacement (ties: the earlier in fitness order);
* **uniform crossover** with probability `crossover_rate` (each gene from either parent),
  otherwise a copy of the first parent;
* **Gaussian mutation**: each gene with probability `mutation_rate` moves by a normal step
  of `mutation_scale` x its range (ints: rounded, at least one unit), clipped into range;
* **repair** of broken constraints; a child that cannot be repaired, or duplicates one
  already in the new generation, is bred again (up to 8 times), then replaced by a fresh
  random valid genome (an immigrant), then accepted as it is (tiny spaces).

Determinism: every random draw comes from `numpy.random.default_rng([seed, search, generation,
slot])`, one generator per child slot, with `search` a CRC-32 of the search key. Fitness
comes back from Beam as a mapping genome -> value, never in arrival order, so the same seed
gives the same populations whatever the runner, its parallelism or its bundle order.

Early stop: the search ends after `generations` generations (generation 0 included), or
sooner when the best fitness seen has not improved for `early_stop` generations (0: never).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tradestream.optimize.genome import Genome, SearchSpace

BREED_TRIES = 8
IMPROVEMENT = 1e-12  # relative: a new best must beat the old by more than rounding


@dataclass(frozen=True)
class GAConfig:
    """Settings of the genetic algorithm (validated).

    Attributes:
        population: individuals per generation, >= 2.
        generations: most generations evaluated (generation 0 included), >= 1.
        seed: the seed of every random draw.
        elite: best individuals copied unchanged into the next generation, < population.
        tournament: individuals per tournament, >= 1.
        crossover_rate: probability that a child mixes two parents, in [0, 1].
        mutation_rate: probability that a gene mutates, in [0, 1].
        mutation_scale: mutation step (std) as a fraction of a gene's range, > 0.
        early_stop: stop after this many generations without a better best (0: never).
    """

    population: int = 30
    generations: int = 20
    seed: int = 0
    elite: int = 2
    tournament: int = 3
    crossover_rate: float = 0.8
    mutation_rate: float = 0.2
    mutation_scale: float = 0.1
    early_stop: int = 0

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ValueError(f"population must be >= 2, got {self.population}")
        if self.generations < 1:
            raise ValueError(f"generations must be >= 1, got {self.generations}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not 0 <= self.elite < self.population:
            raise ValueError(f"elite must be in [0, population), got {self.elite}")
        if self.tournament < 1:
            raise ValueError(f"tournament must be >= 1, got {self.tournament}")
        for name in ("crossover_rate", "mutation_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not (math.isfinite(self.mutation_scale) and self.mutation_scale > 0):
            raise ValueError(f"mutation_scale must be > 0, got {self.mutation_scale}")
        if self.early_stop < 0:
            raise ValueError(f"early_stop must be >= 0, got {self.early_stop}")


@dataclass(frozen=True)
class GenerationStats:
    """How one generation of one search went."""

    generation: int
    best: float  # best fitness of this generation
    mean: float  # mean finite fitness of this generation (-inf if none is finite)
    best_ever: float
    best_genome: Genome  # the best genome seen so far
    improved: bool


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else -math.inf


class GeneticSearch:
    """One genetic search (see the module docstring).

    Args:
        key: a stable name of the search (part of the random seed).
        space: the strategy type's search space.
        config: the GA settings.
    """

    def __init__(self, key: str, space: SearchSpace, config: GAConfig) -> None:
        self.key = key
        self.space = space
        self.config = config
        self.generation = 0
        self.population: list[Genome] = []
        self.history: list[GenerationStats] = []
        self.done = False
        self.stopped_early = False
        self._stream = zlib.crc32(key.encode())
        self._best: tuple[Genome, float] | None = None
        self._stale = 0

    @property
    def best(self) -> tuple[Genome, float] | None:
        """(genome, fitness) of the best individual seen so far."""
        return self._best

    def rng(self, generation: int, slot: int) -> np.random.Generator:
        """The random generator of one child slot of one generation."""
        return np.random.default_rng([self.config.seed, self._stream, generation, slot])

    def start(self) -> list[Genome]:
        """Generation 0: the defaults (if valid) and distinct random valid genomes."""
        population: list[Genome] = []
        seen: set[Genome] = set()
        default = self.space.default()
        if default is not None:
            population.append(default)
            seen.add(default)
        slot = len(population)
        while len(population) < self.config.population:
            rng = self.rng(0, slot)
            genome = self.space.sample(rng)
            for _ in range(BREED_TRIES):
                if genome not in seen:
                    break
                genome = self.space.sample(rng)
            population.append(genome)
            seen.add(genome)
            slot += 1
        self.population = population
        return population

    def tell(self, fitness: Mapping[Genome, float]) -> GenerationStats:
        """Records the fitness of the current population and breeds the next one.

        Args:
            fitness: fitness of (at least) every genome of the current population; higher
                is better, -inf is the worst.

        Returns:
            The generation's statistics; `done` says whether the search has ended.
        """
        values = [float(fitness[g]) for g in self.population]
        order = sorted(range(len(values)), key=lambda i: (-values[i], i))
        top_genome, top = self.population[order[0]], values[order[0]]
        improved = self._best is None or (
            top > self._best[1] + IMPROVEMENT * max(1.0, abs(self._best[1]))
            if math.isfinite(self._best[1])
            else top > self._best[1]
        )
        if improved:
            self._best = (top_genome, top)
            self._stale = 0
        else:
            self._stale += 1
        stats = GenerationStats(
            generation=self.generation,
            best=top,
            mean=_mean(values),
            best_ever=self._best[1],
            best_genome=self._best[0],
            improved=improved,
        )
        self.history.append(stats)
        if self.generation + 1 >= self.config.generations:
            self.done = True
        elif self.config.early_stop and self._stale >= self.config.early_stop:
            self.done = self.stopped_early = True
        else:
            self.generation += 1
            self.population = self._breed([self.population[i] for i in order])
        return stats

    # --- operators -------------------------------------------------------------------------

    def _breed(self, ranked: list[Genome]) -> list[Genome]:
        """The next generation from the current one in fitness order (best first)."""
        children: list[Genome] = []
        seen: set[Genome] = set()
        for genome in ranked:
            if len(children) >= self.config.elite:
                break
            if genome not in seen:
                children.append(genome)
                seen.add(genome)
        while len(children) < self.config.population:
            rng = self.rng(self.generation, len(children))
            child = self._child(rng, ranked, seen)
            children.append(child)
            seen.add(child)
        return children

    def _child(self, rng: np.random.Generator, ranked: list[Genome], seen: set[Genome]) -> Genome:
        first_valid: Genome | None = None
        for _ in range(BREED_TRIES):
            mother = self._tournament(rng, ranked)
            if rng.random() < self.config.crossover_rate:
                father = self._tournament(rng, ranked)
                mask = rng.random(len(mother)) < 0.5
                values = [m if pick else f for m, f, pick in zip(mother, father, mask, strict=True)]
            else:
                values = list(mother)
            child = self.space.repair(self._mutate(rng, values))
            if child is None:
                continue
            if child not in seen:
                return child
            first_valid = first_valid or child
        try:
            immigrant = self.space.sample(rng)
        except ValueError:
            immigrant = None
        if immigrant is not None and immigrant not in seen:
            return immigrant
        return first_valid or immigrant or ranked[0]

    def _tournament(self, rng: np.random.Generator, ranked: list[Genome]) -> Genome:
        # `ranked` is in fitness order, so the fittest of the draw is the lowest index.
        picks = rng.integers(0, len(ranked), size=self.config.tournament)
        return ranked[int(picks.min())]

    def _mutate(self, rng: np.random.Generator, values: list) -> list:
        out = list(values)
        for i, gene in enumerate(self.space.genes):
            if rng.random() >= self.config.mutation_rate:
                continue
            sigma = self.config.mutation_scale * gene.span
            if gene.kind == "int":
                step = int(round(rng.normal(0.0, max(sigma, 1.0))))
                if step == 0:
                    step = 1 if rng.random() < 0.5 else -1
                out[i] = out[i] + step
            else:
                out[i] = out[i] + rng.normal(0.0, sigma) if sigma > 0 else out[i]
        return out
