"""The store: state saved in batches and reloaded equals one uninterrupted run.

Every test that takes `db_url` (or `store`) runs twice: on a SQLite file and on a new
database of a real PostgreSQL server (tests/support/postgres.py).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from tests.support.signals import MINUTE, T0, event, random_stream
from tradestream.ledger.store import PaperStore, StoreLockedError, StoreUnusableError
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine, SignalEvent


@pytest.fixture
def store(db_url):
    s = PaperStore(db_url)
    yield s
    s.close()


def _sql(url: str, *statements: str) -> list:
    """Runs statements on the database behind the store's back; the last one's rows."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                result = conn.execute(text(statement))
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def _batched(store: PaperStore, config: PortfolioConfig, items: list, size: int) -> PortfolioEngine:
    """Like the executor: each batch loads the state, applies, saves (a restart per batch)."""
    eng = None
    for i in range(0, len(items), size):
        eng = PortfolioEngine(config, store.load(config))
        chunk = items[i : i + size]
        seen = store.known_ids(x.signal_id for x in chunk if isinstance(x, SignalEvent))
        for x in chunk:
            if isinstance(x, SignalEvent):
                eng.on_signal(x, seen)
            else:
                eng.on_trade(*x)
        store.save(eng.state, eng.take_changes(), {("signals", 0): i + len(chunk)}, config)
    return PortfolioEngine(config, store.load(config))


def test_store_batches_with_reloads_equal_one_in_memory_run(store):
    config = PortfolioConfig(allow_short=True, sizing="risk", stop="pct", max_open_positions=3)
    signals = [SignalEvent.from_proto(s) for s in random_stream(3, 150)]
    stream = signals + signals[:40]  # a replayed tail: duplicates
    reference = PortfolioEngine(config)
    seen: set[str] = set()
    for s in stream:
        reference.on_signal(s, seen)
    reloaded = _batched(store, config, stream, size=7)
    assert reloaded.snapshot() == reference.snapshot()
    assert store.offsets() == {("signals", 0): len(stream)}
    assert len(store.all_fills()) == reference.state.fill_id
    order = store.signal_order()
    assert [r["signal_id"] for r in order] == [s.signal_id for s in signals]


def test_store_keeps_pending_signals_and_atr_across_reloads(store):
    config = PortfolioConfig(sizing="risk", stop="atr", atr_period=2, fee=0.0, max_drawdown=0)
    items: list = []
    for k in range(6):
        items += [("BTC-USD", T0 + k * MINUTE + 1_000, 101.0 + k)]
        items += [("BTC-USD", T0 + k * MINUTE + 2_000, 99.0 + k)]
        if k == 3:
            items.append(event("BUY", 100.0 + k, k))  # arrives while its candle is open
        items += [("BTC-USD", T0 + k * MINUTE + 59_000, 100.0 + k)]
    reference = PortfolioEngine(config)
    seen: set[str] = set()
    for x in items:
        if isinstance(x, SignalEvent):
            reference.on_signal(x, seen)
        else:
            reference.on_trade(*x)
    reloaded = _batched(store, config, items, size=2)
    assert reloaded.snapshot() == reference.snapshot()
    assert reloaded.state.portfolio.positions  # the pending BUY was released and filled
    assert store.signal_order()[0]["decision"] == "filled:entry"


def test_store_snapshot_has_what_the_dashboard_shows(store):
    config = PortfolioConfig(fee=0.0)
    eng = PortfolioEngine(config)
    seen: set[str] = set()
    for e in (event("BUY", 100.0, 0, "A"), event("BUY", 110.0, 1, "B", symbol="ETH-USD")):
        eng.on_signal(e, seen)
    store.save(eng.state, eng.take_changes(), {}, config)
    snap = store.snapshot()
    assert snap["ready"]
    assert snap["account"]["equity"] == pytest.approx(10_000.0)
    assert [p["symbol"] for p in snap["positions"]] == ["BTC-USD", "ETH-USD"]
    assert [s["strategy_id"] for s in snap["signals"]] == ["B", "A"]  # newest first
    assert len(snap["fills"]) == 2 and len(snap["equity"]) == 2
    assert snap["risk"]["halt_reason"] == "" and snap["risk"]["open_positions"] == 2
    assert snap["config"]["fee"] == 0.0


