"""The `tradestream` command reads as one program: flag spelling, errors, strategy names.

Most checks run the real command (`tests.support.cli.tradestream`); the flag spelling is also
checked by walking every parser, so that a new flag cannot bring the dashes back.
"""

from __future__ import annotations

import argparse
import os
import re

import pytest

from tests.support.cli import assert_one_line_error, closed_bootstrap, tradestream
from tradestream.cli import build_parser
from tradestream.ingest import cli as ingest
from tradestream.pipelines import backtest, optimize, realtime
from tradestream.pipelines.options import KafkaOptions, StrategyOptions
from tradestream.runtime.flink import FlinkJobOptions

# Dashed spellings of earlier releases, still accepted (hidden from --help).
OLD_SPELLINGS = {
    ("signals", "tail"): {"--from-beginning": "--from_beginning"},
    ("demo",): {"--all-strategies": "--all_strategies", "--quiet-after": "--quiet_after"},
    ("local", "up"): {"--controller-port": "--controller_port"},
    # argparse's BooleanOptionalAction wrote the negative flag half dashed.
    ("paper", "run"): {"--no-allow_short": "--no_allow_short"},
}
DASHED_FLAG = re.compile(r"(?<![\w-])--[a-z0-9]+(?:_[a-z0-9]+)*-[a-z0-9]")


def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """(prog, parser) of every `tradestream` command and pipeline."""
    found = []

    def walk(parser: argparse.ArgumentParser) -> None:
        found.append((parser.prog, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    pipelines = {
        "tradestream ingest": [
            ingest.IngestOptions,
            ingest.CoinbaseOptions,
            ingest.OhlcReplayOptions,
        ],
        "tradestream backtest": [backtest.BacktestFiles, backtest.BacktestOptions],
        "tradestream realtime": [realtime.RealtimeOptions, FlinkJobOptions],
        "tradestream optimize": [
            optimize.OptimizeFiles,
            optimize.OptimizeOptions,
            optimize.PublishFlags,
        ],
        "options shared by pipelines": [KafkaOptions, StrategyOptions, realtime.CandleOptions],
    }
    for prog, classes in pipelines.items():
        parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False)
        for cls in classes:
            cls._add_argparse_args(parser)
        found.append((prog, parser))
    return found


def test_cli_every_flag_of_every_command_is_spelled_with_underscores():
    parsers = _all_parsers()
    assert len(parsers) > 15
    flags = {
        (prog, flag)
        for prog, parser in parsers
        for action in parser._actions
        for flag in action.option_strings
        if flag.startswith("--")
    }
    assert len(flags) > 150
    dashed = sorted(f"{prog} {flag}" for prog, flag in flags if "-" in flag[2:])
    assert dashed == [], dashed


@pytest.mark.parametrize("command", sorted(OLD_SPELLINGS), ids=" ".join)
def test_cli_help_shows_only_the_underscore_spelling(command):
    proc = tradestream(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    for new in OLD_SPELLINGS[command].values():
        assert new in proc.stdout
    assert DASHED_FLAG.findall(proc.stdout) == [], proc.stdout


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["signals", "tail", "--from-beginning"], "from_beginning", True),
        (["demo", "--all-strategies"], "all_strategies", True),
        (["demo", "--quiet-after", "5"], "quiet_after", 5.0),
        (["demo", "--quiet-after=7"], "quiet_after", 7.0),
        (["local", "up", "--controller-port", "9193"], "controller_port", 9193),
        (["paper", "run", "--no-allow_short"], "cfg_allow_short", False),
        (["paper", "run", "--no_allow_short"], "cfg_allow_short", False),
        (["paper", "run", "--allow_short"], "cfg_allow_short", True),
        (["paper", "run"], "cfg_allow_short", None),  # neither: the stored value stays
    ],
)
def test_cli_old_dashed_spelling_still_sets_the_flag(argv, dest, value):
    assert getattr(build_parser().parse_args(argv), dest, None) == value


def test_cli_old_dashed_spelling_runs_the_real_command():
    # Parsed as --from_beginning: the command gets as far as looking for a broker.
    closed = closed_bootstrap()
    proc = tradestream("signals", "tail", "--from-beginning", f"--bootstrap_servers={closed}")
    assert_one_line_error(proc, "signals tail", f"no Kafka broker answers at {closed}")
    # A bad value under the old spelling is reported under the flag's name.
    proc = tradestream("local", "up", "--controller-port", "0")
    assert_one_line_error(proc, "local up", "argument --controller_port: expected a port 1..65535")


