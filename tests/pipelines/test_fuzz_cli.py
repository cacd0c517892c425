"""Fuzzing command-line flags: a bad value exits 2 with a one-line `prog: error:` message.

Every flag with a `type=` converter, in every pipeline's option classes and every other
`tradestream` command, is found by introspection. Each numeric converter has a contract
written here (`CONTRACTS`: values it must accept and what they mean, values it must refuse,
the bound every accepted value satisfies); a converter without one fails the suite, so a new
flag cannot slip through unchecked. Refused values exit 2 with one error line naming the flag
(never a traceback), and nothing outside the contract is accepted, fuzzed with hypothesis.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradestream.cli import build_parser
from tradestream.ingest import cli as ingest
from tradestream.pipelines import backtest, optimize, realtime
from tradestream.pipelines.options import KafkaOptions, StrategyOptions, parse_pipeline_args

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# argparse turns exactly these, raised by a converter, into "argument X: invalid value".
USAGE_ERRORS = (argparse.ArgumentTypeError, TypeError, ValueError)
# Refused by every numeric flag: not finite, out of float range, empty, not a number, or a
# notation the flags do not take (hex, superscript, NUL).
GARBAGE = ["nan", "inf", "-inf", "1e400", "", " ", "abc", "²", "0x10", "\x00", "1,5"]
# Not in either list: "1_0" and "٣" (ARABIC-INDIC DIGIT THREE), which Python's int()/float()
# read as 10 (PEP 515 digit grouping) and 3, so most numeric flags accept them and durations do
# not. Whatever a flag makes of them, the fuzz test below holds it to the flag's bound.


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# converter name -> (accepted text -> value, refused texts besides GARBAGE, bound of any value).
Contract = tuple[dict[str, object], list[str], Callable[[object], bool]]
CONTRACTS: dict[str, Contract] = {
    # Range checked by the config the value goes into (paper run's portfolio flags).
    "finite_float": ({"-1": -1.0, "0": 0.0, "2.5": 2.5}, [], _finite),
    "non_negative_float": ({"0": 0.0, "2.5": 2.5}, ["-1", "-0.5"], lambda v: _finite(v) and v >= 0),
    "positive_float": ({"2.5": 2.5, "1e-3": 0.001}, ["0", "-1"], lambda v: _finite(v) and v > 0),
    "speed_factor": (
        {"2.5": 2.5, "max": None, "MAX": None},
        ["0", "-1"],
        lambda v: v is None or (_finite(v) and v > 0),
    ),
    "positive_int": ({"3": 3, " 7 ": 7}, ["0", "-1", "2.5", "1e3"], lambda v: _is_int(v) and v > 0),
    "non_negative_int": ({"0": 0, "3": 3}, ["-1", "+1", "2.5"], lambda v: _is_int(v) and v >= 0),
    # Plain integers whose range the config checks (paper run's --atr_period, ...).
    "integer": ({"-1": -1, "3": 3}, ["2.5", "1e3"], _is_int),
    "port": ({"0": 0, "8080": 8080}, ["-1", "65536"], lambda v: _is_int(v) and 0 <= v <= 65535),
    "listen_port": ({"9092": 9092}, ["0", "-1", "65536"], lambda v: _is_int(v) and 0 < v < 65536),
    "duration_ms": (
        {"90s": 90_000, "5m": 300_000, "1500": 1500},
        ["0", "-1", "-5m", "5 parsecs"],
        lambda v: _is_int(v) and v > 0,
    ),
    "duration_or_zero_ms": ({"0": 0, "1m": 60_000}, ["-1", "-1m"], lambda v: _is_int(v) and v >= 0),
    "fraction": (
        {"0": 0.0, "0.5": 0.5, "1": 1.0},
        ["-1", "1.5"],
        lambda v: _finite(v) and 0 <= v <= 1,
    ),
    "even_int_from_2": (
        {"2": 2, "10": 10},
        ["0", "3", "-2"],
        lambda v: _is_int(v) and v >= 2 and v % 2 == 0,
    ),
    # tradestream train: a return threshold or auto, a quantile strictly inside (0, 1)
    "_threshold": (
        {"auto": None, "AUTO": None, "0.002": 0.002, "0": 0.0},
        ["-0.1"],
        lambda v: v is None or (_finite(v) and v >= 0),
    ),
    "_quantile": ({"0.9": 0.9, "0.5": 0.5}, ["0", "1", "-0.5", "1.5"], lambda v: 0 < v < 1),
}
# Converters of text that is not a number (names, patterns, paths): checked where they are used.
# `_hidden` reads a list of layer sizes ("32,16"), checked in tests/tradestream/ml.
NOT_NUMBERS = {"_products", "_ws_url", "_zone", "strategy_item", "param_item", "Path", "_weight",
               "_hidden"}  # fmt: skip
# Flags of files owned elsewhere that still take plain `type=float`/`type=int` (reported).
KNOWN_LOOSE: set[str] = set()

PIPELINES = {
    "tradestream ingest": [
        ingest.IngestOptions,
        ingest.CoinbaseOptions,
        ingest.OhlcReplayOptions,
        KafkaOptions,
    ],
    "tradestream backtest": [
        backtest.BacktestFiles,
        backtest.BacktestOptions,
        StrategyOptions,
        backtest.CandleOptions,
    ],
    "tradestream realtime": [
        KafkaOptions,
        realtime.CandleOptions,
        StrategyOptions,
        realtime.RealtimeOptions,
    ],
    "tradestream optimize": [
        optimize.OptimizeFiles,
        optimize.OptimizeOptions,
        StrategyOptions,
        optimize.CandleOptions,
        optimize.PublishFlags,
    ],
}


def _pipeline_parser(classes) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(allow_abbrev=False)
    for cls in classes:
        cls._add_argparse_args(parser)
    return parser


def _typed_flags() -> list[tuple[str, str, object]]:
    """(command, flag, converter) of every flag with a type= converter."""
    found = []
    for prog, classes in PIPELINES.items():
        for action in _pipeline_parser(classes)._actions:
            if action.type is not None and action.option_strings:
                found.append((prog, action.option_strings[0], action.type))

    def walk(parser: argparse.ArgumentParser, prog: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{prog} {name}")
            elif action.type is not None and action.option_strings:
                found.append((prog, action.option_strings[0], action.type))

    walk(build_parser(), "tradestream")
    return found


TYPED = _typed_flags()
IDS = [f"{prog} {flag}" for prog, flag, _ in TYPED]


def _convert(converter, text: str):
    try:
        return True, converter(text)
    except USAGE_ERRORS:
        return False, None


def _name(converter) -> str:
    return getattr(converter, "__name__", type(converter).__name__)


NUMERIC = [(prog, flag, conv) for prog, flag, conv in TYPED if _name(conv) in CONTRACTS]
NUMERIC_IDS = [f"{prog} {flag}" for prog, flag, _ in NUMERIC]


def _refused(converter) -> list[str]:
    return GARBAGE + CONTRACTS[_name(converter)][1]


def _parse(prog: str, classes, argv: list[str]) -> None:
    """Parses argv as `prog` would: a pipeline's option classes, or the tradestream parser."""
    if classes is not None:
        parse_pipeline_args(argv, prog, "", classes)
    else:
        build_parser().parse_args(prog.split()[1:] + argv)


