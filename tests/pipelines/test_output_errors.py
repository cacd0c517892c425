"""`tradestream backtest|optimize --output DIR`: an unusable DIR is one line and exit 2 before
any work, and a failed run leaves a previous run's files in DIR byte-identical.

Everything runs the real command in a subprocess, as a user would.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, tradestream
from tradestream.market.sample_day import sample_trades
from tradestream.market.trade_files import write_trades_csv

COMMANDS = ("backtest", "optimize")
SMALL = {
    "backtest": ["--strategy", "SMA_CROSSOVER", "--candle_interval", "1m"],
    "optimize": ["--strategy", "SMA_CROSSOVER", "--candle_interval", "1m", "--population", "4",
                 "--generations", "1", "--top", "1"],
}  # fmt: skip


@pytest.fixture(scope="module")
def trades_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "trades.csv"
    write_trades_csv(path, sample_trades(hours=3, seed=11, rate_per_s=0.2))
    return path


@pytest.fixture(scope="module")
def header_only(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "header.csv"
    path.write_text("time,symbol,price,size\n")
    return path


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory this process cannot write. Root writes through permission bits, so for
    root it is a /proc directory, which refuses writes to everyone."""
    if os.geteuid() == 0:
        directory = Path("/proc/self")
    else:
        directory = tmp_path / "read-only"
        directory.mkdir()
        directory.chmod(0o555)
    assert not os.access(directory, os.W_OK)
    yield directory
    if directory.is_relative_to(tmp_path):
        directory.chmod(0o755)


def _run(command: str, inputs: Path, output: Path | str):
    return tradestream(command, "--input", str(inputs), "--output", str(output), *SMALL[command])


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every entry under `directory` (hidden ones too): its bytes and modification time."""
    return {
        str(p.relative_to(directory)): (
            p.read_bytes() if p.is_file() else b"",
            p.stat().st_mtime_ns,
        )
        for p in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize("command", COMMANDS)
def test_output_that_is_a_file_is_one_line_exit_2(command, trades_file, tmp_path):
    taken = tmp_path / "results"
    taken.write_text("not a directory\n")
    proc = _run(command, trades_file, taken)
    assert_one_line_error(proc, command, f"--output {taken} is a file, not a directory")
    assert taken.read_text() == "not a directory\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_output_in_a_read_only_directory_is_one_line_exit_2(command, trades_file, read_only_dir):
    output = read_only_dir / "tradestream-out"
    proc = _run(command, trades_file, output)
    assert_one_line_error(proc, command, f"cannot write --output {output}", "not writable")
    assert not output.exists()


# Both commands check DIR with the same StagedOutputDir; the other cases run through one.


def test_backtest_output_that_is_a_read_only_directory_is_one_line_exit_2(
    trades_file, read_only_dir
):
    proc = _run("backtest", trades_file, read_only_dir)
    assert_one_line_error(proc, "backtest", f"{read_only_dir} is not writable")


def test_backtest_output_under_a_file_is_one_line_exit_2(trades_file, tmp_path):
    parent = tmp_path / "results"
    parent.write_text("not a directory\n")
    proc = _run("backtest", trades_file, parent / "out")
    assert_one_line_error(proc, "backtest", f"{parent} is a file, not a directory")


def test_backtest_output_where_the_system_refuses_a_directory_is_one_line_exit_2(trades_file):
    # /sys takes no new directories, even from root (EPERM when mkdir is tried).
    proc = _run("backtest", trades_file, "/sys/tradestream-out")
    assert_one_line_error(proc, "backtest", "--output /sys/tradestream-out")


@pytest.mark.parametrize("command", COMMANDS)
def test_failed_run_leaves_the_previous_results_byte_identical(
    command, trades_file, header_only, tmp_path
):
    out = tmp_path / "results"
    good = _run(command, trades_file, out)
    assert good.returncode == 0, good.stderr
    (out / "notes.txt").write_text("the user's own file\n")
    before = _snapshot(out)
    assert len(before) >= 5

    failed = _run(command, header_only, out)

    assert failed.returncode == 2, failed.stderr
    assert "Traceback" not in failed.stderr
    # Beam logs warnings while it builds the job; the error itself is the one last line.
    errors = [line for line in failed.stderr.splitlines() if "error" in line.lower()]
    assert errors == [failed.stderr.splitlines()[-1]]
    assert errors[0] == (
        f"tradestream {command}: error: no data rows in {header_only} (a header only?); "
        f"nothing written to {out}"
    )
    assert _snapshot(out) == before


def test_backtest_failed_run_into_a_new_directory_leaves_nothing(header_only, tmp_path):
    proc = _run("backtest", header_only, tmp_path / "new" / "out")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_backtest_good_run_replaces_its_files_and_keeps_others(trades_file, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    (out / "notes.txt").write_text("the user's own file\n")
    proc = _run("backtest", trades_file, out)
    assert proc.returncode == 0, proc.stderr
    assert (out / "summary.json").read_text() != "{}"
    assert (out / "notes.txt").read_text() == "the user's own file\n"
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["candles.csv", "equity.csv", "notes.txt", "report.html", "signals.csv",
         "summary.json", "trades.csv"]
    )  # fmt: skip