# A usage error is one line: `tradestream CMD: error: ...` (argparse printed its whole usage
# block, up to 40 lines, above it), with the prefix once, and numbers refused in one wording.
USAGE_ERRORS = [
    (["signals", "tail", "--max", "x"], "signals tail", "argument --max: expected an integer > 0, got 'x'"),
    (["signals", "tail", "--timeout", "nan"], "signals tail", "argument --timeout: expected a number > 0, got 'nan'"),
    (["paper", "run", "--max_batch", "0"], "paper run", "argument --max_batch: expected an integer > 0, got '0'"),
    (["paper", "run", "--atr_period", "2.5"], "paper run", "argument --atr_period: expected an integer, got '2.5'"),
    (["paper", "run", "--bogus"], "paper run", "unrecognized arguments: --bogus"),
    (["local", "up", "--partitions", "0"], "local up", "argument --partitions: expected an integer > 0, got '0'"),
    (["dashboard", "--port", "x"], "dashboard", "argument --port: expected a port 0..65535 (0: any free port), got 'x'"),
    (["sample", "--output", "x.csv", "--hours", "-1"], "sample", "argument --hours: expected a number > 0, got '-1'"),
    (["demo", "--speed", "0"], "demo", "argument --speed: expected a number > 0 or 'max', got '0'"),
    (["strategies", "show"], "strategies show", "the following arguments are required: name"),
    (["strategies", "bogus"], "strategies", "invalid choice: 'bogus'"),
    (["ingest", "--speed", "fast"], "ingest", "argument --speed: expected a number > 0 or 'max', got 'fast'"),
    (["ingest", "--ws_url", "http://x"], "ingest", "argument --ws_url: expected a ws:// or wss:// URL, got 'http://x'"),
    (["realtime", "--max_gap", "x"], "realtime", "argument --max_gap: expected an integer >= 0, got 'x'"),
    (["realtime", "--retained_checkpoints", "0"], "realtime", "argument --retained_checkpoints: expected an integer > 0, got '0'"),
    (["realtime", "--param", "fast"], "realtime", "argument --param: expected NAME=VALUE, got 'fast'"),
    (["realtime", "--max_bundle_time_mills", "x"], "realtime", "argument --max_bundle_time_mills: expected an integer > 0, got 'x'"),
    (["backtest", "--input", "a.csv", "--output", "out", "--cash", "nan"], "backtest", "argument --cash: expected a number > 0, got 'nan'"),
    (["backtest", "--output", "out"], "backtest", "the following arguments are required: --input"),
    (["optimize", "--input", "a.csv", "--output", "out", "--population", "0"], "optimize", "argument --population: expected an integer > 0, got '0'"),
    (["optimize", "--input", "a.csv", "--output", "out", "--mutation_rate", "2"], "optimize", "argument --mutation_rate: expected a number from 0 to 1, got '2'"),
    (["optimize", "--input", "a.csv", "--output", "out", "--train", "5 parsecs"], "optimize", "argument --train: expected a duration such as 250ms"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "command", "words"), USAGE_ERRORS, ids=[" ".join(a) for a, *_ in USAGE_ERRORS]
)
def test_cli_usage_error_is_one_line_with_the_prefix_once(argv, command, words, tmp_path):
    proc = tradestream(*argv)
    line = assert_one_line_error(proc, command, words)
    assert line.count("error:") == 1, line
    assert "usage:" not in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_same_problem_same_words_in_every_command():
    """An integer flag given 0 where it needs > 0, in four commands: one message after the flag."""
    runs = {
        "signals tail": ["signals", "tail", "--max", "0"],
        "paper run": ["paper", "run", "--max_batch", "0"],
        "local up": ["local", "up", "--partitions", "0"],
        "optimize": ["optimize", "--input", "a.csv", "--output", "o", "--population", "0"],
    }
    endings = set()
    for command, argv in runs.items():
        line = assert_one_line_error(tradestream(*argv), command)
        endings.add(line.split(": ", 3)[-1])
    assert endings == {"expected an integer > 0, got '0'"}


def test_cli_help_still_prints_the_whole_usage():
    proc = tradestream("signals", "tail", "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: tradestream signals tail")
    assert "--from_beginning" in proc.stdout and "--max MAX" in proc.stdout


def test_cli_number_refused_by_a_config_reads_like_one_refused_by_a_flag(tmp_path):
    """paper run's portfolio flags are range-checked by PortfolioConfig (pydantic): one line per
    problem in the converters' wording, not pydantic's four-line blocks."""
    proc = tradestream(
        "paper", "run", "--db", f"sqlite:///{tmp_path / 'p.db'}",
        f"--bootstrap_servers={closed_bootstrap()}", "--fee", "-1", "--max_drawdown", "2",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "tradestream paper run: error: fee: expected a number >= 0, got -1.0",
        "tradestream paper run: error: max_drawdown: expected a number < 1, got 2.0",
    ]


def test_cli_bad_environment_setting_is_one_line_without_its_value():
    env = {**os.environ, "TRADESTREAM_KAFKA_PORT": "secret-ish"}
    proc = tradestream("local", "status", env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "tradestream: error: TRADESTREAM_KAFKA_PORT: expected an integer"
    ]
