"""`tradestream strategies list | head`: a reader that goes away ends the command quietly.

Runs the real command with a block-buffered stdout (no PYTHONUNBUFFERED), as in a shell.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.cli import buffered_env

COMMANDS = (["strategies", "list"], ["strategies", "show", "SMA_CROSSOVER"])


@pytest.mark.parametrize("args", COMMANDS, ids=["list", "show"])
def test_strategies_output_to_a_pipe_closed_after_the_first_line_ends_quietly(args):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradestream.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=buffered_env(),
    )  # fmt: skip
    first = proc.stdout.readline()  # what `head -1` reads
    proc.stdout.close()
    code = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert first.strip()
    assert err == "" and code == 0


@pytest.mark.parametrize("args", COMMANDS, ids=["list", "show"])
def test_strategies_output_to_a_pipe_closed_before_it_writes_ends_quietly(args):
    # The reader is gone before the first write, so the write surely fails with EPIPE
    # (above, the output may all fit in the pipe before it is closed).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tradestream.cli", *args],
            stdout=write_end, stderr=subprocess.PIPE, env=buffered_env(), timeout=60,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.stderr.decode() == "" and proc.returncode == 0
