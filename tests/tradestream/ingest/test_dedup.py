"""De-duplication by (symbol, trade_id) in a bounded window, with the monotone-id floor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestream.ingest.dedup import RecentTradeIds


def test_dedup_repeat_within_window_is_duplicate():
    ids = RecentTradeIds(window=3)
    assert [ids.seen("BTC-USD", i) for i in ["1", "2", "1", "3", "2"]] == [
        False,
        False,
        True,
        False,
        True,
    ]


def test_dedup_symbols_are_independent():
    ids = RecentTradeIds(window=3)
    assert not ids.seen("BTC-USD", "1")
    assert not ids.seen("ETH-USD", "1")
    assert ids.seen("ETH-USD", "1")


def test_dedup_numeric_id_older_than_window_is_duplicate():
    ids = RecentTradeIds(window=2)
    for i in ["10", "11", "12", "13"]:
        assert not ids.seen("BTC-USD", i)
    # 10 and 11 left the window; numeric ids at or below the floor are replays.
    assert ids.seen("BTC-USD", "10")
    assert ids.seen("BTC-USD", "11")
    assert not ids.seen("BTC-USD", "14")
    assert len(ids) == 2


def test_dedup_non_numeric_ids_are_exact_within_window_only():
    ids = RecentTradeIds(window=2)
    for i in ["a", "b", "c"]:
        assert not ids.seen("X-Y", i)
    assert ids.seen("X-Y", "c")
    assert not ids.seen("X-Y", "a")  # forgotten: beyond the window, no order to rely on


def test_dedup_window_must_be_positive():
    with pytest.raises(ValueError):
        RecentTradeIds(window=0)


@given(
    st.lists(st.tuples(st.integers(1, 200), st.integers(0, 30)), max_size=200),
    st.integers(1, 50),
)
def test_dedup_reconnect_replays_of_monotone_ids_are_all_dropped(steps, window):
    """A stream of increasing ids where each step may replay up to `back` recent ids (as the
    snapshot after a reconnect does) comes out as each id exactly once, in order."""
    ids = RecentTradeIds(window=window)
    stream: list[int] = []
    last = 0
    for advance, back in steps:
        replay_from = max(1, last - back + 1)  # may reach beyond the window
        stream.extend(range(replay_from, last + 1))  # the replayed tail
        stream.extend(range(last + 1, last + advance + 1))
        last += advance
    out = [i for i in stream if not ids.seen("BTC-USD", str(i))]
    assert out == list(range(1, last + 1))
