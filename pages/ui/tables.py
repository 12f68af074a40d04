"""Small result tables as static HTML: a real ``<table>``, with bars drawn by CSS.

The Playground redraws its tables on every slider step. ``st.dataframe`` mounts a canvas
data grid with a toolbar for each one, which the browser pays for on every change (on a
2-core server that also runs the probe, that is time the person waits); a static table of
five or thirty rows needs none of it (bench/bench_ui_latency.py). The same numbers are in
the CSV downloads, for sorting or further work.

Built once per probe as a string (see :mod:`.playground_view`), so a rerun that finds the
page model sends the string as it is.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Column", "html_table"]

Kind = Literal["text", "number", "bar"]

# Colours that read on Streamlit's light and dark themes alike (the text colour is the
# theme's own): a translucent grey for rules and the theme's default primary red for bars.
_RULE = "rgba(128, 128, 128, 0.25)"
_BAR = "rgba(255, 75, 75, 0.6)"
_TABLE_STYLE = (
    "width:100%;border-collapse:collapse;font-size:0.875rem;"
    "font-variant-numeric:tabular-nums;line-height:1.6"
)
_CELL_STYLE = f"padding:0.25rem 0.5rem;border-bottom:1px solid {_RULE}"


@dataclass(frozen=True)
class Column:
    """One column: the row field ``key`` shown under ``label``.

    ``kind``: ``text`` as is; ``number`` with ``fmt``; ``bar``, a number with a bar behind
    it whose length is the value over the table's ``bar_max``. ``help`` becomes the
    header's tooltip.
    """

    key: str
    label: str
    kind: Kind = "text"
    fmt: str = "{:.3f}"
    help: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("text", "number", "bar"):
            raise ValueError(
                f"Column {self.key!r}: kind must be text, number or bar, got {self.kind!r}"
            )


def _header(col: Column) -> str:
    align = "left" if col.kind == "text" else "right"
    title = f' title="{html.escape(col.help)}"' if col.help else ""
    return (
        f'<th scope="col"{title} style="{_CELL_STYLE};text-align:{align};'
        f'font-weight:600">{html.escape(col.label)}</th>'
    )


def _cell(col: Column, value: Any, bar_max: float) -> str:
    if col.kind == "text":
        return f'<td style="{_CELL_STYLE}">{html.escape(str(value))}</td>'
    text = html.escape(col.fmt.format(value))
    style = f"{_CELL_STYLE};text-align:right"
    if col.kind == "bar":
        share = 100.0 * min(max(float(value) / bar_max, 0.0), 1.0) if bar_max > 0 else 0.0
        # A thin bar along the cell's foot, so the number above it stays legible.
        style += (
            f";background:linear-gradient(90deg, {_BAR} {share:.1f}%, "
            f"transparent {share:.1f}%) left 0 bottom 0.2rem / 100% 0.3rem no-repeat"
        )
    return f'<td style="{style}">{text}</td>'


def html_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[Column],
    *,
    bar_max: float = 1.0,
    max_height_px: int | None = None,
) -> str:
    """``rows`` as an HTML table of ``columns`` (every text escaped).

    Args:
        rows: one mapping per row, holding every column's ``key``.
        columns: what to show, in order.
        bar_max: the value a full-width bar stands for (one scale for every bar column).
        max_height_px: scroll the table inside a box this tall, if given.

    Raises:
        ValueError: no columns, a row without a column's key, or a negative height.
    """
    if not columns:
        raise ValueError("html_table needs at least one column")
    if max_height_px is not None and max_height_px <= 0:
        raise ValueError(f"max_height_px must be positive, got {max_height_px}")
    for i, row in enumerate(rows):
        missing = [c.key for c in columns if c.key not in row]
        if missing:
            raise ValueError(f"row {i} has no value for column(s) {missing}")
    head = "".join(_header(c) for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(c, row[c.key], bar_max) for c in columns) + "</tr>" for row in rows
    )
    table = (
        f'<table style="{_TABLE_STYLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    )
    if max_height_px is None:
        return table
    return f'<div style="max-height:{max_height_px}px;overflow-y:auto">{table}</div>'
