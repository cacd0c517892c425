"""Strategy files (``--strategies FILE``): library strategies with chosen values, strategies of
your own with the same node vocabulary as the library, or an optimizer result.

    load_strategy_types(path)    # [(StrategyType, values)]: backtest, optimize (one loader)
    load_strategy_file(path)     # [Strategy], each type built with its values: realtime

A YAML (``.yaml``/``.yml``) or JSON file holds a list of strategies under ``strategies``. An
entry with only a ``name`` (and optionally ``values``) is a library strategy (``tradestream
strategies list``; the name in any letter case)::

    strategies:
      - name: SMA_CROSSOVER
        values: {fast: 5, slow: 20}  # over the library's defaults; optional

An entry of your own declares its parameters and its ``entry`` and ``exit`` rules::

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
        order:                       # optional: how its entries (BUY signals) are executed
          type: limit                # market | limit | stop
          price: {kind: sub, inputs: [close, {kind: mul, inputs: [0.5, atr]}]}
          time_in_force: 3           # candles after the signal's it may fill in
          stop: {kind: sub, inputs: [close, {kind: mul, inputs: [2, atr]}]}
          take_profit: {kind: add, inputs: [close, {kind: mul, inputs: [3, atr]}]}

(with a node ``atr: {kind: atr, inputs: [high, low, close], params: {period: 14}}``). The
order's nodes are read at the signal's candle; each signal carries them (``Signal.order``).

``confidence`` (optional) is a value node read at each signal's candle, clipped to [0, 1],
as the signal's confidence (without it, 1).

An input is a candle field (``close``) or an order-book field (``book_imbalance``, ...;
level-2 data must come with the candles), a named node, a number (a constant) or an inline node
mapping; a parameter value is a number or ``$param``. A node with an ``interval`` (``15m``,
``1h``, ``1d``; a number is seconds) is computed, with everything it reads, on candles of that
interval and seen by the strategy's own candles only once each such candle has closed
(multi-timeframe; the candle interval must divide it)::

        nodes:
          trend_up: {kind: above, inputs: [close, {kind: ema, inputs: [close],
                     params: {period: 50}}], interval: 1h}
          entry_cross: {kind: crosses_above, inputs: [close, {kind: sma, inputs: [close],
                        params: {period: 20}}]}
        entry: {kind: and, inputs: [entry_cross, trend_up]}
 Problems (unknown node kind, wrong arity,
missing or unknown parameter, undefined name, reference cycle) raise :class:`StrategyError`
naming the strategy and the node.

A JSON (or YAML) *list* is an optimizer result, ``tradestream optimize --output DIR``'s
``DIR/best.json``: entries ``{"strategy": TYPE, "params": {...}, ...}``, best first, each a
library type with its parameters (other keys are ignored; an entry whose ``params`` is null,
a set without a usable fitness, is skipped).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tradestream.market.durations import parse_duration_ms
from tradestream.strategies import library
from tradestream.strategies.candle_arrays import BOOK_FIELDS, FIELDS
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.graph import Node
from tradestream.strategies.models import ModelRef, check_features, load_model
from tradestream.strategies.nodes import at_interval, const, model_node
from tradestream.strategies.params import ParamSpec
from tradestream.strategies.strategy import Constraint, OrderSpec, Strategy, StrategyType

# Models loaded by this process, by directory: a strategy built many times (the optimizer)
# loads its model once.
_MODELS: dict[Path, ModelRef] = {}
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
    """Loads a strategy file or an optimizer result into ``(StrategyType, values)`` pairs.

    Raises:
        StrategyError: the file is not UTF-8, not valid YAML/JSON, or not a strategy file or
            optimizer result (the message names the file and the entry).
        OSError: the file cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise StrategyError(f"{path}: not UTF-8 text: {error}") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, RecursionError) as error:
        raise StrategyError(f"{path}: not valid {path.suffix[1:] or 'YAML'}: {error}") from None
    if isinstance(document, list):
        return parse_optimizer_result(document, source=str(path))
    return parse_document(document, source=str(path))


