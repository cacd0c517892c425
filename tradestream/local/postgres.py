"""A PostgreSQL server on 127.0.0.1 for the paper executor's state, for local work and tests.

`tradestream local up --postgres` starts one in `<state_dir>/postgres/` (`data/`, `server.log`,
`server.json` with the pid, port, user and database) with a database `paper` for
`tradestream paper run --db postgresql://tradestream@127.0.0.1:5433/paper`; `local down`
stops it. The tests start their own on a free port (tests/support/postgres.py).

The binaries are Debian's `postgresql` package: `initdb`, `pg_ctl` and `postgres` from
`TRADESTREAM_POSTGRES_BIN_DIR` (Settings.postgres_bin_dir), else the newest
`/usr/lib/postgresql/<version>/bin`, else `PATH`.

PostgreSQL refuses to run as root. Run by root, `initdb` and `pg_ctl` (and so the server) run
as the `postgres` user (`nobody` where there is none), which then owns `<state_dir>/postgres/`.

Without a password the server trusts connections from 127.0.0.1, like the local broker's
PLAINTEXT listener: it is for work on one machine, not for a shared host.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tradestream.runtime.errors import LocalRuntimeError

HOST = "127.0.0.1"
DEFAULT_PORT = 5433  # 5432 is where a system PostgreSQL (Debian's main cluster) listens
USER = "tradestream"
DATABASE = "paper"
BIN_DIR_ENV = "TRADESTREAM_POSTGRES_BIN_DIR"
START_TIMEOUT_S = 60
INSTALL_HINT = (
    "install Debian's `postgresql` package (apt-get install postgresql) or set "
    f"{BIN_DIR_ENV} to the folder holding initdb and pg_ctl"
)


@dataclass(frozen=True)
class ServerInfo:
    """A running server this state directory started (kept in server.json)."""

    pid: int
    port: int
    user: str
    database: str
    host: str = HOST

    def url(self, database: str | None = None, password: str | None = None) -> str:
        """The SQLAlchemy URL of `database` (default: the server's own) on this server."""
        auth = f"{self.user}:{password}" if password else self.user
        return f"postgresql://{auth}@{self.host}:{self.port}/{database or self.database}"


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)


def find_bin_dir(configured: Path | None = None) -> Path:
    """The folder of `initdb`, `pg_ctl` and `postgres` (any PostgreSQL version).

    Args:
        configured: Settings.postgres_bin_dir (`TRADESTREAM_POSTGRES_BIN_DIR`), when set.

    Raises:
        LocalRuntimeError: none found; the message says what to install.
    """
    if configured is not None:
        if not (configured / "initdb").is_file():
            raise LocalRuntimeError(f"{BIN_DIR_ENV}={configured} holds no initdb")
        return configured
    # Debian and Ubuntu install each major version side by side; initdb is not on PATH there.
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version)
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise LocalRuntimeError(f"PostgreSQL (initdb, pg_ctl) was not found: {INSTALL_HINT}")


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise LocalRuntimeError(
        "PostgreSQL does not run as root and this machine has neither a `postgres` nor a "
        "`nobody` user to run it as; run as another user"
    )


