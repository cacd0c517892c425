"""Parameter heatmaps: bins over the searched ranges, best fitness per cell, informative pairs."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from tradestream.reports.param_map import (
    MAX_BINS,
    MAX_PAIRS,
    make_axis,
    parameter_maps,
)


def _gene(name, low, high, kind="int"):
    return {"name": name, "kind": kind, "low": low, "high": high}


def _records(genomes, fitness, names):
    return [
        {"params": dict(zip(names, g, strict=True)), "fitness": f, "generation": 0}
        for g, f in zip(genomes, fitness, strict=True)
    ]


def _maps(page: str) -> list[tuple[str, str, str]]:
    """(x name, y name, svg) of each pair map of a page."""
    return [
        (x, y, svg)
        for svg in re.findall(r'<svg [^>]*aria-label="parameter map".*?</svg>', page)
        for x, y in re.findall(r'data-x="([^"]+)" data-y="([^"]+)"', svg)
    ]


def test_param_map_int_axis_has_a_bin_per_value_when_the_range_is_short():
    axis = make_axis(_gene("period", 3, 12), [3, 12])
    assert axis.bins == 10 and [axis.bin(v) for v in range(3, 13)] == list(range(10))
    assert axis.label(0) == "3" and axis.label(9) == "12"


def test_param_map_int_axis_bins_a_long_range_into_whole_numbers():
    axis = make_axis(_gene("slow", 5, 300), [])
    assert axis.bins <= MAX_BINS and axis.edges[0] == 5 and axis.edges[-1] == 301
    assert all(float(e).is_integer() for e in axis.edges)
    counts = np.bincount([axis.bin(v) for v in range(5, 301)], minlength=axis.bins)
    assert counts.sum() == 296 and counts.min() >= 1  # every value in exactly one bin
    assert axis.label(0) == "5–19" and axis.label(axis.bins - 1).endswith("–300")


def test_param_map_float_axis_spans_the_range_and_closes_the_last_bin():
    axis = make_axis(_gene("width", 0.5, 4.0, "float"), [0.5, 4.0])
    assert axis.bins == MAX_BINS and axis.edges[0] == 0.5 and axis.edges[-1] == 4.0
    assert axis.bin(0.5) == 0 and axis.bin(4.0) == MAX_BINS - 1
    assert axis.bin(0.5 + 3.5 / MAX_BINS) == 1


def test_param_map_cell_shows_the_best_fitness_and_count_of_its_genomes():
    genomes = [(3, 5), (3, 5.5), (4, 9), (4, 9.1), (12, 20)]
    records = _records(genomes, [1.0, 2.5, None, None, -3.0], ("a", "b"))
    genes = [_gene("a", 3, 12), _gene("b", 5.0, 25.0, "float")]
    page = parameter_maps({"genes": genes}, records)
    ((_, _, svg),) = _maps(page)
    cells = re.findall(r'data-i="(\d+)" data-j="(\d+)" data-n="(\d+)" data-best="([^"]+)"', svg)
    # b bins are 1 wide: (3, 5) and (3, 5.5) share a cell; (4, 9) and (4, 9.1) have no fitness.
    assert sorted(cells) == [
        ("0", "0", "2", "2.5"),
        ("1", "4", "2", "null"),
        ("9", "15", "1", "-3.0"),
    ]
    assert "2 without a finite fitness" in page and "colour legend" in page


def test_param_map_one_parameter_draws_fitness_against_it():
    records = _records([(p,) for p in (5, 9, 14, 30)], [0.5, 1.5, None, -1.0], ("period",))
    page = parameter_maps({"genes": [_gene("period", 2, 200)]}, records)
    assert 'aria-label="fitness by parameter"' in page and "parameter map" not in page
    points = re.findall(r'class="point" data-x="([^"]+)" data-fitness="([^"]+)"', page)
    assert sorted(points) == sorted(
        [("14.0", "null"), ("30.0", "-1.0"), ("5.0", "0.5"), ("9.0", "1.5")]
    )
    assert "period →" in page and "fitness →" in page
    # Generations counted from 1, as the optimizer's log counts them (the records say 0).
    assert "fitness 0.500 (generation 1)" in page


def test_param_map_many_parameters_show_the_most_informative_pairs_first():
    # Fitness depends on a and b only (an interaction); c, d, e, f are noise-free bystanders.
    rng = np.random.default_rng(0)
    names = ("c", "a", "d", "b", "e", "f")
    genomes = [tuple(int(v) for v in rng.integers(1, 21, size=6)) for _ in range(400)]
    fitness = [float(g[1] * g[3]) + rng.normal(0, 0.1) for g in genomes]
    genes = [_gene(n, 1, 20) for n in names]
    page = parameter_maps({"genes": genes}, _records(genomes, fitness, names))
    maps = _maps(page)
    assert len(maps) == MAX_PAIRS < math.comb(6, 2)
    assert (maps[0][0], maps[0][1]) == ("a", "b")
    assert f"the {MAX_PAIRS} most informative of 15" in page
    shares = [int(s) for s in re.findall(r"× \w: (\d+)%<", page)]
    assert shares == sorted(shares, reverse=True) and shares[0] > 90


@pytest.mark.parametrize("count", [2, 3])
def test_param_map_fewer_pairs_than_the_cap_are_all_shown(count):
    names = tuple("xyz"[:count])
    genomes = list(itertools.product(range(1, 5), repeat=count))
    records = _records(genomes, [float(sum(g)) for g in genomes], names)
    page = parameter_maps({"genes": [_gene(n, 1, 4) for n in names]}, records)
    pairs = {(x, y) for x, y, _ in _maps(page)}
    assert pairs == set(itertools.combinations(names, 2))
    assert "most informative of" not in page


def test_param_map_without_genes_says_so():
    records = _records([()], [1.0], ())
    assert "No numeric parameter is searched" in parameter_maps({"genes": []}, records)
    assert "evaluated no genome" in parameter_maps({"genes": []}, [])
