"""User-defined strategies from YAML or JSON files, with the same node vocabulary as the library.

A file holds a list of strategy types under ``strategies``::

    strategies:
      - name: MY_SMA_CROSSOVER
        description: BUY when SMA(fast) crosses above SMA(slow), SELL on the reverse.
        params:
          fast: {kind: int, low: 2, high: 100, default: 10, description: fast SMA period}
          slow: {kind: int, low: 3, high: 300, default: 30, description: slow SMA period}
        constraints: ["fast < slow"]
        nodes:                       # named nodes, referenced by name below
          fast_ma: {kind: sma, inputs: [close], params: {period: $fast}}
          slow_ma: {kind: sma, inputs: [close], params: {period: $slow}}
        entry: {kind: crosses_above, inputs: [fast_ma, slow_ma]}
        exit: {kind: crosses_below, inputs: [fast_ma, slow_ma]}
        values: {fast: 5}            # optional overrides of the defaults

An input is a candle field (``close``), a named node, a number (a constant) or an inline node
mapping; a parameter value is a number or ``$param``. Problems (unknown node kind, wrong arity,
missing or unknown parameter, undefined name, reference cycle) raise :class:`StrategyError`
naming the strategy and the node.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tradestream.strategies.candle_arrays import FIELDS
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import Node
from tradestream.strategies.nodes import const
from tradestream.strategies.params import ParamSpec
from tradestream.strategies.strategy import Constraint, Strategy, StrategyType

_CONSTRAINT = re.compile(r"^\s*(\w+)\s*(<=|<|>=|>)\s*(\w+)\s*$")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def load_strategy_file(path: str | Path) -> list[Strategy]:
    """Loads a YAML (``.yaml``/``.yml``) or JSON file and builds every strategy in it.

    Each strategy is built with its ``values`` over its parameter defaults.

    Raises:
        StrategyError: the file is malformed or describes an invalid strategy.
    """
    return [stype.build(values) for stype, values in load_strategy_types(path)]


def load_strategy_types(path: str | Path) -> list[tuple[StrategyType, dict[str, Any]]]:
    """Loads a strategy file into ``(StrategyType, values)`` pairs (for the optimizer)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise StrategyError(f"{path}: not UTF-8 text: {error}") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, RecursionError) as error:
        raise StrategyError(f"{path}: not valid {path.suffix[1:] or 'YAML'}: {error}") from None
    return parse_document(document, source=str(path))


def parse_document(document: Any, source: str = "<document>") -> list[tuple[StrategyType, dict]]:
    """Parses an already-loaded document (dict with a ``strategies`` list)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("strategies"), list):
        raise StrategyError(f"{source}: expected a mapping with a 'strategies' list")
    return [_parse_strategy(entry, f"{source}: strategies[{i}]")
            for i, entry in enumerate(document["strategies"])]  # fmt: skip


def _parse_strategy(entry: Any, where: str) -> tuple[StrategyType, dict]:
    if not isinstance(entry, Mapping):
        raise StrategyError(f"{where}: expected a mapping")
    unknown = set(entry) - {"name", "description", "params", "constraints", "nodes", "entry",
                            "exit", "values"}  # fmt: skip
    if unknown:
        raise StrategyError(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("name", "entry", "exit"):
        if key not in entry:
            raise StrategyError(f"{where}: missing '{key}'")
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise StrategyError(f"{where}: 'name' must be a non-empty string, got {name!r}")
    where = f"{where} ({name})"
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise StrategyError(f"{where}: 'description' must be text, got {description!r}")
    params = _mapping(entry.get("params"), "'params' must be a mapping of name -> spec", where)
    specs = tuple(_param_spec(k, v, where) for k, v in params.items())
    texts = entry.get("constraints") or []
    if not isinstance(texts, list):
        raise StrategyError(f"{where}: 'constraints' must be a list such as ['fast < slow']")
    constraints = tuple(_constraint(text, specs, where) for text in texts)
    named = _mapping(entry.get("nodes"), "'nodes' must be a mapping of name -> node", where)
    clash = set(named) & set(FIELDS)
    if clash:
        raise StrategyError(f"{where}: node names {sorted(clash)} shadow candle fields")

    def rules(params: Mapping[str, Any]) -> tuple[Node, Node]:
        builder = _GraphBuilder(named, params, where)
        return builder.build(entry["entry"], "entry"), builder.build(entry["exit"], "exit")

    stype = StrategyType(name, description, specs, rules, constraints)
    values = dict(
        _mapping(entry.get("values"), "'values' must be a mapping of param -> value", where)
    )
    try:
        stype.build(values)  # validate the graph now, with a clear error
    except StrategyError as error:
        raise StrategyError(f"{where}: {error}") from None
    return stype, values


def _mapping(raw: Any, problem: str, where: str) -> Mapping:
    """``raw`` when it is a mapping, {} when absent or empty, else a StrategyError."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise StrategyError(f"{where}: {problem}")
    return raw


