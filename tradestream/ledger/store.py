"""The paper executor's database: state, fills, signals and Kafka offsets, via SQLAlchemy.

SQLite (a file, `sqlite:///<state_dir>/paper.db`) is the default; PostgreSQL
(`postgresql://user:password@host:5432/database`, driver psycopg 3) is the other database the
tests run every store and executor test on. Both go through the same portable Core
statements. SQLite runs in WAL mode so the dashboard can read while the executor writes, and
every transaction is a real BEGIN ... COMMIT (pysqlite's legacy mode would let the reads of
one snapshot see two different commits). On PostgreSQL reads run at REPEATABLE READ (one
snapshot for all of a read's statements) and strings are stored as SQLite stores them (no
length limit, NUL characters kept; see `_Str`).

One executor per database: a lock file next to a SQLite file, a session advisory lock on
PostgreSQL (`PaperStore.lock`).

One `save()` is one transaction holding everything a batch of records changed *and* the
Kafka offsets after that batch; the executor commits offsets to Kafka only after it. So the
database is always a state that some prefix of the topics produced, and it says which.

Each offset row also keeps the id of the topic it was read from (Kafka topic ids), so a
restart can tell a stored position of a deleted and recreated topic from a current one (see
`tradestream.kafka_clients.positions`). Databases of schema 1 (no topic ids) are migrated on open;
their ids are unknown until the executor has checked the offsets against the topic.

A file that is not a readable database (damaged, or not SQLite at all), and a PostgreSQL
server that cannot be reached, refuses the login or has no such database, raise
`StoreUnusableError` with one line naming the file (or the URL, without its password) and
what to do.

Tables: account (one row), positions, marks, votes, atr, pending, signals, fills, equity,
events, offsets, meta (schema version, config, control requests).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from tradestream.portfolio.account import Portfolio, Position
from tradestream.portfolio.aggregation import Vote
from tradestream.portfolio.atr import AtrTracker
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import Changes, EngineState, SignalEvent
from tradestream.portfolio.orders import PendingOrder
from tradestream.portfolio.risk import RiskState, status_of

SCHEMA_VERSION = "3"  # 2: offsets.topic_id; 3: positions.exits (take-profit, trailing stop)
metadata = MetaData()
_PG_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


class _Str(TypeDecorator):
    """Text as SQLite keeps it, on PostgreSQL too.

    SQLite neither enforces a VARCHAR's length nor refuses NUL characters; PostgreSQL does
    both, so a long strategy id or a NUL in a signal's reason (protobuf strings may carry one)
    would fail every retry of a batch there. On PostgreSQL the column is unbounded text and
    backslashes and NULs are escaped (reversibly: equal strings stay equal, so lookups by id
    match); other databases store the string as it is.
    """

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(String(self.impl.length))

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name != "postgresql":
            return value
        return value.replace("\\", "\\\\").replace("\x00", "\\0")

    def process_result_value(self, value, dialect):
        if value is None or dialect.name != "postgresql" or "\\" not in value:
            return value
        return _PG_UNESCAPE.sub(lambda m: "\x00" if m.group(1) == "0" else m.group(1), value)


# Counters (signals seen, fills, equity points): SQLite's INTEGER has 64 bits, PostgreSQL's 32.
_Count = BigInteger().with_variant(Integer(), "sqlite")

meta_table = Table(
    "meta", metadata, Column("key", _Str(64), primary_key=True), Column("value", Text)
)
account_table = Table(
    "account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("cash", Float, nullable=False),
    Column("initial_cash", Float, nullable=False),
    Column("realized_pnl", Float, nullable=False),
    Column("fees_paid", Float, nullable=False),
    Column("seq", _Count, nullable=False),
    Column("fill_id", _Count, nullable=False),
    Column("last_equity_seq", _Count, nullable=False),
    Column("last_equity_time_ms", BigInteger, nullable=False),
    Column("risk", Text, nullable=False),
    Column("counters", Text, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)
positions_table = Table(
    "positions",
    metadata,
    Column("symbol", _Str(64), primary_key=True),
    Column("book", _Str(512), primary_key=True),
    Column("qty", Float, nullable=False),
    Column("avg_price", Float, nullable=False),
    Column("opened_ms", BigInteger, nullable=False),
    Column("entry_signal_id", _Str(64), nullable=False),
    Column("stop_price", Float),
    # JSON: take-profit target, trailing distance and best price since the entry (or null)
    Column("exits", Text),
)
marks_table = Table(
    "marks",
    metadata,
    Column("symbol", _Str(64), primary_key=True),
    Column("price", Float, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
)
votes_table = Table(
    "votes",
    metadata,
    Column("symbol", _Str(64), primary_key=True),
    Column("strategy_id", _Str(512), primary_key=True),
    Column("vote", Integer, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("weight", Float, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
)
atr_table = Table(
    "atr",
    metadata,
    Column("symbol", _Str(64), primary_key=True),
    Column("state", Text, nullable=False),
)
pending_table = Table(
    "pending",
    metadata,
    Column("signal_id", _Str(64), primary_key=True),
    Column("symbol", _Str(64), nullable=False),
    Column("seq", _Count, nullable=False),
    Column("event", Text, nullable=False),
)
signals_table = Table(
    "signals",
    metadata,
    Column("signal_id", _Str(64), primary_key=True),
    Column("seq", _Count, nullable=False, unique=True),
    Column("symbol", _Str(64), nullable=False),
    Column("action", _Str(8), nullable=False),
    Column("price", Float, nullable=False),
    Column("candle_start_ms", BigInteger, nullable=False),
    Column("candle_interval_ms", BigInteger, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("strategy_id", _Str(512), nullable=False),
    Column("strategy_type", _Str(128), nullable=False),
    Column("reason", _Str(), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("decision", _Str(256), nullable=False),
    Column("source", _Str(256), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
)
fills_table = Table(
    "fills",
    metadata,
    Column("fill_id", _Count, primary_key=True, autoincrement=False),
    Column("signal_id", _Str(64), nullable=False, index=True),
    Column("time_ms", BigInteger, nullable=False),
    Column("symbol", _Str(64), nullable=False),
    Column("book", _Str(512), nullable=False),
    Column("side", _Str(8), nullable=False),
    Column("qty", Float, nullable=False),
    Column("price", Float, nullable=False),
    Column("fee", Float, nullable=False),
    Column("realized_pnl", Float, nullable=False),
    Column("kind", _Str(16), nullable=False),
    Column("cash_after", Float, nullable=False),
)
equity_table = Table(
    "equity",
    metadata,
    Column("seq", _Count, primary_key=True, autoincrement=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("equity", Float, nullable=False),
    Column("cash", Float, nullable=False),
    Column("exposure", Float, nullable=False),
    Column("drawdown", Float, nullable=False),
)
events_table = Table(
    "events",
    metadata,
    Column("id", _Count, primary_key=True, autoincrement=True),
    Column("time_ms", BigInteger, nullable=False),
    Column("kind", _Str(32), nullable=False),
    Column("message", _Str(), nullable=False),
    Column("recorded_ms", BigInteger, nullable=False),
)
offsets_table = Table(
    "offsets",
    metadata,
    Column("topic", _Str(255), primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("topic_id", _Str(64)),  # None: stored before topic ids were kept (schema 1)
)


def _exits_json(position: Position) -> str | None:
    """The positions table's `exits`: what a position holds beyond its stop (None: nothing)."""
    exits = {
        "target_price": position.target_price,
        "trail_distance": position.trail_distance,
        "extreme": position.extreme,
    }
    return json.dumps(exits) if any(v is not None for v in exits.values()) else None


