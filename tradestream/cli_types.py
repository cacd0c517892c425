"""How every `tradestream` command parses its command line: one parser class, one set of converters.

`CommandParser` is the argparse parser of every command and subcommand (sub-parsers inherit
it). A usage error is one line on stderr, `tradestream CMD: error: ...`, exit status 2: not
argparse's usage block (up to 40 lines of flags) above it, where the one line that matters
scrolls out of sight. `--help` still prints the full usage.

The converters (`type=`) refuse a bad value where the flag is parsed, with one wording for
every number flag: `argument --FLAG: expected WHAT, got 'TEXT'`. `type=float` alone accepts
`nan`, `inf` and negatives, which then fail much later (or never).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import NoReturn

from tradestream.market.durations import parse_duration_ms

# Set on the namespace by the innermost parser that left arguments unrecognised, so that the
# error names that subcommand (`tradestream paper run: error: ...`), not the top command.
_UNRECOGNISED_BY = "_tradestream_unrecognised_by"


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: `PROG: error: MESSAGE`.

    The parsed namespace also holds `command_prog`: the prog of the innermost command parsed
    (`tradestream paper run`), the prefix of that command's own error lines.
    """

    def __init__(self, *args, allow_abbrev: bool = False, **kwargs) -> None:
        # No abbreviated flags, as in the pipelines: a prefix silently meant some other flag,
        # and an old spelling kept as an alias would make every prefix of it ambiguous.
        super().__init__(*args, allow_abbrev=allow_abbrev, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Prints `PROG: error: MESSAGE` (no usage block) and exits 2."""
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 (argparse's API)
        namespace, extras = super().parse_known_args(args, namespace)
        # Sub-parsers return first and their attributes are copied up: the innermost wins.
        if not hasattr(namespace, "command_prog"):
            namespace.command_prog = self.prog
        if extras and not hasattr(namespace, _UNRECOGNISED_BY):
            setattr(namespace, _UNRECOGNISED_BY, self)
        return namespace, extras

    def parse_args(self, args=None, namespace=None):  # noqa: D102 (argparse's API)
        namespace, extras = self.parse_known_args(args, namespace)
        owner = vars(namespace).pop(_UNRECOGNISED_BY, self)
        if extras:
            owner.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace


def hidden_alias(parser: argparse.ArgumentParser, alias: str, flag: str) -> None:
    """Accepts `alias` as another spelling of `flag`, without listing it in --help.

    Flags are spelled with underscores, like the pipeline flags; the dashed spellings of
    earlier releases (`--from-beginning`) keep working so that scripts do not break.
    """
    # argparse looks option strings up in this table; the action's own option_strings (what
    # --help and error messages show) stay the underscore spelling.
    parser._option_string_actions[alias] = parser._option_string_actions[flag]


def on_off_flag(parser, flag: str, dest: str, help: str) -> None:  # noqa: A002 (argparse's name)
    """`--FLAG` sets `dest` True and `--no_FLAG` sets it False; neither leaves it None.

    argparse's BooleanOptionalAction spells the second one `--no-FLAG`, half dashes; that
    spelling still works, hidden from --help.
    """
    name = flag.removeprefix("--")
    parser.add_argument(flag, dest=dest, action="store_const", const=True, help=help)
    parser.add_argument(
        f"--no_{name}", dest=dest, action="store_const", const=False, help=f"not {flag}"
    )
    hidden_alias(parser, f"--no-{name}", f"--no_{name}")


def _refused(expected: str, text: str) -> argparse.ArgumentTypeError:
    """The one wording of a refused value: `expected WHAT, got 'TEXT'`."""
    return argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")


def _number(text: str, expected: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _refused(expected, text) from None
    if not math.isfinite(value):
        raise _refused(expected, text)
    return value


def _integer(text: str, expected: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _refused(expected, text) from None


def finite_float(text: str) -> float:
    """A finite number (its range is checked by the config it goes into)."""
    return _number(text, "a number")


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _number(text, "a number >= 0")
    if value < 0:
        raise _refused("a number >= 0", text)
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text, "a number > 0")
    if value <= 0:
        raise _refused("a number > 0", text)
    return value


def fraction(text: str) -> float:
    """A number from 0 to 1."""
    value = _number(text, "a number from 0 to 1")
    if not 0 <= value <= 1:
        raise _refused("a number from 0 to 1", text)
    return value


def speed_factor(text: str) -> float | None:
    """A replay speed: a factor > 0, or `max` (None: as fast as possible)."""
    if text.strip().lower() == "max":
        return None
    value = _number(text, "a number > 0 or 'max'")
    if value <= 0:
        raise _refused("a number > 0 or 'max'", text)
    return value


def integer(text: str) -> int:
    """An integer (its range is checked by the config it goes into)."""
    return _integer(text, "an integer")


def positive_int(text: str) -> int:
    """An integer > 0."""
    value = _integer(text, "an integer > 0")
    if value <= 0:
        raise _refused("an integer > 0", text)
    return value


def even_int_from_2(text: str) -> int:
    """An even integer >= 2."""
    value = _integer(text, "an even integer >= 2")
    if value < 2 or value % 2:
        raise _refused("an even integer >= 2", text)
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (digits only: no sign, no fraction)."""
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()):  # not '²', which isdigit() accepts
        raise _refused("an integer >= 0", text)
    return int(digits)