def test_store_lock_allows_one_executor_per_database(db_url):
    a, b = PaperStore(db_url), PaperStore(db_url)
    try:
        a.lock()
        with pytest.raises(StoreLockedError, match="another paper executor is running on"):
            b.lock()
        a.unlock()
        b.lock()
    finally:
        a.close()
        b.close()


_HOLD_THE_LOCK = """
import sys
from tradestream.ledger.store import PaperStore
store = PaperStore(sys.argv[1])
store.lock()
print("locked", flush=True)
sys.stdin.read()
"""


def test_store_lock_of_a_killed_executor_is_released(db_url):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, db_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    store = PaperStore(db_url)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(StoreLockedError):
            store.lock()
        holder.kill()  # SIGKILL: no unlock, no close
        holder.wait(timeout=10)
        # The server ends the dead client's session (and its lock) when the socket closes;
        # that is quick but not synchronous with the kill.
        for _ in range(50):
            try:
                store.lock()
                break
            except StoreLockedError:
                time.sleep(0.1)
        else:
            pytest.fail("the killed process's lock was not released within 5 s")
    finally:
        store.close()
        if holder.poll() is None:
            holder.kill()
        holder.stdout.close()
        holder.stdin.close()


def test_store_control_request_roundtrip(store):
    assert not store.requested("reset_breaker")
    store.request("reset_breaker")
    assert store.requested("reset_breaker")
    config = PortfolioConfig()
    eng = PortfolioEngine(config)
    store.save(eng.state, eng.take_changes(), {}, config, done_requests=["reset_breaker"])
    assert not store.requested("reset_breaker")


def test_store_offsets_keep_the_id_of_the_topic_they_were_read_from(store):
    config = PortfolioConfig()
    eng = PortfolioEngine(config)
    store.save(
        eng.state,
        eng.take_changes(),
        {("signals", 0): 7, ("signals", 1): 9, ("trades", 0): 3},
        config,
        topic_ids={"signals": "id-1"},
    )
    assert store.topic_ids() == {"signals": "id-1", "trades": None}
    # Starting over on a recreated topic replaces all of its offsets, the others stay.
    store.set_topic_offsets("signals", "id-2", {0: 0})
    assert store.offsets() == {("signals", 0): 0, ("trades", 0): 3}
    assert store.topic_ids() == {"signals": "id-2", "trades": None}


def test_store_schema1_database_is_migrated_keeping_its_offsets_with_unknown_topic_ids(db_url):
    config = PortfolioConfig()
    store = PaperStore(db_url)
    eng = PortfolioEngine(config)
    store.save(eng.state, eng.take_changes(), {("signals", 0): 20, ("signals", 1): 50}, config)
    store.close()
    _sql(  # as the schema-1 executor left it
        db_url,
        "ALTER TABLE offsets DROP COLUMN topic_id",
        "ALTER TABLE positions DROP COLUMN exits",
        "UPDATE meta SET value = '1' WHERE key = 'schema'",
    )
    readonly = PaperStore(db_url, readonly=True)  # status and the dashboard read it unmigrated
    try:
        assert len(readonly.snapshot()["offsets"]) == 2
    finally:
        readonly.close()
    store = PaperStore(db_url)
    try:
        assert store.offsets() == {("signals", 0): 20, ("signals", 1): 50}
        assert store.topic_ids() == {"signals": None}
    finally:
        store.close()
    assert _sql(db_url, "SELECT value FROM meta WHERE key = 'schema'") == [("3",)]