def _now_ms() -> int:
    return int(time.time() * 1000)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def open_engine(url: str, readonly: bool = False) -> Engine:
    """A SQLAlchemy engine.

    SQLite gets WAL, a busy timeout and real transactions. PostgreSQL gets a connect timeout
    (10 s unless the URL sets one), READ COMMITTED for writes (one transaction per batch is
    atomic at any level, and the executor is the only writer) and, when read-only,
    transactions PostgreSQL itself keeps from writing.
    """
    path = sqlite_path(url)
    if path is not None and not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
        options = {"postgresql_readonly": True} if readonly else {}
        return create_engine(
            url,
            connect_args=connect_args,
            isolation_level="READ COMMITTED",
            execution_options=options,
        )
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record) -> None:
            dbapi_conn.isolation_level = None  # BEGIN is emitted below, for every transaction
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA busy_timeout = 10000")
            if not readonly:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:
            conn.exec_driver_sql("BEGIN")

    return engine


class StoreLockedError(RuntimeError):
    """Another executor owns this database."""


class StoreUnusableError(RuntimeError):
    """The database cannot be used: a damaged file, not SQLite, no access, another schema,
    or a PostgreSQL server that cannot be reached, refuses the login or lacks the database."""


def display_name(url: str) -> str:
    """The file of a SQLite URL, else the URL without its password (for messages)."""
    path = sqlite_path(url)
    return str(path) if path is not None else make_url(url).render_as_string(hide_password=True)