def test_fuzz_cli_flags_are_found_and_every_converter_has_a_contract():
    assert len(TYPED) > 30
    unknown = {_name(conv) for _, _, conv in TYPED} - set(CONTRACTS) - NOT_NUMBERS
    assert not unknown, f"state what these converters accept in CONTRACTS: {unknown}"
    assert len(NUMERIC) > 60


@pytest.mark.parametrize(("prog", "flag", "converter"), NUMERIC, ids=NUMERIC_IDS)
def test_fuzz_cli_flag_converter_refuses_bad_numbers_and_reads_good_ones(prog, flag, converter):
    if f"{prog} {flag}" in KNOWN_LOOSE:
        pytest.xfail("plain type=float/int in a file owned elsewhere")
    good, _, holds = CONTRACTS[_name(converter)]
    for text in _refused(converter):
        with pytest.raises(USAGE_ERRORS):
            converter(text)
    for text, value in good.items():
        assert converter(text) == value, text
        assert holds(converter(text)), text


@FUZZ
@given(st.sampled_from(NUMERIC), st.text(max_size=20) | st.sampled_from(GARBAGE))
def test_fuzz_cli_flag_converter_accepts_only_values_within_its_contract(typed, text):
    prog, flag, converter = typed
    ok, value = _convert(converter, text)  # any other exception fails the test
    if ok and f"{prog} {flag}" not in KNOWN_LOOSE:
        assert CONTRACTS[_name(converter)][2](value), (text, value)


def _commands() -> list[tuple[str, object]]:
    """(prog, option classes or None for the tradestream parser) of every command with flags."""
    return [*PIPELINES.items()] + sorted(
        {(prog, None) for prog, _, _ in TYPED if prog not in PIPELINES}
    )


@pytest.mark.parametrize(("prog", "classes"), _commands(), ids=[p for p, _ in _commands()])
def test_fuzz_cli_bad_value_exits_2_with_one_error_line_naming_the_flag(prog, classes, capsys):
    flags = [(f, c) for p, f, c in NUMERIC if p == prog]
    assert flags
    for flag, converter in flags:
        for text in _refused(converter):
            with pytest.raises(SystemExit) as exit_info:
                _parse(prog, classes, [f"{flag}={text}"])
            assert exit_info.value.code == 2, (flag, text)
            err = capsys.readouterr().err
            assert "Traceback" not in err
            errors = [line for line in err.splitlines() if "error:" in line]
            assert len(errors) == 1 and errors[0] == err.rstrip("\n").splitlines()[-1], err
            assert errors[0].startswith(f"{prog}: error: argument {flag}"), (flag, text, err)
            # One wording for every number flag and every problem (not a number, out of range).
            assert f"argument {flag}: expected " in errors[0], (flag, text, err)
            assert errors[0].endswith(f", got {text!r}"), (flag, text, err)


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "--output", "x.csv", "--hours", "nan"],
        ["sample", "--output", "x.csv", "--hours", "-1"],
        ["sample", "--output", "x.csv", "--seed", "-1"],  # numpy seeds are >= 0
        ["dashboard", "--port", "70000"],
        ["dashboard", "--refresh", "0"],
        ["dashboard", "--health_every", "inf"],
        ["signals", "tail", "--timeout", "-5"],
        ["paper", "run", "--max_batch", "0"],
        ["paper", "run", "--log_every", "nan"],
    ],
)
def test_fuzz_tradestream_command_bad_value_exits_2_with_one_error_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert ": error: argument " in err.strip().splitlines()[-1]
