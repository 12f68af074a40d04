"""Static HTML tables: every text escaped, bars to one scale, clear errors."""

from __future__ import annotations

import re

import pytest

from pages.ui.tables import Column, html_table

COLUMNS = (
    Column("name", "class"),
    Column("p", "probability", "bar", help='share "of" <all>'),
    Column("delta", "change", "number", "{:+.2f}"),
)


def _widths(table: str) -> list[float]:
    return [float(w) for w in re.findall(r"linear-gradient\(90deg, [^)]*\) ([0-9.]+)%", table)]


def test_rows_columns_and_formats() -> None:
    table = html_table(
        [{"name": "cat", "p": 0.5, "delta": 0.25}, {"name": "dog", "p": 0.25, "delta": -0.125}],
        COLUMNS,
        bar_max=0.5,
    )
    assert table.startswith("<table") and table.count("<tr>") == 3
    headers = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', table)
    assert headers == ["class", "probability", "change"]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells == ["cat", "0.500", "+0.25", "dog", "0.250", "-0.12"]


def test_bars_share_one_scale_and_stay_within_the_cell() -> None:
    table = html_table(
        [{"name": "a", "p": v, "delta": 0.0} for v in (0.8, 0.2, 1.6, -1.0)], COLUMNS, bar_max=0.8
    )
    assert _widths(table) == [100.0, 25.0, 100.0, 0.0]
    # No scale (every value 0): empty bars, not a division by zero.
    assert _widths(html_table([{"name": "a", "p": 0.0, "delta": 0.0}], COLUMNS, bar_max=0.0)) == [
        0.0
    ]


def test_every_text_is_escaped() -> None:
    evil = '<img src=x onerror="alert(1)">'
    table = html_table(
        [{"name": evil, "p": 0.1, "delta": 0.0}], (Column("name", evil), *COLUMNS[1:])
    )
    assert "<img" not in table and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in table
    assert 'title="share &quot;of&quot; &lt;all&gt;"' in table


def test_scroll_box_only_when_asked() -> None:
    rows = [{"name": "a", "p": 0.1, "delta": 0.0}]
    assert html_table(rows, COLUMNS).startswith("<table")
    boxed = html_table(rows, COLUMNS, max_height_px=400)
    assert boxed.startswith('<div style="max-height:400px;overflow-y:auto"><table')


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: html_table([], ()), "at least one column"),
        (
            lambda: html_table([{"name": "a"}], COLUMNS),
            r"row 0 has no value for column\(s\) \['p', 'delta'\]",
        ),
        (lambda: html_table([], COLUMNS, max_height_px=0), "max_height_px must be positive, got 0"),
        (
            lambda: Column("x", "x", "chart"),  # type: ignore[arg-type]
            "Column 'x': kind must be text, number or bar, got 'chart'",
        ),
    ],
)
def test_bad_arguments_are_named(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
