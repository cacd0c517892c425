"""Running the real `tradestream` command in a subprocess, and what its errors must look like."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.support.kafka import free_port


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


def timed_tradestream(
    *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, float]:
    """`tradestream(ARGS)` and the seconds it took, start to exit (for time bounds)."""
    started = time.monotonic()
    proc = tradestream(*args, timeout=timeout, env=env)
    return proc, time.monotonic() - started


def closed_bootstrap() -> str:
    """`127.0.0.1:PORT` of a port bound and released: no broker listens there."""
    return f"127.0.0.1:{free_port()}"


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
