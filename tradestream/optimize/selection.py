"""Which search spaces a run explores, from the strategy flags and `--bound`.

* `--strategy NAME` (repeatable), or `--strategy all` for every library type; a `--param
  k=v` after a `--strategy` fixes that parameter (it is not searched);
* `--strategies FILE`: the strategy types of a YAML/JSON strategy file, or of an optimizer
  result (`best.json`, each type once) (their `values` are not fixed: every declared
  parameter is searched);
* `--bound NAME=lo:hi` (repeatable) narrows NAME's range in every selected type that
  declares it; a name no selected type declares, a range outside a declaration, or a bound
  on a fixed parameter is an error.
"""

from __future__ import annotations

from collections.abc import Sequence

from tradestream.optimize.genome import SearchSpace, make_space, parse_bound
from tradestream.strategies.errors import StrategyError
from tradestream.strategies.flags import decode_strategy_flags
from tradestream.strategies.strategy import StrategyType


def parse_bounds(texts: Sequence[str]) -> dict[str, tuple[float, float]]:
    """`--bound` flags -> name -> (lo, hi).

    Raises:
        ValueError: malformed, or a name given twice.
    """
    bounds: dict[str, tuple[float, float]] = {}
    for text in texts:
        name, low, high = parse_bound(text)
        if name in bounds:
            raise ValueError(f"--bound {name} is given twice")
        bounds[name] = (low, high)
    return bounds


def select_spaces(
    strategy_spec: Sequence[str | tuple[str, str]] | None,
    strategies_file: str | None,
    bound_texts: Sequence[str] = (),
) -> list[SearchSpace]:
    """The search spaces of a run (module docstring), one per strategy type.

    Raises:
        ValueError: nothing selected, an unknown type or parameter, a bad bound or fixed
            value, or a type whose constraints no parameter set satisfies.
    """
    from tradestream.strategies import library
    from tradestream.strategies.spec import load_strategy_types

    chosen: list[tuple[StrategyType, dict[str, object]]] = []
    try:
        for name, params in decode_strategy_flags(strategy_spec):
            if name == "ALL":
                if params:
                    raise ValueError("--param cannot follow --strategy all")
                chosen.extend((library.get(n), {}) for n in library.names())
            else:
                chosen.append((library.get(name), params))
        if strategies_file:
            from_file: list[StrategyType] = []
            for stype, _ in load_strategy_types(strategies_file):
                # best.json lists a type once per symbol and top set: search each type once
                if not any(stype is seen for seen in from_file):
                    from_file.append(stype)
            chosen.extend((stype, {}) for stype in from_file)
    except StrategyError as exc:
        raise ValueError(str(exc)) from None
    except OSError as exc:
        raise ValueError(f"--strategies {strategies_file}: {exc}") from None
    if not chosen:
        raise ValueError(
            "choose what to optimize with --strategy NAME (repeatable), --strategy all, "
            "or --strategies FILE"
        )
    bounds = parse_bounds(bound_texts)
    declared = {spec.name for stype, _ in chosen for spec in stype.params}
    unknown = sorted(set(bounds) - declared)
    if unknown:
        raise ValueError(
            f"--bound {unknown[0]}: no selected strategy type has a parameter {unknown[0]!r}"
        )
    spaces: dict[str, SearchSpace] = {}
    for stype, fixed in chosen:
        if stype.name in spaces:
            raise ValueError(f"strategy type {stype.name} is selected twice")
        names = {spec.name for spec in stype.params}
        own = {name: bound for name, bound in bounds.items() if name in names}
        spaces[stype.name] = make_space(stype, fixed, own)
    return list(spaces.values())