def missing_table(exc: DBAPIError) -> bool:
    """True when `exc` says a table does not exist (a database no executor has written yet)."""
    return "no such table" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "42P01"


def _server_advice(cause: str) -> str:
    """What to do about a PostgreSQL server error (psycopg's text: `... failed: CAUSE`)."""
    if "password authentication failed" in cause or (
        "role " in cause and "does not exist" in cause
    ):
        return "check the user name and password in the URL"
    if "database " in cause and "does not exist" in cause:
        return "create the database (CREATE DATABASE, or `createdb`) or fix its name in the URL"
    if "no pg_hba.conf entry" in cause:
        return "the server does not accept this user from this host (its pg_hba.conf)"
    return "check that the server runs and the host and port in the URL"


def unusable(url: str, exc: DBAPIError) -> StoreUnusableError:
    """A one-line error for a database error that no retry will fix.

    SQLite reports a file that is not a database, or a damaged one, as a DatabaseError
    ("file is not a database", "database disk image is malformed") on the first statement
    that reads it; access problems are OperationalErrors ("unable to open database file").
    PostgreSQL's connection errors (no server, a wrong password, no such database) are
    OperationalErrors of several lines; their cause is the last `failed: ` part of the first.
    The URL is shown without its password.
    """
    name = display_name(url)
    cause = str(exc.orig).strip() or type(exc.orig).__name__
    if sqlite_path(url) is None and make_url(url).get_backend_name() == "postgresql":
        cause = cause.splitlines()[0].rpartition("failed: ")[2].replace("FATAL:  ", "").strip()
        if isinstance(exc, OperationalError):
            advice = _server_advice(cause)
        else:
            advice = "the database is not one the paper executor wrote; use another database"
    elif isinstance(exc, OperationalError):
        advice = "check that the path exists and is readable and writable"
    else:
        advice = (
            "the file is damaged or not a SQLite database: move it aside (a new portfolio "
            "then starts from the signals topic) or restore a copy"
        )
    return StoreUnusableError(
        f"cannot use the paper database {name} ({cause}): {advice}, or point --db "
        "(TRADESTREAM_PAPER_DB_URL) at another database"
    )


# The advisory lock of an executor on PostgreSQL: (this number, hash of the schema), so that
# executors in separate schemas of one database do not exclude each other.
_PG_LOCK_CLASS = 0x7A5E


