"""The strategies CLI hooks: list and show."""

import argparse
import io

from tests.support.cli import assert_one_line_error, tradestream
from tradestream.strategies import library
from tradestream.strategies.cli import add_parser


def _run(argv):
    parser = argparse.ArgumentParser(prog="tradestream")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    out = io.StringIO()
    return args.handler(args, out), out.getvalue()


def test_list_shows_every_type_with_bounds_and_warmup():
    code, text = _run(["strategies", "list"])
    assert code == 0
    for name in library.names():
        assert name in text
    assert "fast=10 [2..100], slow=30 [3..300]" in text
    assert "67 strategy types" in text


def test_show_prints_params_constraints_and_graph():
    code, text = _run(["strategies", "show", "SMA_CROSSOVER"])
    assert code == 0
    assert "Constraints: fast < slow" in text
    assert "Warm-up at defaults: 31 candles" in text
    assert "crosses_above" in text and "sma (period=10)" in text


def test_show_unknown_name_is_exit_code_2():
    code, _ = _run(["strategies", "show", "NOPE"])
    assert code == 2


def test_show_takes_a_strategy_name_in_any_case():
    shown = {
        name: tradestream("strategies", "show", name)
        for name in ("SMA_CROSSOVER", "sma_crossover", "Sma_Crossover")
    }
    for name, proc in shown.items():
        assert proc.returncode == 0, (name, proc.stderr)
        assert proc.stdout.startswith("SMA_CROSSOVER\n"), (name, proc.stdout)
    assert shown["sma_crossover"].stdout == shown["SMA_CROSSOVER"].stdout
    assert shown["Sma_Crossover"].stdout == shown["SMA_CROSSOVER"].stdout


def test_show_unknown_name_is_one_error_line_with_the_command_prefix():
    proc = tradestream("strategies", "show", "nope")
    line = assert_one_line_error(proc, "strategies show", "unknown strategy type 'nope'")
    assert line.count("error:") == 1, line


def test_list_and_show_say_which_types_read_longer_candles_or_the_book():
    _, text = _run(["strategies", "list"])
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "(reads 5m, 15m, 1h)" in lines["NSE_WEIGHTED_VOTE"]
    assert "(reads the order book" in lines["ORDER_BOOK_IMBALANCE"]
    assert "reads" not in lines["SMA_CROSSOVER"]
    _, shown = _run(["strategies", "show", "RSI_TWO_TIMEFRAMES"])
    assert "Reads longer candles: 15m" in shown and "candles of 1m" in shown
