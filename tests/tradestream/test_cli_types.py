"""The shared pieces of every `tradestream` command: parser, aliases, config errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tradestream.cli_types import CommandParser, hidden_alias, validation_errors
from tradestream.portfolio.config import PortfolioConfig


def _errors(**values) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        PortfolioConfig(**values)
    return info.value.errors()


def test_validation_errors_word_numbers_like_the_converters_and_keep_other_messages():
    lines = validation_errors(_errors(fee=-1, atr_period="x", sizing="zzz"))
    assert lines == [
        "fee: expected a number >= 0, got -1",
        "sizing: Input should be 'fraction' or 'risk'",
        "atr_period: expected an integer, got 'x'",
    ]
    assert validation_errors(_errors(sizing="risk", stop="none")) == [
        "sizing=risk needs a stop: --stop pct or --stop atr"
    ]


def test_validation_errors_can_name_fields_and_leave_out_values():
    lines = validation_errors(_errors(fee=-1), name=lambda f: f"--{f}", show_input=False)
    assert lines == ["--fee: expected a number >= 0"]


def test_command_parser_error_is_one_line_naming_the_innermost_command(capsys):
    parser = CommandParser(prog="tool")
    run = parser.add_subparsers(dest="cmd").add_parser("run")
    run.add_argument("--from_beginning", action="store_true")
    hidden_alias(run, "--from-beginning", "--from_beginning")
    args = parser.parse_args(["run", "--from-beginning"])
    assert args.from_beginning and args.command_prog == "tool run"
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["run", "--nope"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "tool run: error: unrecognized arguments: --nope\n"
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--from"])  # no abbreviations
    assert "--from-beginning" not in run.format_help()