def _param_spec(name: str, raw: Any, where: str) -> ParamSpec:
    if not isinstance(raw, Mapping):
        raise StrategyError(f"{where}: param '{name}' must be a mapping")
    missing = [k for k in ("kind", "low", "high", "default") if k not in raw]
    if missing:
        raise StrategyError(f"{where}: param '{name}' is missing {missing}")
    try:
        return ParamSpec(str(name), raw["kind"], raw["low"], raw["high"], raw["default"],
                         str(raw.get("description", "")))  # fmt: skip
    except StrategyError as error:
        raise StrategyError(f"{where}: {error}") from None


def _constraint(text: str, specs: tuple[ParamSpec, ...], where: str) -> Constraint:
    match = _CONSTRAINT.match(str(text))
    names = {s.name for s in specs}
    if not match or match.group(1) not in names or match.group(3) not in names:
        raise StrategyError(f"{where}: constraint {text!r} must be 'param < param' (or <=, >, >=)")
    left, op, right = match.groups()
    return Constraint(text, lambda p: _OPS[op](p[left], p[right]))


class _GraphBuilder:
    def __init__(self, named: Mapping[str, Any], params: Mapping[str, Any], where: str) -> None:
        self.named = named
        self.params = params
        self.where = where
        self.done: dict[str, Node] = {}
        self.visiting: list[str] = []

    def build(self, raw: Any, path: str) -> Node:
        if isinstance(raw, bool):
            raise StrategyError(f"{self.where}: {path}: booleans are not inputs")
        if isinstance(raw, int | float):
            return const(raw)
        if isinstance(raw, str):
            return self._reference(raw, path)
        if not isinstance(raw, Mapping) or "kind" not in raw:
            raise StrategyError(f"{self.where}: {path}: expected a node mapping with 'kind'")
        unknown = set(raw) - {"kind", "inputs", "params"}
        if unknown:
            raise StrategyError(f"{self.where}: {path}: unknown keys {sorted(unknown)}")
        inputs = raw.get("inputs") or []
        if not isinstance(inputs, list):
            raise StrategyError(f"{self.where}: {path}: 'inputs' must be a list")
        children = tuple(self.build(x, f"{path}.inputs[{i}]") for i, x in enumerate(inputs))
        given = _mapping(raw.get("params"), f"{path}: 'params' must be a mapping", self.where)
        params = tuple((k, self._value(v, path)) for k, v in given.items())
        try:
            return Node(str(raw["kind"]), children, params)
        except StrategyError as error:
            raise StrategyError(f"{self.where}: {path}: {error}") from None

    def _reference(self, name: str, path: str) -> Node:
        if name in FIELDS:
            return Node(name)
        if name in self.done:
            return self.done[name]
        if name not in self.named:
            raise StrategyError(f"{self.where}: {path}: undefined node or field {name!r}")
        if name in self.visiting:
            cycle = " -> ".join([*self.visiting[self.visiting.index(name) :], name])
            raise StrategyError(f"{self.where}: reference cycle {cycle}")
        self.visiting.append(name)
        node = self.build(self.named[name], name)
        self.visiting.pop()
        self.done[name] = node
        return node

    def _value(self, raw: Any, path: str) -> Any:
        if isinstance(raw, str) and raw.startswith("$"):
            key = raw[1:]
            if key not in self.params:
                raise StrategyError(f"{self.where}: {path}: unknown parameter reference {raw}")
            return self.params[key]
        return raw