def _run(
    args: list[str | Path], root: Path, account: pwd.struct_passwd | None, timeout: float
) -> subprocess.CompletedProcess:
    """Runs a PostgreSQL tool as the server's account, in `root` (which that account owns)."""
    kwargs: dict[str, Any] = {}
    if account is not None:
        kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    return subprocess.run(
        [str(a) for a in args],
        cwd=root,  # a folder the account can enter: the tools resolve their working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def _give(path: Path, account: pwd.struct_passwd | None) -> None:
    """Makes `path` the server account's (what the server writes there is its own anyway)."""
    if account is not None:
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _alive(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"postgres" in cmdline


def running_server(root: Path) -> ServerInfo | None:
    """The server started in `root`, if it still runs."""
    info_file = root / "server.json"
    try:
        info = ServerInfo(**json.loads(info_file.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if _alive(info.pid):
        return info
    info_file.unlink(missing_ok=True)  # stale: the server died without `local down`
    return None


def up(
    root: Path,
    port: int = DEFAULT_PORT,
    *,
    password: str | None = None,
    bin_dir: Path | None = None,
    durable: bool = True,
    wait_s: float = START_TIMEOUT_S,
) -> ServerInfo:
    """Starts the server in `root` (creating its cluster the first time) on 127.0.0.1.

    Args:
        root: Folder of the cluster, its log and server.json.
        port: TCP port on 127.0.0.1.
        password: Password of the superuser `tradestream` (SCRAM authentication); None:
            connections from 127.0.0.1 are trusted. Only used when the cluster is created.
        bin_dir: PostgreSQL's binaries (default: `find_bin_dir()`).
        durable: False turns fsync off (tests: a crash of the machine may lose the data).
        wait_s: How long to wait for the server to accept connections.

    Returns:
        The running server; its database `paper` exists.

    Raises:
        LocalRuntimeError: binaries missing, the port taken, or the server failed to start.
    """
    existing = running_server(root)
    if existing:
        print(f"[local] PostgreSQL is already running (pid {existing.pid}) on port {existing.port}")
        return existing
    bin_dir = bin_dir or find_bin_dir()
    account = _server_account()
    data, log = root / "data", root / "server.log"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    _give(root, account)
    if not (data / "PG_VERSION").is_file():
        args: list[str | Path] = [
            bin_dir / "initdb", "-D", data, "-U", USER, "--no-locale", "--encoding=UTF8",
        ]  # fmt: skip
        pwfile = root / "initdb.pw"
        if password is None:
            args += ["--auth-host=trust", "--auth-local=trust"]
        else:
            pwfile.write_text(password + "\n")
            pwfile.chmod(0o600)
            _give(pwfile, account)
            args += ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        if not durable:
            args.append("--no-sync")
        try:
            made = _run(args, root, account, timeout=120)
        finally:
            pwfile.unlink(missing_ok=True)
        if made.returncode != 0:
            hint = ""
            if account is not None:
                hint = (
                    f" (run by root, PostgreSQL runs as the user {account.pw_name}, who must be "
                    f"able to enter every folder above {root}; set TRADESTREAM_STATE_DIR to "
                    "another place if it cannot)"
                )
            raise LocalRuntimeError(
                f"initdb failed in {data}: {(made.stderr or made.stdout).strip()}{hint}"
            )
    print(f"[local] starting PostgreSQL on {HOST}:{port} ...", flush=True)
    options = f"-p {port} -h {HOST} -k ''"  # TCP only: no socket in a system folder
    if not durable:
        options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
    started = _run(
        [bin_dir / "pg_ctl", "start", "-w", "-t", str(int(wait_s)), "-D", data, "-l", log,
         "-o", options],
        root, account, timeout=wait_s + 30,
    )  # fmt: skip
    if started.returncode != 0:
        if "could not bind" in _tail(log) or "Address already in use" in _tail(log):
            raise LocalRuntimeError(
                f"port {port} on {HOST} is already in use by another process; choose another "
                "with `tradestream local up --postgres --postgres_port N`"
            )
        raise LocalRuntimeError(
            f"PostgreSQL did not start ({started.stderr.strip() or started.stdout.strip()}). "
            f"Last log lines ({log}):\n{_tail(log)}"
        )
    pid = int((data / "postmaster.pid").read_text().split()[0])
    info = ServerInfo(pid=pid, port=port, user=USER, database=DATABASE)
    (root / "server.json").write_text(json.dumps(asdict(info)))
    create_database(info.url("postgres", password), DATABASE)
    print(f"[local] PostgreSQL is up (pid {pid}) on {HOST}:{port} (data in {data})", flush=True)
    return info


def create_database(admin_url: str, name: str) -> None:
    """Creates database `name` unless it exists (over `admin_url`, a superuser's URL)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, connect_timeout=10) as conn:
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def down(root: Path, bin_dir: Path | None = None) -> bool:
    """Stops the server of `root` (a fast shutdown). Returns False when none was running."""
    info = running_server(root)
    if info is None:
        return False
    print(f"[local] stopping PostgreSQL (pid {info.pid}) ...", flush=True)
    try:
        pg_ctl = (bin_dir or find_bin_dir()) / "pg_ctl"
        _run([pg_ctl, "stop", "-w", "-m", "fast", "-D", root / "data"],
             root, _server_account(), timeout=90)  # fmt: skip
    except (LocalRuntimeError, subprocess.TimeoutExpired):
        pass  # the binaries are gone, or it hangs: the signals below stop it
    # SIGINT is PostgreSQL's fast shutdown, SIGQUIT its immediate one.
    for sig in (signal.SIGINT, signal.SIGQUIT):
        deadline = time.monotonic() + 15
        while _alive(info.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, sig)
            time.sleep(0.2)
    (root / "server.json").unlink(missing_ok=True)
    print("[local] PostgreSQL stopped")
    return True
