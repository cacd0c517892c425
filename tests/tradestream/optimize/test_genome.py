"""Search spaces: genes within (narrowed) bounds, constraint repair, selection of types."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradestream.optimize.genome import Gene, float_step, make_space, parse_bound
from tradestream.optimize.selection import select_spaces
from tradestream.strategies import library

SMA = library.get("SMA_CROSSOVER")  # fast [2, 100] < slow [3, 300]
CONSTRAINED = ["SMA_CROSSOVER", "TRIPLE_EMA_CROSSOVER", "KST_OSCILLATOR", "PARABOLIC_SAR", "FRAMA"]


def test_genome_float_step_is_a_power_of_ten_with_at_least_1000_steps():
    assert float_step(0.5, 4.0) == pytest.approx(0.001)
    assert float_step(0.001, 0.2) == pytest.approx(0.0001)
    assert float_step(1.0, 49.0) == pytest.approx(0.01)
    assert float_step(2.0, 2.0) == 1.0


def test_genome_gene_snap_clips_and_rounds():
    ints = Gene("fast", "int", 2, 50, 1)
    assert ints.snap(1.2) == 2 and ints.snap(77) == 50 and ints.snap(9.6) == 10
    assert isinstance(ints.snap(9.6), int)
    floats = Gene("k", "float", 0.5, 4.0, 0.001)
    assert floats.snap(2.1234567) == 2.123
    assert floats.snap(9.0) == 4.0 and floats.snap(-1.0) == 0.5


def test_genome_bound_narrows_the_declared_range():
    space = make_space(SMA, bounds={"fast": (5, 20)})
    fast, slow = space.genes
    assert (fast.low, fast.high) == (5, 20)
    assert (slow.low, slow.high) == (3, 300)
    rng = np.random.default_rng(1)
    for _ in range(200):
        genome = space.sample(rng)
        assert 5 <= genome[0] <= 20 and genome[0] < genome[1]


@pytest.mark.parametrize(
    "bounds,message",
    [
        ({"fast": (1, 20)}, "outside the declared range"),
        ({"fast": (5, 101)}, "outside the declared range"),
        ({"fast": (5.5, 20)}, "integer parameter"),
        ({"speed": (5, 20)}, "has no parameter 'speed'"),
        ({"fast": (60, 100), "slow": (3, 50)}, "no parameter set within the bounds"),
    ],
)
def test_genome_bad_bounds_are_errors(bounds, message):
    with pytest.raises(ValueError, match=message):
        make_space(SMA, bounds=bounds)


def test_genome_parse_bound_checks_its_text():
    assert parse_bound("fast=5:20") == ("fast", 5.0, 20.0)
    for text in ("fast", "fast=5", "fast=a:b", "fast=9:3", "=1:2", "k=nan:1"):
        with pytest.raises(ValueError):
            parse_bound(text)


def test_genome_fixed_parameter_is_not_a_gene_and_cannot_be_bounded():
    space = make_space(SMA, fixed={"slow": 40})
    assert space.names == ("fast",)
    assert space.params((12,)) == {"fast": 12, "slow": 40}
    assert all(g[0] < 40 for g in (space.sample(np.random.default_rng(s)) for s in range(50)))
    with pytest.raises(ValueError, match="both as --param and as --bound"):
        make_space(SMA, fixed={"slow": 40}, bounds={"slow": (10, 20)})


def test_genome_repair_sorts_a_chain_and_separates_equal_values():
    space = make_space(SMA, bounds={"fast": (2, 50), "slow": (3, 50)})
    assert space.repair((40, 30)) == (30, 40)
    assert space.repair((30, 30)) == (30, 31)
    assert space.repair((50, 50)) == (49, 50)
    triple = make_space(library.get("TRIPLE_EMA_CROSSOVER"))  # short < medium < long
    repaired = triple.repair((30, 30, 10))
    assert repaired is not None and repaired[0] < repaired[1] < repaired[2]


def test_genome_non_chain_constraint_is_met_by_resampling():
    space = make_space(library.get("FRAMA"))  # "period is even"
    assert space.repair((15,)) is None
    rng = np.random.default_rng(3)
    assert all(space.sample(rng)[0] % 2 == 0 for _ in range(100))


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(CONSTRAINED),
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=6, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_genome_repair_and_sample_never_return_a_broken_genome(name, values, seed):
    space = make_space(library.get(name))
    repaired = space.repair(values[: len(space.genes)])
    for genome in (repaired, space.sample(np.random.default_rng(seed))):
        if genome is None:
            continue
        params = space.params(genome)
        assert all(c.check(params) for c in space.stype.constraints)
        for gene, value in zip(space.genes, genome, strict=True):
            assert gene.low <= value <= gene.high
            assert isinstance(value, int if gene.kind == "int" else float)
        space.build(genome)  # the strategy type accepts it


def test_genome_default_is_none_when_outside_narrowed_bounds():
    assert make_space(SMA).default() == (10, 30)
    assert make_space(SMA, bounds={"fast": (20, 40)}).default() is None


def test_selection_applies_bounds_to_every_type_that_declares_the_name():
    spaces = select_spaces(
        ["strategy:SMA_CROSSOVER", "strategy:AWESOME_OSCILLATOR", "strategy:SMA_RSI"],
        None,
        ["fast=5:20"],
    )
    by_name = {s.stype.name: s for s in spaces}
    assert by_name["SMA_CROSSOVER"].genes[0].high == 20
    assert by_name["AWESOME_OSCILLATOR"].genes[0].high == 20
    assert "fast" not in by_name["SMA_RSI"].names


def test_selection_errors_name_the_problem():
    with pytest.raises(ValueError, match="no selected strategy type"):
        select_spaces(["strategy:SMA_RSI"], None, ["fast=5:20"])
    with pytest.raises(ValueError, match="unknown strategy type"):
        select_spaces(["strategy:NOPE"], None, [])
    with pytest.raises(ValueError, match="choose what to optimize"):
        select_spaces([], None, [])
    with pytest.raises(ValueError, match="given twice"):
        select_spaces(["strategy:SMA_CROSSOVER"], None, ["fast=5:20", "fast=6:9"])


def test_selection_all_selects_every_library_type_and_param_fixes_a_gene():
    assert len(select_spaces(["strategy:all"], None, [])) == len(library.names())
    (space,) = select_spaces(["strategy:SMA_CROSSOVER", "param:slow=40"], None, [])
    assert space.names == ("fast",) and space.fixed == {"slow": 40}


def test_selection_searches_each_type_of_a_best_json_once(tmp_path):
    best = tmp_path / "best.json"
    best.write_text(
        '[{"strategy": "SMA_CROSSOVER", "symbol": "A", "params": {"fast": 9, "slow": 31}},'
        ' {"strategy": "SMA_CROSSOVER", "symbol": "B", "params": {"fast": 7, "slow": 40}},'
        ' {"strategy": "SMA_RSI", "symbol": "A", "params": {}}]'
    )
    spaces = select_spaces(None, str(best), [])
    assert [s.stype.name for s in spaces] == ["SMA_CROSSOVER", "SMA_RSI"]
    assert make_space(library.get("SMA_CROSSOVER")).names == spaces[0].names  # all searched
