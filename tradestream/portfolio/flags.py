"""The command-line flags of PortfolioConfig, declared once for `paper run` and
`backtest --portfolio` (same names, same meaning).

    add_portfolio_flags(group, skip={"--fee"})   # flags set `cfg_FIELD`; not given: None
    overrides = given_settings(args)             # {field: value} of the flags given
    config = PortfolioConfig.model_validate({**stored_or_defaults, **overrides})

A command that already has a flag of the same name and meaning (backtest's `--fee`) skips it
here and maps its own value.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import Any

from tradestream.cli_types import duration_ms, finite_float, integer, on_off_flag

# flag -> (PortfolioConfig field, type, help); defaults come from PortfolioConfig (or what a
# command stored).
_VALUE_FLAGS: dict[str, tuple[str, type, str]] = {
    "--initial_cash": ("initial_cash", float, "starting cash of a new portfolio (10000)"),
    "--fee": ("fee", float, "fee per fill as a fraction of notional (0.001)"),
    "--slippage_bps": ("slippage_bps", float, "slippage against every fill, in bps (0)"),
    "--fraction": ("fraction", float, "sizing=fraction: equity fraction per position (0.1)"),
    "--risk_per_trade": ("risk_per_trade", float, "sizing=risk: equity fraction at risk (0.01)"),
    "--stop_pct": ("stop_pct", float, "stop=pct: stop distance, fraction of price (0.02)"),
    "--atr_period": ("atr_period", int, "stop=atr: ATR period in candles (14)"),
    "--atr_multiple": ("atr_multiple", float, "stop=atr: stop distance in ATRs (2)"),
    "--max_position_fraction": (
        "max_position_fraction",
        float,
        "cap on one position's notional with its fee, fraction of equity (1)",
    ),
    "--min_notional": ("min_notional", float, "skip entries below this notional (1)"),
    "--qty_step": ("qty_step", float, "floor quantities to this step (0: exact)"),
    "--max_open_positions": ("max_open_positions", int, "open positions at most, 0 = no limit (5)"),
    "--min_confidence": ("min_confidence", float, "entries need this confidence (0)"),
    "--daily_loss_limit": ("daily_loss_limit", float, "halt entries for the day, 0 = off (0.05)"),
    "--weekly_loss_limit": ("weekly_loss_limit", float, "halt entries for the week (0.10)"),
    "--max_drawdown": ("max_drawdown", float, "circuit breaker drawdown, 0 = off (0.20)"),
    "--vote_threshold": ("vote_threshold", float, "aggregation=vote: |score| to act (0.5)"),
    "--take_profit_pct": (
        "take_profit_pct",
        float,
        "take-profit target this fraction of price past the entry, 0 = off (0)",
    ),
    "--take_profit_r": (
        "take_profit_r",
        float,
        "take-profit target at this multiple of the stop distance, 0 = off (0)",
    ),
    "--entry_offset_pct": (
        "entry_offset_pct",
        float,
        "limit/stop entries: order price this fraction from the signal's (0)",
    ),
    "--time_in_force": (
        "time_in_force",
        int,
        "limit/stop entries: candles after the signal's the order may fill in (1)",
    ),
}
_PREFIX = "cfg_"


def _weight(text: str) -> tuple[str, float]:
    pattern, sep, value = text.partition("=")
    if not sep or not pattern.strip():
        raise argparse.ArgumentTypeError(f"expected PATTERN=NUMBER, got {text!r}")
    try:
        return pattern.strip(), finite_float(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected PATTERN=NUMBER, got {text!r}") from None


def add_portfolio_flags(group, skip: Collection[str] = (), atr_interval_help: str = "") -> None:
    """Adds every portfolio flag but those in `skip` to an argparse group.

    Args:
        group: a parser or argument group.
        skip: flags the command declares itself (with the same meaning).
        atr_interval_help: the command's help for --atr_interval (where its candles come from).
    """
    for flag, (field, kind, help_text) in _VALUE_FLAGS.items():
        if flag in skip:
            continue
        group.add_argument(
            flag,
            dest=_PREFIX + field,
            type=finite_float if kind is float else integer,
            metavar="N" if kind is int else "X",
            default=None,
            help=help_text,
        )
    choices = {
        "--sizing": ("sizing", ("fraction", "risk"), "position sizing (fraction)"),
        "--stop": ("stop", ("none", "pct", "atr"), "protective stop (none)"),
        "--aggregation": (
            "aggregation",
            ("none", "vote"),
            "none: a book per strategy; vote: a weighted vote per symbol (none)",
        ),
        "--entry_order": (
            "entry_order",
            ("market", "limit", "stop"),
            "entries as market orders at the signal's price, or limit/stop orders later "
            "candles fill (README, Order types) (market)",
        ),
    }
    for flag, (field, values, help_text) in choices.items():
        if flag not in skip:
            group.add_argument(
                flag, dest=_PREFIX + field, choices=values, default=None, help=help_text
            )
    if "--atr_interval" not in skip:
        group.add_argument(
            "--atr_interval",
            dest=_PREFIX + "atr_interval_ms",
            type=duration_ms,
            metavar="DURATION",
            default=None,
            help=atr_interval_help or "stop=atr: candle length of the ATR (1m)",
        )
    if "--allow_short" not in skip:
        on_off_flag(group, "--allow_short", _PREFIX + "allow_short", "SELL opens a short when flat")
    on_off_flag(
        group,
        "--trailing_stop",
        _PREFIX + "trailing_stop",
        "the stop follows the best price since the entry at its first distance",
    )
    on_off_flag(
        group,
        "--breaker_flatten",
        _PREFIX + "breaker_flatten",
        "close every position when the circuit breaker trips",
    )
    if "--strategy" not in skip:
        group.add_argument(
            "--strategy",
            dest=_PREFIX + "strategies",
            action="append",
            metavar="PATTERN",
            default=None,
            help="only this strategy (id or type, shell pattern); repeatable",
        )
    if "--symbol" not in skip:
        group.add_argument(
            "--symbol",
            dest=_PREFIX + "symbols",
            action="append",
            metavar="SYMBOL",
            default=None,
            help="only this symbol; repeatable",
        )
    group.add_argument(
        "--weight",
        dest=_PREFIX + "weights",
        action="append",
        type=_weight,
        metavar="PATTERN=W",
        default=None,
        help="aggregation=vote: PATTERN=WEIGHT of matching strategies (default 1); repeatable",
    )


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """{PortfolioConfig field: value} of the portfolio flags given on the command line."""
    given = {
        key.removeprefix(_PREFIX): value
        for key, value in vars(args).items()
        if key.startswith(_PREFIX) and value is not None
    }
    for key in ("strategies", "symbols", "weights"):
        if key in given:
            given[key] = tuple(given[key])
    return given
