"""Durations as people write them on the command line: `250ms`, `5s`, `1m`, `4h`, `1d`."""

from __future__ import annotations

import re

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PATTERN = re.compile(r"^\s*([0-9]+)\s*(ms|s|m|h|d)\s*$")
# Longer than ten years is a typo, and would overflow the int64 times it is added to.
MAX_DURATION_MS = 3_660 * 86_400_000


def parse_duration_ms(text: str | int, *, allow_zero: bool = False) -> int:
    """Parses `1m`, `30s`, `250ms`, `4h`, `1d` (or a bare number of milliseconds).

    Args:
        text: the duration.
        allow_zero: accept `0` / `0s` (e.g. no allowed lateness).

    Returns:
        Milliseconds.

    Raises:
        ValueError: with the accepted forms, for anything else.
    """
    if isinstance(text, int):
        value = text
    else:
        raw = str(text).strip()
        if raw.isascii() and raw.isdigit():  # not '²', which isdigit() accepts
            value = int(raw)
        else:
            match = _PATTERN.match(raw.lower())
            if not match:
                raise ValueError(
                    f"invalid duration {text!r}: use a number and a unit, "
                    "e.g. 250ms, 30s, 1m, 4h, 1d"
                )
            value = int(match.group(1)) * _UNITS_MS[match.group(2)]
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"invalid duration {text!r}: must be {'>= 0' if allow_zero else '> 0'}")
    if value > MAX_DURATION_MS:
        raise ValueError(f"invalid duration {text!r}: longer than ten years")
    return value
