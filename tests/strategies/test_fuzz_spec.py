"""Fuzzing strategy files: a document is refused with one StrategyError naming where it is
wrong, never another exception (a `--strategies FILE` user sees one clear message); a document
that is accepted means what it says: its strategies build within their declared bounds and
constraints, evaluate on candles, and parse the same after a JSON or YAML round trip."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.strategies.series import random_candles
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.spec import load_strategy_file, load_strategy_types, parse_document
from tradestream.strategies.vectorized import evaluate_vectorized

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = {
    "strategies": [
        {
            "name": "MY_CROSS",
            "description": "fast over slow",
            "params": {
                "fast": {"kind": "int", "low": 2, "high": 50, "default": 5},
                "slow": {"kind": "int", "low": 3, "high": 200, "default": 20},
            },
            "constraints": ["fast < slow"],
            "nodes": {
                "f": {"kind": "sma", "inputs": ["close"], "params": {"period": "$fast"}},
                "s": {"kind": "sma", "inputs": ["close"], "params": {"period": "$slow"}},
            },
            "entry": {"kind": "crosses_above", "inputs": ["f", "s"]},
            "exit": {"kind": "crosses_below", "inputs": ["f", "s"]},
            "values": {"fast": 4},
        }
    ]
}

junk = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**20), 10**20),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(["$fast", "$nope", "close", "f", "sma", "int", "float", "fast < slow"]),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a nested dict/list document."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


@st.composite
def mutated_documents(draw) -> object:
    """The valid document with one to three values replaced by junk or deleted."""
    doc = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(junk)
    return doc


def _parsed_means_what_it_says(document: dict, built: list) -> None:
    """The checks of an accepted document (see the module docstring)."""
    entries = document["strategies"]
    assert len(built) == len(entries)
    candles = random_candles(5, 80, integer=True, flat=True)
    for (stype, values), entry in zip(built, entries, strict=True):
        assert stype.name == entry["name"] and isinstance(stype.name, str) and stype.name
        strategy = stype.build(values)
        assert strategy.strategy_id.startswith(f"{stype.name}(")
        assert stype.build(values).strategy_id == strategy.strategy_id  # deterministic
        for spec in stype.params:
            value = strategy.params[spec.name]
            assert spec.low <= value <= spec.high
            assert isinstance(value, int) if spec.kind == "int" else isinstance(value, float)
        for name, value in dict(values).items():
            assert strategy.params[name] == value
        assert all(constraint.check(strategy.params) for constraint in stype.constraints)
        actions = evaluate_vectorized([strategy], candles)[strategy.strategy_id]
        assert not actions[: strategy.warmup].any()
    ids = [stype.build(values).strategy_id for stype, values in built]
    for dump, load in ((json.dumps, json.loads), (yaml.safe_dump, yaml.safe_load)):
        again = parse_document(load(dump(document)))
        assert [stype.build(values).strategy_id for stype, values in again] == ids


def _parse(document: object) -> None:
    """Accepted documents must validate; refused ones raise StrategyError naming the place."""
    try:
        built = parse_document(document)
    except StrategyError as exc:
        message = str(exc)
        assert message.startswith("<document>: ") and len(message) > len("<document>: ")
        if isinstance(document, dict) and isinstance(document.get("strategies"), list):
            assert message.startswith("<document>: strategies[0]"), message
        return
    _parsed_means_what_it_says(document, built)


@FUZZ
@given(mutated_documents())
def test_fuzz_parse_document_mutations_build_valid_strategies_or_raise_strategy_error(document):
    _parse(document)


@FUZZ
@given(junk)
def test_fuzz_parse_document_junk_raises_strategy_error(document):
    # Junk keys are at most 6 characters: it never has the 'strategies' list it needs.
    with pytest.raises(StrategyError, match=r"^<document>: expected a mapping with a 'strategies'"):
        parse_document(document)


def test_fuzz_parse_document_the_valid_document_means_what_it_says():
    built = parse_document(copy.deepcopy(VALID))
    _parsed_means_what_it_says(VALID, built)
    assert [stype.build(values).strategy_id for stype, values in built] == [
        "MY_CROSS(fast=4,slow=20)"
    ]


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=100),
        mutated_documents().map(lambda d: json.dumps(d).encode()),
        mutated_documents().map(lambda d: yaml.safe_dump(d).encode()),
    ),
    st.sampled_from(["s.yaml", "s.json"]),
)
def test_fuzz_strategy_file_bytes_load_or_raise_strategy_error(content, name):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        try:
            load_strategy_types(path)
        except StrategyError as exc:
            assert name in str(exc) or "strategies[" in str(exc)


best_entries = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"strategy": st.sampled_from(["SMA_CROSSOVER", "NOPE"]) | junk, "params": junk}
        ),
        junk,
    ),
    max_size=3,
)


@FUZZ
@given(best_entries)
def test_fuzz_best_json_loads_or_raises_value_error(entries):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "best.json"
        path.write_text(json.dumps(entries))
        try:
            assert load_strategy_file(path)
        except ValueError as exc:
            assert str(exc)


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda s: s.update(params=["fast"]), "'params' must be a mapping"),
        (lambda s: s.update(constraints=5), "'constraints' must be a list"),
        (lambda s: s.update(values=7), "'values' must be a mapping"),
        (lambda s: s.update(values="ab"), "'values' must be a mapping"),
        (lambda s: s["nodes"]["f"].update(params=[1]), "'params' must be a mapping"),
        (lambda s: s["params"]["fast"].update(low="a", high="z", default="m"), "finite number"),
        (lambda s: s["params"]["fast"].update(low=[1]), "finite number"),
        (lambda s: s["nodes"]["f"]["params"].update(period=float("inf")), "period"),
        (lambda s: s["nodes"]["f"]["params"].update(period=float("nan")), "period"),
    ],
)
def test_fuzz_parse_document_wrong_types_raise_strategy_error(mutation, message):
    document = copy.deepcopy(VALID)
    mutation(document["strategies"][0])
    with pytest.raises(StrategyError, match=message):
        parse_document(document)


@pytest.mark.parametrize("name", [None, 5, 1.5, True, [1], {"a": 1}, "", "  "])
def test_fuzz_parse_document_name_not_text_raises_strategy_error(name):
    document = copy.deepcopy(VALID)
    document["strategies"][0]["name"] = name
    with pytest.raises(StrategyError, match=r"strategies\[0\].*'name' must be a non-empty string"):
        parse_document(document)


@pytest.mark.parametrize("description", [None, 5, [1], {"a": 1}])
def test_fuzz_parse_document_description_not_text_raises_strategy_error(description):
    document = copy.deepcopy(VALID)
    document["strategies"][0]["description"] = description
    with pytest.raises(StrategyError, match=r"'description' must be text"):
        parse_document(document)


def test_fuzz_strategy_file_not_utf8_raises_strategy_error(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"strategies: [\xff]")
    with pytest.raises(StrategyError, match="s.yaml"):
        load_strategy_types(path)


def test_fuzz_best_json_unhashable_strategy_name_raises_value_error(tmp_path):
    path = tmp_path / "best.json"
    path.write_text(json.dumps([{"strategy": ["SMA"], "params": {}}]))
    with pytest.raises(ValueError, match="strategy"):
        load_strategy_file(path)
