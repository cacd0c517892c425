"""Durations on the command line: units, zero, and the bounds that catch typos."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradestream.market.durations import MAX_DURATION_MS, parse_duration_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [("250ms", 250), ("30s", 30_000), ("1m", 60_000), ("4h", 14_400_000), ("1d", 86_400_000),
     ("1500", 1_500), (" 2 M ", 120_000)],
)  # fmt: skip
def test_durations_parse_each_unit(text, ms):
    assert parse_duration_ms(text) == ms


def test_durations_zero_only_when_allowed_and_no_absurd_lengths():
    assert parse_duration_ms("0s", allow_zero=True) == 0
    with pytest.raises(ValueError, match="> 0"):
        parse_duration_ms("0s")
    with pytest.raises(ValueError, match="ten years"):
        parse_duration_ms("99999999999d")


@given(st.text(max_size=12))
def test_durations_any_text_parses_within_bounds_or_says_why(text):
    try:
        value = parse_duration_ms(text, allow_zero=True)
    except ValueError as exc:
        assert "invalid duration" in str(exc)
    else:
        assert 0 <= value <= MAX_DURATION_MS
