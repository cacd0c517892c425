"""`tradestream local up | status | down` against a real broker, as a user runs it."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.support import postgres as pg_support
from tests.support.kafka import free_port, free_port_pair

pytestmark = pytest.mark.integration


def _run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tradestream.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli_env(tmp_path: Path, jvm_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TRADESTREAM_STATE_DIR=str(tmp_path / "state"),
        TRADESTREAM_JVM_CACHE_DIR=str(jvm_dir),
        TRADESTREAM_KAFKA_PORT=str(free_port_pair()),
    )
    return env


def _broker_pid(env: dict[str, str]) -> int:
    return json.loads((Path(env["TRADESTREAM_STATE_DIR"]) / "kafka" / "broker.json").read_text())[
        "pid"
    ]


def test_local_up_status_down_lifecycle(cli_env):
    try:
        up = _run(["local", "up"], cli_env)
        assert up.returncode == 0, up.stderr
        assert "Kafka is up" in up.stdout
        pid = _broker_pid(cli_env)

        status = _run(["local", "status"], cli_env)
        assert status.returncode == 0, status.stdout + status.stderr
        for topic in ("trades", "signals", "trades-dlq"):
            assert f"topic {topic}" in status.stdout
        assert "healthy" in status.stdout

        again = _run(["local", "up"], cli_env)
        assert again.returncode == 0
        assert "already running" in again.stdout
    finally:
        down = _run(["local", "down"], cli_env)
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert not Path(f"/proc/{pid}").exists(), "the broker process is still there"

    status = _run(["local", "status"], cli_env)
    assert status.returncode == 1
    assert "not running" in status.stdout


def test_local_down_when_nothing_runs_says_so(cli_env):
    result = _run(["local", "down"], cli_env)
    assert result.returncode == 0
    assert "not running" in result.stdout
    assert "Traceback" not in result.stderr


def test_local_up_port_taken_gives_clear_error(cli_env):
    port = int(cli_env["TRADESTREAM_KAFKA_PORT"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = _run(["local", "up"], cli_env)
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_local_up_without_java_gives_clear_error(cli_env, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # A PATH with the interpreter but no java, and no JAVA_HOME.
    (bin_dir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in cli_env.items() if k != "JAVA_HOME"}
    env["PATH"] = str(bin_dir)
    result = _run(["local", "up"], env)
    assert result.returncode == 1
    assert "Java was not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_local_up_invalid_port_flag_is_rejected(cli_env):
    result = _run(["local", "up", "--port", "70000"], cli_env)
    assert result.returncode == 2
    assert "--port" in result.stderr and "65535" in result.stderr
    assert "Traceback" not in result.stderr


def test_local_up_with_a_cluster_id_that_starts_with_a_dash(cli_env):
    # One random id in 64 starts with '-': it must not be read as a flag by Kafka's tool.
    cid = ""
    while not cid.startswith("-"):
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    kafka_dir = Path(cli_env["TRADESTREAM_STATE_DIR"]) / "kafka"
    kafka_dir.mkdir(parents=True)
    (kafka_dir / "cluster-id").write_text(cid + "\n")
    try:
        up = _run(["local", "up"], cli_env)
        assert up.returncode == 0, up.stderr
    finally:
        _run(["local", "down"], cli_env)
    assert f"cluster.id={cid}" in (kafka_dir / "data" / "meta.properties").read_text()


def test_local_up_postgres_serves_the_paper_database_until_down(cli_env):
    from tradestream.ledger.store import PaperStore

    # Run by root, the server runs as the `postgres` user, which cannot enter pytest's
    # private tmp_path: the state goes to a folder of its own under the system's temp dir.
    state = Path(tempfile.mkdtemp(prefix="tradestream-local-"))
    state.chmod(0o755)
    port = free_port()
    env = {
        **cli_env,
        "TRADESTREAM_STATE_DIR": str(state),
        "TRADESTREAM_POSTGRES_BIN_DIR": str(pg_support.bin_dir()),
    }
    url = f"postgresql://tradestream@127.0.0.1:{port}/paper"
    try:
        up = _run(["local", "up", "--postgres", "--postgres_port", str(port)], env)
        assert up.returncode == 0, up.stderr
        assert f"tradestream paper run --db {url}" in up.stdout
        pid = json.loads((state / "postgres" / "server.json").read_text())["pid"]
        store = PaperStore(url)
        try:
            store.request("reset_breaker")  # the schema is created, a row written
            assert store.requested("reset_breaker")
        finally:
            store.close()
        status = _run(["local", "status"], env)
        assert f"PostgreSQL: running, pid {pid}, --db {url}" in status.stdout
    finally:
        down = _run(["local", "down"], env)
        shutil.rmtree(state, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    assert "PostgreSQL stopped" in down.stdout
    assert _gone(pid), "the PostgreSQL server is still there"


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """True once `pid` has exited (an exited process lingers until its parent, here init,
    reaps it; that parent is not this test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False
