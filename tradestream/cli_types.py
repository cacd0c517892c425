"""argparse `type=` converters for the `tradestream` commands: a bad value exits 2 with one line.

`type=float` alone accepts `nan`, `inf` and negatives, which then fail much later (or never);
these converters refuse them where the flag is parsed.
"""

from __future__ import annotations

import argparse
import math

from tradestream.market.durations import parse_duration_ms


def finite_float(text: str) -> float:
    """A finite number (its range is checked by the config it goes into)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (digits only: no sign, no fraction)."""
    digits = text.strip()
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return int(digits)


def port(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535 (0: any free port), got {value}")
    return value


def duration_ms(text: str) -> int:
    """A duration (`90s`, `5m`, `4h`, `1d`, or milliseconds) > 0, in milliseconds."""
    try:
        return parse_duration_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def duration_or_zero_ms(text: str) -> int:
    """A duration in milliseconds, 0 allowed (`0`: off)."""
    try:
        return parse_duration_ms(text, allow_zero=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
