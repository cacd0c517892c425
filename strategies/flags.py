"""The strategy flags `--strategy NAME [--param k=v ...]`: encoded as option items, decoded typed.

Pipeline options travel to the runner as JSON, so `--strategy` and `--param` share one list
of plain strings, in flag order: `"strategy:NAME"` and `"param:K=V"` (`strategy_item` and
`param_item` are the argparse types that write them). `decode_strategy_flags` reads that list
back as `[(TYPE, {name: value})]`, each value typed by the parameter its strategy type
declares (`int`, `float`, else the text), so `fast=5` and `k=2.5` mean what the type says
wherever the flags are read (realtime, backtest, optimize).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from tradestream.strategies.errors import StrategyError


def strategy_item(text: str) -> str:
    """argparse type of --strategy: the option item `strategy:NAME`."""
    return "strategy:" + text.strip()


def param_item(text: str) -> str:
    """argparse type of --param: the option item `param:NAME=VALUE`."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return "param:" + text.strip()


def coerce_params(type_name: str, raw: Mapping[str, str]) -> dict[str, int | float | str]:
    """Flag strings -> values typed by the strategy type's declared parameters.

    Unknown types and names are passed through unchanged so that the library reports them.

    Raises:
        ValueError: a value that is not of its parameter's kind (the message says which).
    """
    from tradestream.strategies import library

    try:
        kinds = {spec.name: spec.kind for spec in library.get(type_name).params}
    except StrategyError:
        return dict(raw)
    typed: dict[str, int | float | str] = {}
    for name, text in raw.items():
        kind = kinds.get(name)
        try:
            if kind == "int":
                typed[name] = int(text)
            elif kind == "float":
                typed[name] = float(text)
            else:
                typed[name] = text
        except ValueError:
            what = "an integer" if kind == "int" else "a number"
            raise ValueError(
                f"{type_name}: parameter {name!r} must be {what}, got {text!r}"
            ) from None
    return typed


def _item(item: str | tuple[str, str]) -> tuple[str, str]:
    """An option item as (kind, text): "strategy:NAME" / "param:K=V", or a pair."""
    if isinstance(item, str):
        kind, _, text = item.partition(":")
        return kind, text
    return item[0], item[1]


def decode_strategy_flags(
    items: Sequence[str | tuple[str, str]] | None,
) -> list[tuple[str, dict[str, int | float | str]]]:
    """`StrategyOptions.strategy_spec` items -> [(TYPE, {param: typed value})] in flag order.

    Raises:
        ValueError: a --param before any --strategy, or a value not of its parameter's kind.
    """
    chosen: list[tuple[str, dict[str, str]]] = []
    for kind, text in map(_item, items or []):
        if kind == "strategy":
            chosen.append((text.upper(), {}))
        elif not chosen:
            raise ValueError(f"--param {text} must follow a --strategy")
        else:
            name, _, value = text.partition("=")
            chosen[-1][1][name.strip()] = value.strip()
    return [(name, coerce_params(name, raw)) for name, raw in chosen]