class PaperStore:
    """Reads and writes the paper executor's state in one database."""

    def __init__(self, url: str, readonly: bool = False) -> None:
        """Opens (and, unless readonly, creates or migrates) the database at `url`.

        Raises:
            StoreUnusableError: the file is not a readable database of a known schema, or the
                server cannot be used.
        """
        self.url = url
        self.engine = open_engine(url, readonly=readonly)
        # Reads of several tables see one state: SQLite's transactions do; PostgreSQL's
        # READ COMMITTED gives every statement its own snapshot, REPEATABLE READ one for all.
        self._reader = (
            self.engine.execution_options(isolation_level="REPEATABLE READ")
            if self.engine.dialect.name == "postgresql"
            else self.engine
        )
        self._lock_fd: int | None = None
        self._lock_conn: Connection | None = None
        try:
            if readonly:
                # Nothing is created; read the schema now so that a damaged file is
                # reported here rather than by whichever query comes first.
                with self.engine.begin() as conn:
                    conn.execute(select(func.count()).select_from(meta_table)).close()
            else:
                self._create_or_migrate()
        except DBAPIError as exc:
            if readonly and missing_table(exc):
                return  # an empty database: snapshot() reports it as not ready
            self.engine.dispose()
            raise unusable(url, exc) from None
        except StoreUnusableError:
            self.engine.dispose()
            raise

    def _read(self):
        """A transaction for reading (one consistent state)."""
        return self._reader.begin()

    def _create_or_migrate(self) -> None:
        metadata.create_all(self.engine)  # only the missing tables; existing ones stay
        with self.engine.begin() as conn:
            version = conn.scalar(select(meta_table.c.value).where(meta_table.c.key == "schema"))
            if version is None:
                conn.execute(insert(meta_table).values(key="schema", value=SCHEMA_VERSION))
            elif version in ("1", "2"):
                if version == "1":
                    # Offsets without topic ids: unknown, checked against the topic's range.
                    conn.exec_driver_sql("ALTER TABLE offsets ADD COLUMN topic_id VARCHAR(64)")
                # Positions of schema 2 have no take-profit or trailing stop: null.
                conn.exec_driver_sql("ALTER TABLE positions ADD COLUMN exits TEXT")
                conn.execute(
                    update(meta_table)
                    .where(meta_table.c.key == "schema")
                    .values(value=SCHEMA_VERSION)
                )
            elif version != SCHEMA_VERSION:
                raise StoreUnusableError(
                    f"the paper database {display_name(self.url)} has schema {version}; "
                    f"this version of tradestream reads schema {SCHEMA_VERSION}: use the "
                    "tradestream that wrote it, or point --db at another database"
                )

    def close(self) -> None:
        self.unlock()
        self.engine.dispose()

    # --- single writer ----------------------------------------------------------------------

    def lock(self) -> None:
        """Makes this process the only executor of the database, until `unlock()` or exit.

        SQLite: an OS lock on `<file>.lock`. PostgreSQL: a session advisory lock held by a
        connection of its own. Both are released when the process ends, even by SIGKILL (the
        kernel drops the file lock; the server ends the session when its socket closes).
        Other databases: not enforced.

        Raises:
            StoreLockedError: another executor holds it.
        """
        if self._lock_fd is not None or self._lock_conn is not None:
            return
        if self.engine.dialect.name == "postgresql":
            self._lock_postgresql()
            return
        import fcntl

        path = sqlite_path(self.url)
        if path is None:
            return
        fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLockedError(
                f"another paper executor is running on {path} (lock {path}.lock)"
            ) from None
        self._lock_fd = fd

    def _lock_postgresql(self) -> None:
        conn = self.engine.connect()
        try:
            locked = conn.scalar(
                text("SELECT pg_try_advisory_lock(:cls, hashtext(current_schema()))"),
                {"cls": _PG_LOCK_CLASS},
            )
            conn.commit()  # the lock belongs to the session, not to this transaction
        except BaseException:
            conn.close()
            raise
        if not locked:
            conn.close()
            raise StoreLockedError(
                f"another paper executor is running on {display_name(self.url)} "
                f"(PostgreSQL advisory lock {_PG_LOCK_CLASS}, held by its session)"
            )
        self._lock_conn = conn

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self._lock_conn is not None:
            conn, self._lock_conn = self._lock_conn, None
            # Closing returns the connection to the pool, session and lock included: end it.
            with contextlib.suppress(DBAPIError):
                conn.invalidate()
            conn.close()

    # --- loading ------------------------------------------------------------------------

    def stored_config(self) -> PortfolioConfig | None:
        with self._read() as conn:
            stored = conn.scalar(select(meta_table.c.value).where(meta_table.c.key == "config"))
        return PortfolioConfig.model_validate_json(stored) if stored else None

    def require_no_portfolio(self) -> None:
        """For a writer of one whole portfolio (`backtest --portfolio --db`).

        Raises:
            StoreUnusableError: the database already holds a portfolio.
        """
        if self.stored_config() is not None:
            raise StoreUnusableError(
                f"{display_name(self.url)} already holds a portfolio: give a new database "
                "(the backtest writes one portfolio, it does not add to another)"
            )

    def stored_sequencer(self) -> dict | None:
        """The candle mode's stored EventSequencer state (None: never run in candle mode)."""
        with self._read() as conn:
            stored = conn.scalar(select(meta_table.c.value).where(meta_table.c.key == "sequencer"))
        return json.loads(stored) if stored else None

    def load(self, config: PortfolioConfig) -> EngineState | None:
        """The stored engine state (None for a new database)."""
        with self._read() as conn:
            row = conn.execute(select(account_table)).mappings().first()
            if row is None:
                return None
            portfolio = Portfolio(
                cash=row["cash"], realized_pnl=row["realized_pnl"], fees_paid=row["fees_paid"]
            )
            for r in conn.execute(select(marks_table)).mappings():
                portfolio.marks[r["symbol"]] = (r["price"], r["time_ms"])
            for r in conn.execute(select(positions_table)).mappings():
                portfolio.positions[(r["symbol"], r["book"])] = Position(
                    symbol=r["symbol"],
                    book=r["book"],
                    qty=r["qty"],
                    avg_price=r["avg_price"],
                    opened_ms=r["opened_ms"],
                    entry_signal_id=r["entry_signal_id"],
                    stop_price=r["stop_price"],
                    **(json.loads(r["exits"]) if r["exits"] else {}),
                )
            state = EngineState(
                portfolio=portfolio,
                risk=RiskState(**json.loads(row["risk"])),
                seq=row["seq"],
                fill_id=row["fill_id"],
                last_equity_seq=row["last_equity_seq"],
                last_equity_time_ms=row["last_equity_time_ms"],
                counters=json.loads(row["counters"]),
            )
            for r in conn.execute(select(votes_table)).mappings():
                state.votes.cast(
                    r["symbol"],
                    r["strategy_id"],
                    Vote(r["vote"], r["confidence"], r["weight"], r["time_ms"]),
                )
            for r in conn.execute(select(atr_table)).mappings():
                state.atr[r["symbol"]] = AtrTracker.from_json(json.loads(r["state"]))
            for r in conn.execute(select(pending_table).order_by(pending_table.c.seq)).mappings():
                ev = SignalEvent(**json.loads(r["event"]))
                state.pending.setdefault(r["symbol"], []).append((r["seq"], ev))
            orders = conn.scalar(select(meta_table.c.value).where(meta_table.c.key == "orders"))
            for data in json.loads(orders) if orders else []:
                order = PendingOrder(**data)
                state.orders[(order.symbol, order.book)] = order
        return state

    def offsets(self) -> dict[tuple[str, int], int]:
        """{(topic, partition): next offset to read} as of the last save."""
        with self._read() as conn:
            rows = conn.execute(select(offsets_table)).all()
        return {(r.topic, r.partition): r.next_offset for r in rows}

    def topic_ids(self) -> dict[str, str | None]:
        """{topic: id of the topic its stored offsets were read from} (None: not known)."""
        with self._read() as conn:
            rows = conn.execute(select(offsets_table.c.topic, offsets_table.c.topic_id)).all()
        ids: dict[str, str | None] = {}
        for topic, topic_id in rows:
            ids[topic] = ids.get(topic) or topic_id
        return ids

    def set_topic_offsets(
        self, topic: str, topic_id: str | None, offsets: Mapping[int, int]
    ) -> None:
        """Replaces every stored offset of `topic` by `offsets` (partition -> next offset),
        read from the topic with id `topic_id`, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(delete(offsets_table).where(offsets_table.c.topic == topic))
            rows = [
                {"topic": topic, "partition": p, "next_offset": o, "topic_id": topic_id}
                for p, o in sorted(offsets.items())
            ]
            if rows:
                conn.execute(insert(offsets_table), rows)

    def known_ids(self, ids: Iterable[str]) -> set[str]:
        """The ids among `ids` that were already processed."""
        ids = list(dict.fromkeys(ids))
        found: set[str] = set()
        with self._read() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                found.update(
                    conn.scalars(
                        select(signals_table.c.signal_id).where(
                            signals_table.c.signal_id.in_(chunk)
                        )
                    )
                )
        return found

    # --- control requests (from `tradestream paper reset-breaker`) -------------------------

    def request(self, name: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(meta_table).where(meta_table.c.key == f"request:{name}"))
            conn.execute(insert(meta_table).values(key=f"request:{name}", value=str(_now_ms())))

    def requested(self, name: str) -> bool:
        with self._read() as conn:
            key = f"request:{name}"
            return (
                conn.scalar(select(meta_table.c.value).where(meta_table.c.key == key)) is not None
            )

    # --- saving -------------------------------------------------------------------------

    def save(
        self,
        state: EngineState,
        changes: Changes,
        offsets: dict[tuple[str, int], int],
        config: PortfolioConfig,
        done_requests: Iterable[str] = (),
        topic_ids: Mapping[str, str | None] | None = None,
        sequencer: Mapping[str, Any] | None = None,
    ) -> None:
        """Writes a batch's changes, the resulting state and the offsets in one transaction.

        `topic_ids` (topic -> Kafka topic id) are stored with the offsets of each topic;
        `sequencer` (`EventSequencer.to_json()`, candle mode) with them, since the records
        it still holds are before the stored offsets.
        """
        topic_ids = topic_ids or {}
        pf = state.portfolio
        now = _now_ms()
        with self.engine.begin() as conn:
            account = {
                "cash": pf.cash,
                "initial_cash": config.initial_cash,
                "realized_pnl": pf.realized_pnl,
                "fees_paid": pf.fees_paid,
                "seq": state.seq,
                "fill_id": state.fill_id,
                "last_equity_seq": state.last_equity_seq,
                "last_equity_time_ms": state.last_equity_time_ms,
                "risk": json.dumps(state.risk.to_json()),
                "counters": json.dumps(state.counters, sort_keys=True),
                "updated_ms": now,
            }
            if conn.execute(update(account_table).values(**account)).rowcount == 0:
                conn.execute(insert(account_table).values(id=1, **account))
            conn.execute(delete(meta_table).where(meta_table.c.key == "config"))
            conn.execute(insert(meta_table).values(key="config", value=config.model_dump_json()))
            if sequencer is not None:
                conn.execute(delete(meta_table).where(meta_table.c.key == "sequencer"))
                conn.execute(
                    insert(meta_table).values(key="sequencer", value=json.dumps(sequencer))
                )
            for name in done_requests:
                conn.execute(delete(meta_table).where(meta_table.c.key == f"request:{name}"))
            conn.execute(delete(positions_table))
            rows = [
                {
                    "symbol": p.symbol,
                    "book": p.book,
                    "qty": p.qty,
                    "avg_price": p.avg_price,
                    "opened_ms": p.opened_ms,
                    "entry_signal_id": p.entry_signal_id,
                    "stop_price": p.stop_price,
                    "exits": _exits_json(p),
                }
                for p in pf.positions.values()
            ]
            conn.execute(delete(meta_table).where(meta_table.c.key == "orders"))
            if state.orders:
                orders = [o.to_json() for _, o in sorted(state.orders.items())]
                conn.execute(insert(meta_table).values(key="orders", value=json.dumps(orders)))
            if rows:
                conn.execute(insert(positions_table), rows)
            self._replace(
                conn,
                marks_table,
                [marks_table.c.symbol],
                [
                    {"symbol": s, "price": pf.marks[s][0], "time_ms": pf.marks[s][1]}
                    for s in sorted(changes.marks)
                ],
            )
            vote_rows = []
            for symbol, strategy_id in sorted(changes.votes):
                v = state.votes.votes[symbol][strategy_id]
                vote_rows.append({"symbol": symbol, "strategy_id": strategy_id, **v.to_json()})
            self._replace(
                conn, votes_table, [votes_table.c.symbol, votes_table.c.strategy_id], vote_rows
            )
            self._replace(
                conn,
                atr_table,
                [atr_table.c.symbol],
                [
                    {"symbol": s, "state": json.dumps(state.atr[s].to_json())}
                    for s in sorted(changes.atr)
                ],
            )
            if changes.pending_removed:
                conn.execute(
                    delete(pending_table).where(
                        pending_table.c.signal_id.in_(sorted(changes.pending_removed))
                    )
                )
            if changes.pending_added:
                conn.execute(
                    insert(pending_table),
                    [
                        {
                            "signal_id": sid,
                            "symbol": ev.symbol,
                            "seq": seq,
                            "event": json.dumps(ev.to_json()),
                        }
                        for sid, (seq, ev) in changes.pending_added.items()
                    ],
                )
            new_rows = []
            for sid, rec in changes.signals.items():
                if sid in changes.new_signal_ids:
                    ev = rec.event
                    new_rows.append(
                        {
                            "signal_id": sid,
                            "seq": rec.seq,
                            "symbol": ev.symbol,
                            "action": ev.action,
                            "price": ev.price,
                            "candle_start_ms": ev.candle_start_ms,
                            "candle_interval_ms": ev.candle_interval_ms,
                            "time_ms": ev.time_ms,
                            "strategy_id": ev.strategy_id,
                            "strategy_type": ev.strategy_type,
                            "reason": ev.reason,
                            "confidence": ev.confidence,
                            "decision": rec.decision[:256],
                            "source": rec.source[:256],
                            "received_ms": rec.received_ms,
                        }
                    )
                else:
                    conn.execute(
                        update(signals_table)
                        .where(signals_table.c.signal_id == sid)
                        .values(decision=rec.decision[:256])
                    )
            if new_rows:
                conn.execute(insert(signals_table), new_rows)
            if changes.fills:
                conn.execute(insert(fills_table), [f.to_json() for f in changes.fills])
            stale = sorted(changes.equity)
            if stale:
                conn.execute(delete(equity_table).where(equity_table.c.seq.in_(stale)))
            if changes.equity:
                conn.execute(
                    insert(equity_table),
                    [asdict(p) for p in changes.equity.values()],
                )
            if changes.events:
                conn.execute(
                    insert(events_table),
                    [
                        {
                            "time_ms": e.time_ms,
                            "kind": e.kind,
                            "message": e.message,
                            "recorded_ms": now,
                        }
                        for e in changes.events
                    ],
                )
            self._replace(
                conn,
                offsets_table,
                [offsets_table.c.topic, offsets_table.c.partition],
                [
                    {"topic": t, "partition": p, "next_offset": o, "topic_id": topic_ids.get(t)}
                    for (t, p), o in sorted(offsets.items())
                ],
            )

    @staticmethod
    def _replace(conn, table: Table, keys: list[Column], rows: list[dict[str, Any]]) -> None:
        """Portable upsert: delete the rows with these keys, insert the new ones."""
        for row in rows:
            cond = [k == row[k.name] for k in keys]
            conn.execute(delete(table).where(*cond))
        if rows:
            conn.execute(insert(table), rows)

    # --- reading (status, dashboard, tests) ----------------------------------------------

    def snapshot(self, signals: int = 50, fills: int = 50, equity_points: int = 1000) -> dict:
        """Everything the dashboard shows, read in one transaction (one consistent state).

        `{"ready": False}` until an executor has saved a portfolio.
        """
        try:
            return self._snapshot(signals, fills, equity_points)
        except DBAPIError as exc:
            if missing_table(exc):  # an empty database, opened read-only
                return {"ready": False}
            raise

    def _snapshot(self, signals: int, fills: int, equity_points: int) -> dict:
        with self._read() as conn:
            account = conn.execute(select(account_table)).mappings().first()
            if account is None:
                return {"ready": False}
            marks = {r.symbol: (r.price, r.time_ms) for r in conn.execute(select(marks_table))}
            positions = []
            # Not `exits`: status and the dashboard read databases of older schemas unmigrated.
            shown = [c for c in positions_table.c if c.name != "exits"]
            for r in conn.execute(
                select(*shown).order_by(positions_table.c.symbol, positions_table.c.book)
            ).mappings():
                mark = marks.get(r["symbol"], (r["avg_price"], 0))[0]
                positions.append(
                    {
                        **dict(r),
                        "side": "LONG" if r["qty"] > 0 else "SHORT",
                        "mark": mark,
                        "market_value": r["qty"] * mark,
                        "unrealized_pnl": r["qty"] * (mark - r["avg_price"]),
                    }
                )
            latest = [
                dict(r)
                for r in conn.execute(
                    select(signals_table).order_by(signals_table.c.seq.desc()).limit(signals)
                ).mappings()
            ]
            recent_fills = [
                dict(r)
                for r in conn.execute(
                    select(fills_table).order_by(fills_table.c.fill_id.desc()).limit(fills)
                ).mappings()
            ]
            curve = [
                dict(r)
                for r in conn.execute(
                    select(equity_table).order_by(equity_table.c.seq.desc()).limit(equity_points)
                ).mappings()
            ][::-1]
            events = [
                dict(r)
                for r in conn.execute(
                    select(events_table).order_by(events_table.c.id.desc()).limit(20)
                ).mappings()
            ]
            pending = conn.scalar(select(func.count()).select_from(pending_table))
            config_text = conn.scalar(
                select(meta_table.c.value).where(meta_table.c.key == "config")
            )
            reset_requested = conn.scalar(
                select(meta_table.c.value).where(meta_table.c.key == "request:reset_breaker")
            )
            # Named columns: a schema-1 database (no topic_id) opened read-only reads too.
            offsets = [
                dict(r)
                for r in conn.execute(
                    select(
                        offsets_table.c.topic,
                        offsets_table.c.partition,
                        offsets_table.c.next_offset,
                    )
                ).mappings()
            ]
        config = json.loads(config_text) if config_text else {}
        risk_state = RiskState(**json.loads(account["risk"]))
        equity = account["cash"] + sum(p["market_value"] for p in positions)
        status = status_of(risk_state, equity)
        initial = account["initial_cash"]
        unrealized = sum(p["unrealized_pnl"] for p in positions)
        return {
            "ready": True,
            "updated_ms": account["updated_ms"],
            "account": {
                "cash": account["cash"],
                "initial_cash": initial,
                "equity": equity,
                "pnl": equity - initial,
                "return": equity / initial - 1.0 if initial else 0.0,
                "realized_pnl": account["realized_pnl"],
                "unrealized_pnl": unrealized,
                "fees_paid": account["fees_paid"],
                "signals": account["seq"],
                "fills": account["fill_id"],
                "counters": json.loads(account["counters"]),
                "pending": pending,
            },
            "risk": {
                **status.to_json(),
                "limits": {
                    "daily_loss_limit": config.get("daily_loss_limit"),
                    "weekly_loss_limit": config.get("weekly_loss_limit"),
                    "max_drawdown": config.get("max_drawdown"),
                    "max_open_positions": config.get("max_open_positions"),
                },
                "breaker_reason": risk_state.breaker_reason,
                "reset_requested": reset_requested is not None,
                "open_positions": len(positions),
            },
            "positions": positions,
            "signals": latest,
            "fills": recent_fills,
            "equity": curve,
            "events": events,
            "offsets": offsets,
            "config": config,
        }

    def signal_order(self) -> list[dict]:
        """Every processed signal in processing order (tests and audits)."""
        with self._read() as conn:
            return [
                dict(r)
                for r in conn.execute(
                    select(signals_table).order_by(signals_table.c.seq)
                ).mappings()
            ]

    def all_fills(self) -> list[dict]:
        with self._read() as conn:
            return [
                dict(r)
                for r in conn.execute(
                    select(fills_table).order_by(fills_table.c.fill_id)
                ).mappings()
            ]
