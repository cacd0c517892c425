"""Running the real `tradestream` command in a subprocess, and what its errors must look like."""

from __future__ import annotations

import os
import subprocess
import sys


def tradestream(
    *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Runs `python -m tradestream.cli ARGS` to its end; stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "tradestream.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def buffered_env() -> dict[str, str]:
    """The environment without PYTHONUNBUFFERED: stdout block-buffered, as a user's shell has it."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def assert_one_line_error(proc: subprocess.CompletedProcess, command: str, *words: str) -> str:
    """Exit 2 and exactly one line on stderr, `tradestream COMMAND: error: ...`, holding `words`.

    Returns:
        The line.
    """
    lines = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"tradestream {command}: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    return lines[0]