def parse_optimizer_result(
    entries: list, source: str = "<document>"
) -> list[tuple[StrategyType, dict]]:
    """Parses an optimizer result (best.json's list, see the module docstring)."""
    out = []
    for i, entry in enumerate(entries):
        where = f"{source}: [{i}]"
        if isinstance(entry, Mapping) and "params" in entry and entry["params"] is None:
            continue  # written for a set without a usable fitness: nothing to run
        if not (
            isinstance(entry, Mapping)
            and isinstance(entry.get("strategy"), str)
            and isinstance(entry.get("params"), Mapping)
        ):
            raise StrategyError(
                f"{where}: a JSON list must be an optimizer result (best.json): entries with "
                "a 'strategy' name and a 'params' mapping"
            )
        if isinstance(entry.get("strategy_file"), str):
            out.append(_file_entry(entry["strategy_file"], entry["strategy"], entry["params"],
                                   where))  # fmt: skip
            continue
        out.append(_library_entry(entry["strategy"], entry["params"], where, _BEST_OWN))
    if not out:
        raise StrategyError(f"{source}: an optimizer result (best.json) with no parameter set")
    return out


def _file_entry(path: str, name: str, params: Any, where: str) -> tuple[StrategyType, dict]:
    """An optimizer result's set of a strategy of one's own: its type from the strategy file
    the optimizer read (``strategy_file``), built with the set's parameters."""
    try:
        types = load_strategy_types(path)
    except OSError as error:
        raise StrategyError(f"{where}: strategy_file {path}: {error}") from None
    for stype, _ in types:
        if stype.name == name:
            chosen = dict(_mapping(params, "'params' must be a mapping", where))
            try:
                stype.build(chosen)
            except StrategyError as error:
                raise StrategyError(f"{where} ({name}): {error}") from None
            return stype, chosen
    raise StrategyError(f"{where}: {path} defines no strategy {name!r}")


_FILE_OWN = "a strategy of your own needs 'entry' and 'exit' rules (and 'params', 'nodes')"
_BEST_OWN = "for a strategy of your own, give its strategy file with these params as its 'values'"


def _library_entry(
    name: str, values: Any, where: str, own: str = _FILE_OWN
) -> tuple[StrategyType, dict]:
    """A library type and its values, checked now so the error names the entry.

    Args:
        name: the library type's name, in any letter case.
        values: its parameter values (over the defaults), or None.
        where: the entry, for messages.
        own: what to do instead when `name` is not a library type.
    """
    try:
        stype = library.get(name)  # any letter case
    except StrategyError:
        raise StrategyError(
            f"{where}: {name!r} is not a library strategy (see `tradestream strategies list`); "
            f"{own}"
        ) from None
    chosen = dict(_mapping(values, "'values' must be a mapping of param -> value", where))
    try:
        stype.build(chosen)
    except StrategyError as error:
        raise StrategyError(f"{where} ({stype.name}): {error}") from None
    return stype, chosen


