"""Headline numbers as static HTML: what ``st.metric`` shows, in a fraction of the elements.

The Playground shows five such numbers and redraws them on every slider step. As
``st.metric`` each is an element message, and each row of them a layout block, that the
browser re-renders through Streamlit's component tree; a row of them here is one piece
of static HTML (bench/bench_ui_latency.py). Each number's explanation is its label's
tooltip, as ``st.metric``'s ``help`` is.

Built once per probe as a string (see :mod:`.playground_view`), like :mod:`.tables`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Stat", "stat_row"]

# st.metric's look on both themes: the theme's text colour; the label smaller and muted.
_ROW_STYLE = "display:flex;flex-wrap:wrap;gap:0.5rem 2rem;margin:0.25rem 0 1rem"
_LABEL_STYLE = "font-size:0.875rem;line-height:1.5;opacity:0.75"
_HELPED_LABEL_STYLE = f"{_LABEL_STYLE};cursor:help;text-decoration:underline dotted"
_VALUE_STYLE = "font-size:2.25rem;line-height:1.25;font-variant-numeric:tabular-nums"


@dataclass(frozen=True)
class Stat:
    """One headline number: ``value`` (already formatted) under ``label``; ``help``
    becomes the label's tooltip."""

    label: str
    value: str
    help: str | None = None

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError(f"Stat needs a label, got {self.label!r} (value {self.value!r})")


def _stat(stat: Stat) -> str:
    label = html.escape(stat.label)
    title = f' title="{html.escape(stat.help)}"' if stat.help else ""
    style = _HELPED_LABEL_STYLE if stat.help else _LABEL_STYLE
    # data-stat / data-stat-value: what tests (and a reader's scripts) find numbers by.
    return (
        f'<div data-stat="{label}"><div{title} style="{style}">{label}</div>'
        f'<div data-stat-value style="{_VALUE_STYLE}">{html.escape(stat.value)}</div>'
        "</div>"
    )


def stat_row(stats: Sequence[Stat]) -> str:
    """``stats`` side by side (wrapping on a narrow screen), every text escaped.

    Raises:
        ValueError: no stats, or two with one label (a reader could not tell them apart).
    """
    if not stats:
        raise ValueError("stat_row needs at least one Stat")
    labels = [s.label for s in stats]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"stat_row got repeated labels {repeated}")
    return f'<div style="{_ROW_STYLE}">{"".join(_stat(s) for s in stats)}</div>'