def test_store_schema2_positions_are_migrated_and_keep_targets_and_trailing_stops(db_url):
    from tests.support.signals import event

    config = PortfolioConfig(stop="pct", stop_pct=0.05, take_profit_r=2.0, trailing_stop=True,
                             fee=0.0)  # fmt: skip
    store = PaperStore(db_url)
    eng = PortfolioEngine(config)
    eng.on_signal(event("BUY", 100.0, 0), set())  # stop 95, target 110, trailing 5
    store.save(eng.state, eng.take_changes(), {("signals", 0): 1}, config)
    store.close()
    _sql(  # a schema-2 database: positions without `exits`
        db_url,
        "ALTER TABLE positions DROP COLUMN exits",
        "UPDATE meta SET value = '2' WHERE key = 'schema'",
    )
    readonly = PaperStore(db_url, readonly=True)
    try:
        assert [p["stop_price"] for p in readonly.snapshot()["positions"]] == [95.0]
    finally:
        readonly.close()
    store = PaperStore(db_url)
    try:
        state = store.load(config)
        [old] = state.portfolio.positions.values()
        assert (old.stop_price, old.target_price, old.trail_distance) == (95.0, None, None)
        eng = PortfolioEngine(config, state)
        eng.on_signal(event("SELL", 100.0, 1, strategy="S2"), set())
        eng.on_signal(event("BUY", 100.0, 2, strategy="S3"), set())
        store.save(eng.state, eng.take_changes(), {("signals", 0): 3}, config)
        loaded = store.load(config).portfolio.positions[("BTC-USD", "S3")]
        assert (loaded.target_price, loaded.trail_distance, loaded.extreme) == (110.0, 5.0, 100.0)
    finally:
        store.close()
    assert _sql(db_url, "SELECT value FROM meta WHERE key = 'schema'") == [("3",)]


@pytest.mark.parametrize("readonly", [False, True], ids=["writer", "readonly"])
def test_store_on_a_file_that_is_not_a_database_raises_one_line(tmp_path, readonly):
    path = tmp_path / "notes.db"
    path.write_text("not a database\n")
    with pytest.raises(StoreUnusableError) as raised:
        PaperStore(f"sqlite:///{path}", readonly=readonly)
    message = str(raised.value)
    assert "\n" not in message
    assert f"cannot use the paper database {path} (file is not a database)" in message


def test_store_of_an_unknown_schema_is_refused_with_one_line(db_url):
    PaperStore(db_url).close()
    _sql(db_url, "UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(StoreUnusableError, match=r"has schema 99; .* reads schema 3"):
        PaperStore(db_url)


def test_store_readonly_on_an_empty_database_is_not_ready(db_url):
    PaperStore(db_url, readonly=True).close()  # creates nothing (SQLite: an empty file)
    readonly = PaperStore(db_url, readonly=True)
    try:
        assert readonly.snapshot() == {"ready": False}
    finally:
        readonly.close()


def test_store_keeps_long_ids_and_nul_and_backslash_characters(store):
    # SQLite keeps any string; PostgreSQL refuses NUL and would enforce VARCHAR lengths.
    config = PortfolioConfig(fee=0.0)
    eng = PortfolioEngine(config)
    odd = "s" * 600 + "\\0 \x00 \\\\ end"
    ev = event("BUY", 100.0, 0, odd)
    ev = SignalEvent(**{**ev.to_json(), "reason": odd})
    eng.on_signal(ev, set())
    store.save(eng.state, eng.take_changes(), {}, config)
    reloaded = PortfolioEngine(config, store.load(config))
    assert reloaded.snapshot() == eng.snapshot()
    assert [p.book for p in reloaded.state.portfolio.positions.values()] == [odd]
    assert store.signal_order()[0]["reason"] == odd
    assert store.known_ids([ev.signal_id, "other"]) == {ev.signal_id}