def parse_document(document: Any, source: str = "<document>") -> list[tuple[StrategyType, dict]]:
    """Parses an already-loaded document (dict with a ``strategies`` list)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("strategies"), list):
        raise StrategyError(f"{source}: expected a mapping with a 'strategies' list")
    file = Path(source) if source != "<document>" else None
    return [_parse_strategy(entry, f"{source}: strategies[{i}]", file)
            for i, entry in enumerate(document["strategies"])]  # fmt: skip


def _parse_strategy(entry: Any, where: str, file: Path | None = None) -> tuple[StrategyType, dict]:
    base = file.parent if file is not None else Path(".")
    if not isinstance(entry, Mapping):
        raise StrategyError(f"{where}: expected a mapping")
    unknown = set(entry) - {"name", "description", "params", "constraints", "nodes", "entry",
                            "exit", "order", "confidence", "values"}  # fmt: skip
    if unknown:
        raise StrategyError(f"{where}: unknown keys {sorted(unknown)}")
    if "name" in entry and isinstance(entry["name"], str) and set(entry) <= {"name", "values"}:
        return _library_entry(entry["name"], entry.get("values"), where)
    if "name" not in entry:
        raise StrategyError(f"{where}: missing 'name'")
    for key in ("entry", "exit"):
        if key not in entry:
            raise StrategyError(
                f"{where}: missing '{key}': a strategy of your own needs 'entry' and 'exit' "
                "rules; a library strategy is an entry with only 'name' and 'values'"
            )
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
    clash = set(named) & (set(FIELDS) | set(BOOK_FIELDS))
    if clash:
        raise StrategyError(f"{where}: node names {sorted(clash)} shadow candle fields")

    order = _mapping(entry.get("order"), "'order' must be a mapping", where)
    unknown_order = set(order) - {"type", "price", "time_in_force", "stop", "take_profit"}
    if unknown_order:
        raise StrategyError(f"{where}: order: unknown keys {sorted(unknown_order)}")

    def rules(params: Mapping[str, Any]) -> tuple:
        builder = _GraphBuilder(named, params, where, base)
        built = builder.build(entry["entry"], "entry"), builder.build(entry["exit"], "exit")
        confidence = None
        if entry.get("confidence") is not None:
            confidence = builder.build(entry["confidence"], "confidence")
        if not order:
            return (*built, None, confidence)
        nodes = {
            k: builder.build(order[k], f"order.{k}")
            for k in ("price", "stop", "take_profit")
            if k in order
        }
        try:
            spec = OrderSpec(
                type=str(order.get("type", "market")),
                time_in_force=order.get("time_in_force", 0),
                **nodes,
            )
        except StrategyError as error:
            raise StrategyError(f"{where}: {error}") from None
        return (*built, spec, confidence)

    source = str(file.resolve()) if file is not None else ""
    stype = StrategyType(name, description, specs, rules, constraints, source)
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
    def __init__(
        self, named: Mapping[str, Any], params: Mapping[str, Any], where: str, base: Path
    ) -> None:
        self.named = named
        self.params = params
        self.where = where
        self.base = base  # model directories are relative to the strategy file
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
        unknown = set(raw) - {"kind", "inputs", "params", "interval"}
        if unknown:
            raise StrategyError(f"{self.where}: {path}: unknown keys {sorted(unknown)}")
        if "interval" in raw:
            seconds = self._interval(raw["interval"], path)
            inner = {k: v for k, v in raw.items() if k != "interval"}
            return at_interval(self.build(inner, path), seconds)
        inputs = raw.get("inputs") or []
        if not isinstance(inputs, list):
            raise StrategyError(f"{self.where}: {path}: 'inputs' must be a list")
        children = tuple(self.build(x, f"{path}.inputs[{i}]") for i, x in enumerate(inputs))
        given = _mapping(raw.get("params"), f"{path}: 'params' must be a mapping", self.where)
        if raw["kind"] == "model":
            return self._model(children, given, path)
        params = tuple((k, self._value(v, path)) for k, v in given.items())
        try:
            return Node(str(raw["kind"]), children, params)
        except StrategyError as error:
            raise StrategyError(f"{self.where}: {path}: {error}") from None

    def _reference(self, name: str, path: str) -> Node:
        if name in FIELDS or name in BOOK_FIELDS:
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

    def _model(self, inputs: tuple[Node, ...], given: Mapping, path: str) -> Node:
        """A ``model`` node: ``params: {file: DIR}`` (a `tradestream train` output directory,
        relative to the strategy file), its inputs the features it was trained on."""
        if set(given) != {"file"} or not isinstance(given["file"], str):
            raise StrategyError(
                f"{self.where}: {path}: a model node takes one parameter, file: DIR "
                "(a `tradestream train --output DIR` directory)"
            )
        directory = Path(given["file"])
        if not directory.is_absolute():
            directory = self.base / directory
        ref = _MODELS.get(directory.resolve())
        if ref is None:
            ref = _MODELS[directory.resolve()] = load_model(directory)
        check_features(ref, [str(x) for x in inputs], f"{self.where}: {path}")
        try:
            return model_node(ref, *inputs)
        except StrategyError as error:
            raise StrategyError(f"{self.where}: {path}: {error}") from None

    def _interval(self, raw: Any, path: str) -> int:
        """A node's ``interval`` (``1h``, ``15m``, ``$param``) in whole seconds."""
        raw = self._value(raw, path)
        try:
            if isinstance(raw, bool) or not isinstance(raw, str | int):
                raise ValueError(f"invalid duration {raw!r}")
            ms = parse_duration_ms(raw if isinstance(raw, str) else f"{raw}s")
        except ValueError as error:
            raise StrategyError(
                f"{self.where}: {path}: interval: {error} (a bare number is seconds)"
            ) from None
        if ms % 1000:
            raise StrategyError(f"{self.where}: {path}: interval must be whole seconds, got {raw}")
        return ms // 1000

    def _value(self, raw: Any, path: str) -> Any:
        if isinstance(raw, str) and raw.startswith("$"):
            key = raw[1:]
            if key not in self.params:
                raise StrategyError(f"{self.where}: {path}: unknown parameter reference {raw}")
            return self.params[key]
        return raw
