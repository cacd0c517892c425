"""The search space of one strategy type: genes within bounds, and constraint repair.

    space = make_space(library.get("SMA_CROSSOVER"), fixed={}, bounds={"fast": (5, 20)})
    genome = space.sample(rng)            # (fast, slow), every constraint holds
    space.params(genome)                  # {"fast": 7, "slow": 31}

A *genome* is a tuple of parameter values, one *gene* per searched parameter, in the type's
declaration order. Parameters fixed with `--param` are not genes. Each gene lives in the
parameter's declared range, or in the narrower one given with `--bound NAME=lo:hi`:

* int genes are integers in [low, high];
* float genes are multiples of a power-of-ten step, the largest giving at least 1,000 steps
  over the range (0.001 for a range of 3.5), kept within [low, high]. Equal values then
  have equal strategy ids and fitness-cache keys, and the printed parameters stay readable.

Constraints (`fast < slow`, `period is even`, ...) are always respected: every genome that
leaves this module satisfies all of them. A constraint written as a chain of searched
parameters (`a < b < c`, `a <= b`, `b > a`, the form `tradestream.strategies.strategy.less` and strategy
files produce) is *repaired*: the chain's values are sorted, then pushed apart by one step
where the relation is strict, within each gene's bounds. A genome that still breaks a
constraint (or one of another form) is rejected, and callers resample (`sample`) or fall back
to a valid parent (see :mod:`tradestream.optimize.ga`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tradestream.strategies.errors import StrategyError
from tradestream.strategies.params import ParamSpec, ParamValue, resolve_params
from tradestream.strategies.strategy import Strategy, StrategyType

Genome = tuple[ParamValue, ...]
MAX_SAMPLE_TRIES = 1_000
_OPERATOR = re.compile(r"\s*(<=|<|>=|>)\s*")


def float_step(low: float, high: float) -> float:
    """The power-of-ten step with at least 1,000 steps across [low, high] (1.0 if empty)."""
    span = high - low
    if not span > 0:
        return 1.0
    return 10.0 ** math.floor(math.log10(span / 1_000))


@dataclass(frozen=True)
class Gene:
    """One searched parameter: its kind, inclusive search range and resolution."""

    name: str
    kind: str  # "int" | "float"
    low: ParamValue
    high: ParamValue
    step: ParamValue

    @classmethod
    def of(cls, spec: ParamSpec, low: ParamValue, high: ParamValue) -> Gene:
        if spec.kind == "int":
            return cls(spec.name, "int", int(low), int(high), 1)
        return cls(spec.name, "float", float(low), float(high), float_step(low, high))

    @property
    def span(self) -> float:
        return float(self.high - self.low)

    def snap(self, value: float) -> ParamValue:
        """`value` clipped into the range and rounded to the gene's resolution."""
        if self.kind == "int":
            return int(min(max(round(value), self.low), self.high))
        decimals = max(0, -round(math.log10(self.step)))
        snapped = round(round(value / self.step) * self.step, decimals)
        return float(min(max(snapped, self.low), self.high))

    def uniform(self, rng: np.random.Generator) -> ParamValue:
        """A value drawn uniformly from the range."""
        if self.kind == "int":
            return int(rng.integers(self.low, self.high + 1))
        return self.snap(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class _Chain:
    """A constraint `g0 OP g1 OP ...` over genes, OP all `<`/`<=` (ascending gene order)."""

    genes: tuple[int, ...]
    strict: bool


def _parse_chain(text: str, index: Mapping[str, int]) -> _Chain | None:
    parts = _OPERATOR.split(text.strip())
    names, ops = parts[0::2], parts[1::2]
    if len(names) < 2 or any(n not in index for n in names):
        return None
    if all(op in ("<", "<=") for op in ops):
        order = names
    elif all(op in (">", ">=") for op in ops):
        order = names[::-1]
    else:
        return None
    return _Chain(tuple(index[n] for n in order), strict=any(op in ("<", ">") for op in ops))


@dataclass(frozen=True)
class SearchSpace:
    """The genes of one strategy type, its fixed parameters and constraint repair.

    Attributes:
        stype: the strategy type searched.
        genes: the searched parameters, in declaration order.
        fixed: parameters held at one value (`--param`), by name.
    """

    stype: StrategyType
    genes: tuple[Gene, ...]
    fixed: Mapping[str, ParamValue] = field(default_factory=dict)
    _chains: tuple[_Chain, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {gene.name: i for i, gene in enumerate(self.genes)}
        chains = (_parse_chain(c.text, index) for c in self.stype.constraints)
        object.__setattr__(self, "_chains", tuple(c for c in chains if c is not None))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(gene.name for gene in self.genes)

    def params(self, genome: Sequence[ParamValue]) -> dict[str, ParamValue]:
        """Every parameter of the type: the fixed ones and the genome's, by name."""
        values = {**self.fixed, **dict(zip(self.names, genome, strict=True))}
        return {spec.name: values[spec.name] for spec in self.stype.params}

    def valid(self, genome: Sequence[ParamValue]) -> bool:
        """Whether every gene is in range and every constraint of the type holds."""
        for gene, value in zip(self.genes, genome, strict=True):
            if not gene.low <= value <= gene.high:
                return False
        params = self.params(genome)
        return all(c.check(params) for c in self.stype.constraints)

    def build(self, genome: Sequence[ParamValue]) -> Strategy:
        """The strategy of a genome (validated by the strategy type)."""
        return self.stype.build(self.params(genome))

    def snap(self, values: Sequence[float]) -> Genome:
        """Values clipped into range and rounded to each gene's resolution."""
        return tuple(gene.snap(v) for gene, v in zip(self.genes, values, strict=True))

    def repair(self, values: Sequence[float]) -> Genome | None:
        """The nearest valid genome by chain repair (module docstring), or None."""
        genome = list(self.snap(values))
        for chain in self._chains:
            self._repair_chain(genome, chain)
        result = tuple(genome)
        return result if self.valid(result) else None

    def _repair_chain(self, genome: list[ParamValue], chain: _Chain) -> None:
        genes = [self.genes[i] for i in chain.genes]
        values = sorted(genome[i] for i in chain.genes)
        values = [gene.snap(v) for gene, v in zip(genes, values, strict=True)]
        for j in range(1, len(values)):  # push up: each above the previous
            gap = genes[j].step if chain.strict else 0
            if values[j] < values[j - 1] + gap:
                values[j] = genes[j].snap(values[j - 1] + gap)
        for j in range(len(values) - 2, -1, -1):  # pull down from the top when clipped
            gap = genes[j + 1].step if chain.strict else 0
            if values[j] > values[j + 1] - gap:
                values[j] = genes[j].snap(values[j + 1] - gap)
        for i, value in zip(chain.genes, values, strict=True):
            genome[i] = value

    def random(self, rng: np.random.Generator) -> Genome:
        """Uniform values for every gene (constraints not enforced)."""
        return tuple(gene.uniform(rng) for gene in self.genes)

    def sample(self, rng: np.random.Generator, tries: int = MAX_SAMPLE_TRIES) -> Genome:
        """A random valid genome: uniform draws, repaired, resampled until one is valid.

        Raises:
            ValueError: no valid genome after `tries` draws (constraints too tight).
        """
        for _ in range(tries):
            genome = self.repair(self.random(rng))
            if genome is not None:
                return genome
        raise ValueError(
            f"{self.stype.name}: no parameter set within the bounds satisfies "
            f"{' and '.join(c.text for c in self.stype.constraints)} ({self.describe()})"
        )

    def default(self) -> Genome | None:
        """The type's default values as a genome, when valid within the bounds."""
        defaults = self.stype.defaults()
        genome = tuple(defaults[gene.name] for gene in self.genes)
        if not self.valid(genome):
            return None
        return self.snap(genome) if self.valid(self.snap(genome)) else None

    def describe(self) -> str:
        """`fast in [2, 50], slow in [5, 200]` (and the fixed values)."""
        parts = [f"{g.name} in [{g.low}, {g.high}]" for g in self.genes]
        parts += [f"{name}={value}" for name, value in self.fixed.items()]
        return ", ".join(parts) or "no parameters"


def parse_bound(text: str) -> tuple[str, float, float]:
    """`NAME=lo:hi` -> (name, lo, hi).

    Raises:
        ValueError: malformed text, non-numeric or non-finite values, or lo > hi.
    """
    name, sep, spec = text.partition("=")
    low_text, colon, high_text = spec.partition(":")
    if not sep or not colon or not name.strip():
        raise ValueError(f"--bound needs NAME=LOW:HIGH, got {text!r}")
    try:
        low, high = float(low_text), float(high_text)
    except ValueError:
        raise ValueError(f"--bound {text}: LOW and HIGH must be numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"--bound {text}: LOW and HIGH must be finite")
    if low > high:
        raise ValueError(f"--bound {text}: LOW is above HIGH")
    return name.strip(), low, high


def make_space(
    stype: StrategyType,
    fixed: Mapping[str, object] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> SearchSpace:
    """The search space of a strategy type.

    Args:
        stype: the strategy type.
        fixed: parameters not searched (`--param`), checked against their declarations.
        bounds: narrower search ranges by parameter name (`--bound`); each must lie within
            the declared range (ints: integral values).

    Returns:
        The SearchSpace; a valid genome exists (checked by sampling).

    Raises:
        ValueError: unknown names, a bound outside the declared range or on a fixed
            parameter, invalid fixed values, or constraints no genome can satisfy.
    """
    fixed = dict(fixed or {})
    bounds = dict(bounds or {})
    specs = {spec.name: spec for spec in stype.params}
    try:
        fixed = {k: v for k, v in resolve_params(stype.params, fixed).items() if k in fixed}
    except StrategyError as exc:
        raise ValueError(f"{stype.name}: {exc}") from None
    for name in bounds:
        if name not in specs:
            raise ValueError(
                f"--bound {name}: {stype.name} has no parameter {name!r}; "
                f"its parameters are {', '.join(specs) or 'none'}"
            )
        if name in fixed:
            raise ValueError(f"{name} is given both as --param and as --bound")
    genes = []
    for spec in stype.params:
        if spec.name in fixed:
            continue
        low, high = bounds.get(spec.name, (spec.low, spec.high))
        if not spec.low <= low <= high <= spec.high:
            raise ValueError(
                f"--bound {spec.name}={low:g}:{high:g} is outside the declared range "
                f"[{spec.low}, {spec.high}] of {stype.name}"
            )
        if spec.kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
            raise ValueError(f"--bound {spec.name}: {spec.name} is an integer parameter")
        genes.append(Gene.of(spec, low, high))
    space = SearchSpace(stype, tuple(genes), fixed)
    space.sample(np.random.default_rng(0))  # fail now, with the bounds, if nothing fits
    return space
