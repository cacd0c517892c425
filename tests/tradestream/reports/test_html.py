"""The reports' drawing helpers: tick values and their text, time ticks, heatmap cell text and
ink, and the colour legend.

Expected values are written out by hand (round clock times, the decimals a person would write,
WCAG contrast figures), not computed with the helpers themselves.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, datetime

import pytest

from tradestream.reports.html import (
    cell_number,
    colour_legend,
    heat_rgb,
    ink_on,
    nice_ticks,
    tick_labels,
    time_ticks,
)

JAN_2 = calendar.timegm((2024, 1, 2, 0, 0, 0)) * 1000  # a Tuesday
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@pytest.mark.parametrize(
    ("ticks", "scale", "suffix", "expected"),
    [
        ([40, 45, 50], 1, "", ["40", "45", "50"]),  # never 45.000
        ([0.6, 0.8, 1.0], 1, "", ["0.6", "0.8", "1.0"]),
        ([0, 0.25, 0.5, 0.75, 1.0], 1, "", ["0.00", "0.25", "0.50", "0.75", "1.00"]),
        ([9_700, 9_800, 9_900, 10_000], 1, "", ["9,700", "9,800", "9,900", "10,000"]),
        ([-0.04, -0.02, 0.0], 100, "%", ["-4%", "-2%", "0%"]),
        ([-0.0075, -0.005, -0.0025, 0.0], 100, "%", ["-0.75%", "-0.50%", "-0.25%", "0.00%"]),
        ([0.1 + 0.2, 0.4, 0.5], 1, "", ["0.3", "0.4", "0.5"]),  # float noise is not a digit
    ],
)
def test_tick_labels_have_the_decimals_of_their_step(ticks, scale, suffix, expected):
    assert tick_labels(ticks, scale, suffix) == expected


def test_tick_labels_of_nice_ticks_are_round_on_every_scale():
    for low, high in ((44.2, 51.7), (0.51, 0.99), (-203.0, 184.0), (9_690.0, 10_031.0)):
        labels = tick_labels(nice_ticks(low, high))
        assert len(labels) >= 3
        assert not all("." in label and label.endswith("0") for label in labels), labels


def _clock(ticks):
    return [
        f"{t // DAY - JAN_2 // DAY}d {t % DAY // HOUR:02d}:{t % HOUR // MINUTE:02d}" for t in ticks
    ]


def test_time_ticks_of_six_hours_fall_on_the_hours():
    ticks, fmt = time_ticks(JAN_2 + 7 * MINUTE, JAN_2 + 6 * HOUR - MINUTE)
    assert _clock(ticks) == ["0d 01:00", "0d 02:00", "0d 03:00", "0d 04:00", "0d 05:00"]
    assert fmt == "%m-%d %H:%M"


def test_time_ticks_of_forty_minutes_fall_on_tens_of_minutes():
    ticks, _ = time_ticks(JAN_2 + 7 * MINUTE, JAN_2 + 47 * MINUTE)
    assert _clock(ticks) == ["0d 00:10", "0d 00:20", "0d 00:30", "0d 00:40"]


def test_time_ticks_of_a_day_fall_every_three_hours_from_midnight():
    ticks, _ = time_ticks(JAN_2 + 13, JAN_2 + DAY - MINUTE)
    assert _clock(ticks) == [f"0d {h:02d}:00" for h in (3, 6, 9, 12, 15, 18, 21)]


def test_time_ticks_of_weeks_fall_on_monday_midnights():
    ticks, fmt = time_ticks(JAN_2, JAN_2 + 40 * DAY)
    days = [datetime.fromtimestamp(t / 1000, UTC).weekday() for t in ticks]
    assert [_ymd(t) for t in ticks] == [
        "2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29", "2024-02-05",
    ]  # fmt: skip
    assert set(days) == {calendar.MONDAY} and fmt == "%Y-%m-%d"


def test_time_ticks_of_years_fall_on_the_first_of_months():
    ticks, fmt = time_ticks(JAN_2, JAN_2 + 3 * 365 * DAY)
    assert [_ymd(t) for t in ticks] == [
        "2024-07-01", "2025-01-01", "2025-07-01", "2026-01-01", "2026-07-01", "2027-01-01",
    ]  # fmt: skip
    assert fmt == "%Y-%m"


def _ymd(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


@pytest.mark.parametrize(
    ("value", "text"),
    [(-200.95, "-201"), (183.987, "184"), (75.1, "75.1"), (6.428, "6.43"), (-0.91, "-0.91"),
     (0.0123, "0.012"), (0.0, "0"), (12_345.0, "12.3k"), (-2_500_000.0, "-2.5M"),
     (math.nan, "–")],
)  # fmt: skip
def test_cell_number_is_at_most_six_characters(value, text):
    assert cell_number(value) == text


@pytest.mark.parametrize(
    ("rgb", "ink"),
    [
        ((255, 255, 255), "#1d2330"),  # white cell (a value of 0 on a diverging scale)
        ((255, 105, 105), "#1d2330"),  # the deepest red: dark text 5.6:1, white only 2.8:1
        ((85, 175, 105), "#1d2330"),  # the deepest green: dark text 5.8:1, white 2.7:1
        ((45, 100, 190), "#fff"),  # the darkest blue: white 5.7:1, dark text 2.8:1
        ((0, 0, 0), "#fff"),
    ],
)
def test_ink_on_a_cell_is_the_colour_with_more_contrast(rgb, ink):
    assert ink_on(rgb) == ink


def test_heat_rgb_diverges_at_zero_and_clamps_outside_the_scale():
    assert heat_rgb(0.0, -2.0, 4.0) == (255, 255, 255)
    assert heat_rgb(-2.0, -2.0, 4.0) == heat_rgb(-9.0, -2.0, 4.0) == (255, 105, 105)
    assert heat_rgb(4.0, -2.0, 4.0) == (85, 175, 105)
    assert heat_rgb(math.nan, -2.0, 4.0) == (217, 219, 227)  # undefined: grey


def test_colour_legend_names_both_ends_and_grey():
    svg = colour_legend((-2.0, 4.0), "highest sharpe", "undefined")
    texts = re.findall(r"<text [^>]*>([^<]*)</text>", svg)
    assert texts == ["-2.000", "0", "4.000 (highest sharpe)", "undefined"]
    assert svg.count("<rect") == 13  # 12 swatches and the grey one