def port(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535."""
    value = _integer(text, "a port 0..65535 (0: any free port)")
    if not 0 <= value <= 65535:
        raise _refused("a port 0..65535 (0: any free port)", text)
    return value


def listen_port(text: str) -> int:
    """A fixed TCP port to listen on: 1 to 65535."""
    value = _integer(text, "a port 1..65535")
    if not 0 < value <= 65535:
        raise _refused("a port 1..65535", text)
    return value


_DURATION = "a duration such as 250ms, 30s, 1m, 4h or 1d (at most ten years)"


def duration_ms(text: str) -> int:
    """A duration (`90s`, `5m`, `4h`, `1d`, or milliseconds) > 0, in milliseconds."""
    try:
        return parse_duration_ms(text)
    except ValueError:
        raise _refused(f"{_DURATION}, > 0", text) from None


def duration_or_zero_ms(text: str) -> int:
    """A duration in milliseconds, 0 allowed (`0`: off)."""
    try:
        return parse_duration_ms(text, allow_zero=True)
    except ValueError:
        raise _refused(f"{_DURATION}, or 0", text) from None


# pydantic's bound errors -> (comparison, the bound's key in the error's context).
_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}
_INTEGER_ERRORS = {"int_parsing", "int_from_float", "int_type"}
_NUMBER_ERRORS = {"float_parsing", "float_type", "finite_number"}


def _bound(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def validation_errors(
    errors: list[dict], name: Callable[[str], str] = str, show_input: bool = True
) -> list[str]:
    """A pydantic ValidationError's `errors()` as lines in the converters' wording.

    `fee: expected a number >= 0, got -1` rather than pydantic's four lines per problem, so a
    number refused by a config reads like one refused by a flag.

    Args:
        errors: `ValidationError.errors()`.
        name: the name a person knows a field by (a flag, an environment variable).
        show_input: False for secrets: the value given is left out.
    """
    lines = []
    for error in errors:
        field = ".".join(str(part) for part in error["loc"])
        kind = error["type"]
        if kind in _BOUNDS:
            comparison, key = _BOUNDS[kind]
            expected = f"a number {comparison} {_bound(error['ctx'][key])}"
        elif kind in _INTEGER_ERRORS:
            expected = "an integer"
        elif kind in _NUMBER_ERRORS:
            expected = "a number"
        else:
            expected = None
        if expected is None:
            text = str(error["msg"]).removeprefix("Value error, ")
        elif show_input and "input" in error:
            text = f"expected {expected}, got {error['input']!r}"
        else:
            text = f"expected {expected}"
        lines.append(f"{name(field)}: {text}" if field else text)
    return lines


def usage_error(prog: str, message: str) -> int:
    """Prints the one-line usage error `PROG: error: MESSAGE`; returns exit status 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
