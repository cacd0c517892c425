"""The paper tests' databases: `db_url` runs a test on SQLite and on a real PostgreSQL."""

from tests.support.postgres import db_url, postgres_server  # noqa: F401 - pytest fixtures
