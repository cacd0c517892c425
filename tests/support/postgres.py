"""A real PostgreSQL server for the tests, and a fresh database per test on it.

The server is Debian's `postgresql` (found, or installed with apt-get, by
scripts/ensure_postgres.sh), started with `initdb`/`pg_ctl` by `tradestream.local.postgres`
on a free port in a temporary folder, once per session, and stopped at the end. Run as root,
the server runs as the `postgres` user (PostgreSQL refuses root), so its folder is made
directly under the system's temp dir, where that user can reach it.

Use it from a conftest.py: `from tests.support.postgres import db_url, postgres_server`.
`db_url` is parametrized over both backends the paper executor supports: a SQLite file and,
marked integration, a new database on the session's server.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.kafka import free_port
from tradestream.local import postgres

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PostgresServer:
    """The session's server and the superuser's password."""

    info: postgres.ServerInfo
    password: str

    def url(self, database: str, password: str | None = None) -> str:
        return self.info.url(database, self.password if password is None else password)

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        postgres.create_database(self.url("postgres"), name)
        return self.url(name)


def bin_dir() -> Path:
    """PostgreSQL's binaries; fails the test (never skips) with the reason when there are none."""
    found = subprocess.run(
        ["bash", str(REPO / "scripts" / "ensure_postgres.sh")], capture_output=True, text=True
    )
    if found.returncode != 0:
        pytest.fail(f"PostgreSQL is not available:\n{found.stderr}")
    return Path(found.stdout.strip())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the session (SCRAM password auth, fsync off)."""
    root = Path(tempfile.mkdtemp(prefix="tradestream-postgres-"))
    password = secrets.token_urlsafe(16)
    binaries = bin_dir()
    info = postgres.up(root, free_port(), password=password, bin_dir=binaries, durable=False)
    try:
        yield PostgresServer(info, password)
    finally:
        postgres.down(root, binaries)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty paper database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'paper.db'}"
    return request.getfixturevalue("postgres_server").new_database()
