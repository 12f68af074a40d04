"""Headline numbers as static HTML: labels and values as given, escaped, with tooltips."""

from __future__ import annotations

import pytest

from pages.ui.stat_html import Stat, stat_row
from tests.conftest import html_stats


def test_numbers_read_back_in_order_with_their_tooltips() -> None:
    row = stat_row([Stat("target p", "0.100", "asked for"), Stat("top-1 changed", "no")])
    assert html_stats(row) == {"target p": "0.100", "top-1 changed": "no"}
    assert list(html_stats(row)) == ["target p", "top-1 changed"]
    assert row.count('title="asked for"') == 1  # the help is the label's tooltip
    assert row.count("title=") == 1  # and a number without help has none


def test_every_text_is_escaped() -> None:
    evil = '<img src=x onerror="alert(1)">'
    row = stat_row([Stat(evil, evil, evil)])
    assert "<img" not in row
    assert row.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") == 4
    assert html_stats(row) == {evil: evil}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: stat_row([]), "at least one Stat"),
        (
            lambda: stat_row([Stat("a", "1"), Stat("b", "2"), Stat("a", "3")]),
            r"repeated labels \['a'\]",
        ),
        (lambda: Stat("", "0.5"), "Stat needs a label, got '' \\(value '0.5'\\)"),
    ],
)
def test_bad_arguments_are_named(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=message):
        call()
