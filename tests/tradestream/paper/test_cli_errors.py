"""`tradestream paper` errors a user can cause: one line on stderr, exit 2, and soon.

Run as the real command (a subprocess), so that what is checked is what a person sees:
nothing of logging, warnings or tracebacks besides the one line.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import closed_bootstrap, tradestream


def _tradestream(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRADESTREAM_STATE_DIR": str(tmp_path / "state")}
    return tradestream(*args, timeout=timeout, env=env)


def test_paper_run_without_a_broker_fails_within_10s_with_one_line(tmp_path):
    closed = closed_bootstrap()
    start = time.monotonic()
    result = _tradestream(
        tmp_path, "paper", "run", "--db", f"sqlite:///{tmp_path / 'p.db'}",
        "--bootstrap_servers", closed,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tradestream paper run: error: no Kafka broker answers at {closed}")
    assert "tradestream local up" in lines[0]
    assert elapsed < 10.0, f"took {elapsed:.1f}s"


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(15).randbytes(8192))


def _text(path: Path) -> None:
    path.write_text("equity,cash\n10000,10000\n")


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--entry_order", "limit"],
            "limit and stop entries are filled by later candles: run with --candles",
        ),
        (
            ["--candles", "--stop", "atr", "--sizing", "risk", "--atr_interval", "5m"],
            "the ATR interval (300000 ms) must be the candle interval (60000 ms)",
        ),
        (["--take_profit_r", "2"], "take_profit_r is a multiple of the stop distance"),
    ],
)
def test_paper_run_settings_that_cannot_work_together_are_one_line(tmp_path, args, message):
    result = _tradestream(
        tmp_path, "paper", "run", "--db", f"sqlite:///{tmp_path / 'p.db'}",
        "--bootstrap_servers", closed_bootstrap(), *args,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tradestream paper run: error: "), lines
    assert message in lines[0]


@pytest.mark.parametrize("damage", [_random_bytes, _text], ids=["random-bytes", "text"])
@pytest.mark.parametrize(
    "command",
    [
        ["run", "--bootstrap_servers", "127.0.0.1:9"],  # the database fails before Kafka
        ["status"],
        ["status", "--json"],
        ["reset-breaker"],
    ],
    ids=["run", "status", "status-json", "reset-breaker"],
)
def test_paper_commands_on_a_corrupted_database_print_one_line_naming_the_file(
    tmp_path, damage, command
):
    db = tmp_path / "paper.db"
    damage(db)
    before = db.read_bytes()
    result = _tradestream(tmp_path, "paper", command[0], "--db", f"sqlite:///{db}", *command[1:])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"tradestream paper {command[0]}: error: cannot use the paper database {db} "
    )
    assert "file is not a database" in lines[0] and "move it aside" in lines[0]
    assert result.stdout == ""
    assert db.read_bytes() == before  # left as it was, for the user to look at


def test_paper_run_on_a_directory_instead_of_a_database_prints_one_line(tmp_path):
    db = tmp_path / "paper.db"
    db.mkdir()
    result = _tradestream(tmp_path, "paper", "run", "--db", f"sqlite:///{db}")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot use the paper database {db} (unable to open database file)" in lines[0]


# PostgreSQL: a server that is not there, a refused login, a missing database. The password
# of the URL never shows; the one line names the URL with *** in its place.
PASSWORD = "pw-that-must-not-show"


def _one_line_without_the_password(result: subprocess.CompletedProcess, command: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tradestream paper {command}: error: cannot use the paper database")
    assert PASSWORD not in result.stderr + result.stdout
    return lines[0]


@pytest.mark.parametrize("command", ["run", "status", "reset-breaker"])
def test_paper_commands_without_a_postgresql_server_print_one_line(tmp_path, command):
    port = closed_bootstrap().rpartition(":")[2]
    url = f"postgresql://trader:{PASSWORD}@127.0.0.1:{port}/paper"
    result = _tradestream(tmp_path, "paper", command, "--db", url)
    line = _one_line_without_the_password(result, command)
    assert f"postgresql://trader:***@127.0.0.1:{port}/paper (Connection refused)" in line
    assert "check that the server runs" in line


@pytest.mark.integration
def test_paper_run_with_a_wrong_postgresql_password_prints_one_line(tmp_path, postgres_server):
    result = _tradestream(
        tmp_path, "paper", "run", "--db", postgres_server.url("paper", password=PASSWORD)
    )
    line = _one_line_without_the_password(result, "run")
    assert 'password authentication failed for user "tradestream"' in line
    assert "check the user name and password" in line


@pytest.mark.integration
def test_paper_status_of_a_missing_postgresql_database_prints_one_line(tmp_path, postgres_server):
    result = _tradestream(tmp_path, "paper", "status", "--db", postgres_server.url("no_such_db"))
    line = _one_line_without_the_password(result, "status")
    assert 'database "no_such_db" does not exist' in line and "create the database" in line


@pytest.mark.integration
def test_paper_run_on_a_postgresql_database_another_executor_holds_exits_1(
    tmp_path, postgres_server
):
    from tradestream.ledger.store import PaperStore

    url = postgres_server.new_database()
    holder = PaperStore(url)
    holder.lock()
    try:
        result = _tradestream(tmp_path, "paper", "run", "--db", url, "--bootstrap_servers", "x:1")
    finally:
        holder.close()
    assert result.returncode == 1, result.stderr
    assert "another paper executor is running on postgresql://tradestream:***@" in result.stderr
    assert postgres_server.password not in result.stderr
